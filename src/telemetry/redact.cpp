// Redaction of secrets and truncation of long strings before they reach a log line.
#include "trellis/telemetry/log.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <array>

namespace trellis::telemetry {
namespace {

constexpr std::array<std::string_view, 14> kDefaultSecretKeys{
    "token",   "authorization", "password",    "passwd", "passphrase", "secret",      "api_key",
    "apikey",  "access_key",    "private_key", "cookie", "credential", "credentials", "bearer",
};

constexpr bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower_or_digit(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
constexpr bool is_word_char(char c) noexcept {
  // Non-ASCII bytes (>= 0x80) belong to words too.
  return is_upper(c) || is_lower_or_digit(c) || static_cast<unsigned char>(c) >= 0x80;
}
constexpr char ascii_lower(char c) noexcept { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// The last kMaxWords words of a key: split at non-word characters and camelCase humps
// ("XApiKey" -> X, Api, Key; "oauth2Token" -> oauth2, Token).
class LastWords {
 public:
  static constexpr std::size_t kMaxWords = 8;

  explicit LastWords(std::string_view key) noexcept {
    std::size_t start = 0;
    bool in_word = false;
    for (std::size_t i = 0; i < key.size(); ++i) {
      const char c = key[i];
      if (!is_word_char(c)) {
        if (in_word) push(key.substr(start, i - start));
        in_word = false;
        continue;
      }
      if (in_word && is_upper(c)) {
        const char prev = key[i - 1];
        const bool next_lower = i + 1 < key.size() && key[i + 1] >= 'a' && key[i + 1] <= 'z';
        if (is_lower_or_digit(prev) || (is_upper(prev) && next_lower)) {
          push(key.substr(start, i - start));
          start = i;
        }
      }
      if (!in_word) start = i;
      in_word = true;
    }
    if (in_word) push(key.substr(start));
  }

  std::size_t size() const noexcept { return size_ < kMaxWords ? size_ : kMaxWords; }
  // The i-th word counting from the end (0 = last word).
  std::string_view from_end(std::size_t i) const noexcept { return words_[(size_ - 1 - i) % kMaxWords]; }

 private:
  void push(std::string_view word) noexcept { words_[size_++ % kMaxWords] = word; }

  std::array<std::string_view, kMaxWords> words_{};
  std::size_t size_ = 0;
};

bool ends_with_words(const LastWords& key, const LastWords& secret) noexcept {
  if (secret.size() == 0 || secret.size() > key.size()) return false;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    if (!iequals(key.from_end(i), secret.from_end(i))) return false;
  }
  return true;
}

void redact_value(boost::json::value& value, std::span<const std::string_view> secret_keys);

void redact_object(boost::json::object& object, std::span<const std::string_view> secret_keys) {
  for (auto& field : object) {
    if (is_secret_key(field.key(), secret_keys)) {
      field.value() = kRedacted;
    } else {
      redact_value(field.value(), secret_keys);
    }
  }
}

void redact_value(boost::json::value& value, std::span<const std::string_view> secret_keys) {
  if (auto* object = value.if_object()) {
    redact_object(*object, secret_keys);
  } else if (auto* array = value.if_array()) {
    for (auto& element : *array) redact_value(element, secret_keys);
  }
}

void truncate_value(boost::json::value& value, std::size_t max_bytes) {
  if (auto* string = value.if_string()) {
    if (string->size() > max_bytes) *string = truncate_for_log(*string, max_bytes);
  } else if (auto* object = value.if_object()) {
    for (auto& field : *object) truncate_value(field.value(), max_bytes);
  } else if (auto* array = value.if_array()) {
    for (auto& element : *array) truncate_value(element, max_bytes);
  }
}

}  // namespace

std::string redact(std::string_view /*secret*/) { return std::string(kRedacted); }

std::string truncate_for_log(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  // s[cut] is the first byte dropped; if it continues a UTF-8 sequence, drop that whole sequence
  // (a sequence has at most 3 continuation bytes; beyond that the input is not UTF-8 anyway).
  const auto is_continuation = [&](std::size_t i) { return (static_cast<unsigned char>(s[i]) & 0xC0U) == 0x80U; };
  std::size_t cut = max;
  for (int steps = 0; steps < 3 && cut > 0 && is_continuation(cut); ++steps) --cut;
  if (is_continuation(cut)) cut = max;
  std::string out(s.substr(0, cut));
  out += "...[+";
  out += std::to_string(s.size() - cut);
  out += " bytes]";
  return out;
}

std::span<const std::string_view> default_secret_keys() noexcept { return kDefaultSecretKeys; }

bool is_secret_key(std::string_view key, std::span<const std::string_view> secret_keys) noexcept {
  const LastWords key_words(key);
  for (const std::string_view secret : secret_keys) {
    if (ends_with_words(key_words, LastWords(secret))) return true;
  }
  return false;
}

boost::json::object redact_fields(boost::json::object fields, std::span<const std::string_view> secret_keys) {
  redact_object(fields, secret_keys);
  return fields;
}

boost::json::object truncate_fields(boost::json::object fields, std::size_t max_string_bytes) {
  for (auto& field : fields) truncate_value(field.value(), max_string_bytes);
  return fields;
}

}  // namespace trellis::telemetry
