// UriTemplate: parse, expand (the algorithm of RFC 6570 appendix A) and match (a bounded search
// over the parts, see Matcher).
#include "trellis/uri_template.hpp"

#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <unordered_set>

namespace trellis {
namespace {

// Far above what a real template needs (a 64 KiB URI against a handful of expressions costs a
// few hundred thousand), far below what takes noticeable time.
constexpr std::size_t kMaxMatchSteps = std::size_t{1} << 22;

// RFC 6570 appendix A, one row per operator.
struct Operator {
  char op;
  std::string_view first;
  char separator;
  bool named;
  std::string_view if_empty;
  bool allow_reserved;
};

const Operator& operator_for(char op) {
  static constexpr Operator table[] = {
      {'\0', "", ',', false, "", false}, {'+', "", ',', false, "", true},  {'#', "#", ',', false, "", true},
      {'.', ".", '.', false, "", false}, {'/', "/", '/', false, "", false}, {';', ";", ';', true, "", false},
      {'?', "?", '&', true, "=", false}, {'&', "&", '&', true, "=", false},
  };
  for (const auto& entry : table) {
    if (entry.op == op) return entry;
  }
  return table[0];
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool is_reserved(char c) { return std::string_view(":/?#[]@!$&'()*+,;=").find(c) != std::string_view::npos; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

bool is_triplet(std::string_view text, std::size_t i) {
  return i + 2 < text.size() && text[i] == '%' && is_hex(text[i + 1]) && is_hex(text[i + 2]);
}

// Appends `value` with every character outside the allowed set percent-encoded (as UTF-8 bytes).
// With reserved characters allowed, existing %XX triplets pass through unchanged too.
void encode(std::string& out, std::string_view value, bool allow_reserved) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (is_unreserved(c) || (allow_reserved && is_reserved(c))) {
      out += c;
    } else if (allow_reserved && is_triplet(value, i)) {
      out.append(value.substr(i, 3));
      i += 2;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += digits[byte >> 4];
      out += digits[byte & 0xF];
    }
  }
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t min = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

std::size_t code_points(std::string_view text) {
  std::size_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return count;
}

// The first `limit` code points of `text` (a prefix modifier counts characters, not bytes).
std::string_view first_code_points(std::string_view text, std::size_t limit) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && count++ == limit) return text.substr(0, i);
  }
  return text;
}

// The template quoted for an error message: bounded, with control and non-ASCII bytes escaped.
std::string quote_template(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 80; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte >= 0x7F || byte == '"' || byte == '\\') {
      out += "\\x";
      out += digits[byte >> 4];
      out += digits[byte & 0xF];
    } else {
      out += static_cast<char>(byte);
    }
  }
  out += text.size() > 80 ? "...\"" : "\"";
  return out;
}

Error parse_error(std::string_view text, std::size_t offset, std::string what) {
  return make_error(ErrorKind::config,
                    "invalid URI template " + quote_template(text) + ": " + what + " at offset " + std::to_string(offset),
                    boost::json::object{{"offset", offset}});
}

// Parses the varspec list of one expression, `body` being the text between the braces that
// starts at `offset` in the template.
Result<UriTemplate::Part> parse_expression(std::string_view text, std::string_view body, std::size_t offset) {
  UriTemplate::Part part;
  part.op = '\0';
  std::size_t j = 0;
  if (std::string_view("+#./;?&").find(body[0]) != std::string_view::npos) {
    part.op = body[0];
    j = 1;
  } else if (std::string_view("=,!@|").find(body[0]) != std::string_view::npos) {
    return parse_error(text, offset, "operator \"" + std::string(1, body[0]) + "\" is reserved");
  }
  while (true) {
    const std::size_t name_start = j;
    while (j < body.size()) {
      const char c = body[j];
      if (is_alpha(c) || is_digit(c) || c == '_') {
        ++j;
      } else if (is_triplet(body, j)) {
        j += 3;
      } else if (c == '.' && j > name_start && body[j - 1] != '.') {
        ++j;
      } else {
        break;
      }
    }
    if (j == name_start) {
      if (j == body.size()) return parse_error(text, offset + j, "expected a variable name");
      return parse_error(text, offset + j, "invalid character \"" + std::string(1, body[j]) + "\" in a variable name");
    }
    if (body[j - 1] == '.') return parse_error(text, offset + j - 1, "a variable name cannot end with \".\"");
    UriTemplate::VariableSpec spec{std::string(body.substr(name_start, j - name_start))};
    if (j < body.size() && body[j] == ':') {
      const std::size_t digits_start = ++j;
      while (j < body.size() && is_digit(body[j])) ++j;
      const std::size_t length = j - digits_start;
      if (length == 0 || length > 4 || body[digits_start] == '0') {
        return parse_error(text, offset + digits_start, "a prefix length must be a number from 1 to 9999");
      }
      for (std::size_t k = digits_start; k < j; ++k) spec.prefix = spec.prefix * 10 + static_cast<std::size_t>(body[k] - '0');
    } else if (j < body.size() && body[j] == '*') {
      spec.explode = true;
      ++j;
    }
    part.variables.push_back(std::move(spec));
    if (j == body.size()) return part;
    if (body[j] != ',') {
      return parse_error(text, offset + j, "unexpected \"" + std::string(1, body[j]) + "\" in an expression");
    }
    ++j;
  }
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_triplet(text, i)) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    pieces.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return pieces;
    start = end + 1;
  }
}

// Whether the byte at `uri[i]` may be part of what the operator expands to. Lenient: any URI
// character (and any non-ASCII byte, for IRIs) except the delimiters that end the expression.
bool allowed_in(char op, char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte <= 0x20 || byte == 0x7F) return false;
  if (byte >= 0x80) return true;
  if (std::string_view("\"<>\\^`{|}").find(c) != std::string_view::npos) return false;
  switch (op) {
    case '+':
    case '#': return true;
    case '/': return c != '?' && c != '#';
    case '?':
    case '&': return c != '#';
    default: return c != '/' && c != '?' && c != '#';  // simple, '.', ';'
  }
}

// Where the token (one byte, or a %XX triplet) at `uri[i]` ends, or npos if it cannot belong to
// the expression.
std::size_t token_end(std::string_view uri, std::size_t i, char op) {
  if (uri[i] == '%') return is_triplet(uri, i) ? i + 3 : std::string_view::npos;
  return allowed_in(op, uri[i]) ? i + 1 : std::string_view::npos;
}

// Turns the text one expression matched into variables. Returns false if the text cannot be an
// expansion of the expression (wrong leading character, too many values, invalid UTF-8 or a value
// longer than its prefix).
class Capture {
 public:
  // `last`: the expression ends the template, so a named one may skip parameters it does not name
  // (elsewhere skipped text could have belonged to the next expression).
  Capture(const UriTemplate::Part& part, bool last, UriTemplate::Variables& out) : part_(part), last_(last), out_(out) {}

  bool operator()(std::string_view text) {
    const char op = *part_.op;
    if (text.empty()) return op != '\0' && op != '+';
    switch (op) {
      case '\0':
      case '+': return list(text);
      case '#': return text[0] == '#' && list(text.substr(1));
      case '.':
      case '/': return text[0] == op && sequence(text.substr(1), op);
      default: return text[0] == op && named(text.substr(1), op == ';' ? ';' : '&');  // ';', '?', '&'
    }
  }

 private:
  bool add(const UriTemplate::VariableSpec& spec, std::string_view raw) {
    std::string value = percent_decode(raw);
    if (!is_valid_utf8(value) || (spec.prefix != 0 && code_points(value) > spec.prefix)) return false;
    out_.emplace_back(spec.name, std::move(value));
    return true;
  }

  // Values separated by ','; the last variable takes what is left.
  bool list(std::string_view text) {
    const auto& variables = part_.variables;
    const auto pieces = split(text, ',');
    for (std::size_t k = 0; k < variables.size() && k < pieces.size(); ++k) {
      const bool last = k + 1 == variables.size();
      if (!last) {
        if (!add(variables[k], pieces[k])) return false;
      } else if (variables[k].explode) {
        for (std::size_t rest = k; rest < pieces.size(); ++rest) {
          if (!add(variables[k], pieces[rest])) return false;
        }
      } else {
        const std::size_t start = static_cast<std::size_t>(pieces[k].data() - text.data());
        if (!add(variables[k], text.substr(start))) return false;
      }
    }
    return true;
  }

  // {.a,b} / {/a,b}: one value per piece. The last variable takes the remaining pieces: each as
  // an item if exploded; joined if a label ({.var}), since dots are unreserved and values keep
  // theirs; never for a path segment, whose "/" would have been encoded.
  bool sequence(std::string_view text, char separator) {
    const auto& variables = part_.variables;
    const auto pieces = split(text, separator);
    std::size_t next = 0;
    for (std::size_t k = 0; k < variables.size() && next < pieces.size(); ++k) {
      const bool last = k + 1 == variables.size();
      if (last && variables[k].explode) {
        for (; next < pieces.size(); ++next) {
          if (!add(variables[k], pieces[next])) return false;
        }
      } else if (last && separator == '.') {
        if (!add(variables[k], text.substr(static_cast<std::size_t>(pieces[next].data() - text.data())))) return false;
        next = pieces.size();
      } else if (!add(variables[k], pieces[next++])) {
        return false;
      }
    }
    return next == pieces.size();
  }

  // name=value pairs, in any order. At the end of the template anything goes: empty pieces and
  // names the expression does not declare are skipped, a name alone has the empty value.
  // Elsewhere only what expansion writes is accepted (";name" or ";name=value", "?name=value"),
  // since any other text could as well belong to the next expression.
  bool named(std::string_view text, char separator) {
    if (text.empty() && !last_) return false;
    for (const std::string_view piece : split(text, separator)) {
      const std::size_t equals = piece.find('=');
      const std::string_view name = piece.substr(0, equals);
      const std::string_view value = equals == std::string_view::npos ? std::string_view() : piece.substr(equals + 1);
      const bool canonical = separator == ';' ? (equals == std::string_view::npos || !value.empty())
                                              : equals != std::string_view::npos;
      if (!canonical && !last_) return false;
      const auto spec = std::find_if(part_.variables.begin(), part_.variables.end(),
                                     [&](const auto& candidate) { return candidate.name == name; });
      if (spec == part_.variables.end()) {
        if (last_) continue;
        return false;
      }
      const bool seen = std::any_of(out_.begin() + static_cast<std::ptrdiff_t>(start_), out_.end(),
                                    [&](const auto& variable) { return variable.first == name; });
      if (seen && !spec->explode) continue;  // the first occurrence counts
      if (!add(*spec, value)) return false;
    }
    return true;
  }

  const UriTemplate::Part& part_;
  bool last_;
  UriTemplate::Variables& out_;
  std::size_t start_ = out_.size();
};

// Depth-first search over (part, position) with an explicit stack, so neither a long template nor
// a long URI deepens the C++ stack. Expressions try their possible end positions from the
// shortest; a (part, position) pair that failed once is never tried again; the whole search stops
// after kMaxMatchSteps steps.
class Matcher {
 public:
  Matcher(const std::vector<UriTemplate::Part>& parts, const std::vector<std::string>& encoded_literals,
          const std::vector<detail::UriTemplateLookahead>& lookahead, std::string_view uri)
      : parts_(parts), encoded_literals_(encoded_literals), lookahead_(lookahead), uri_(uri) {}

  std::optional<UriTemplate::Variables> run() {
    push(0, 0);
    while (!stack_.empty() && steps_ <= kMaxMatchSteps) {
      ++steps_;
      Frame& frame = stack_.back();
      variables_.resize(frame.variables);
      if (frame.part == parts_.size()) {
        if (frame.position == uri_.size()) return std::move(variables_);
        fail();
        continue;
      }
      const std::optional<std::size_t> next = next_choice(frame);
      if (!next) {
        fail();
      } else if (!failed_.contains(key(frame.part + 1, *next))) {
        push(frame.part + 1, *next);
      }
    }
    return std::nullopt;
  }

 private:
  struct Frame {
    std::size_t part;
    std::size_t position;
    std::size_t variables;  // size of variables_ when the frame started
    std::size_t cursor;     // next candidate end (expressions) or next literal form to try
    std::size_t run_end;    // expressions: where the characters the operator allows end
  };

  static std::uint64_t key(std::size_t part, std::size_t position) {
    return (static_cast<std::uint64_t>(part) << 32) | static_cast<std::uint64_t>(position);
  }

  void push(std::size_t part, std::size_t position) {
    Frame frame{part, position, variables_.size(), position, position};
    if (part < parts_.size() && parts_[part].op) {
      const char op = *parts_[part].op;
      // An operator with a prefix character matches nothing unless the prefix is there.
      const bool prefixed = op != '\0' && op != '+';
      const bool absent = prefixed && (position == uri_.size() || uri_[position] != op);
      frame.run_end = absent ? position : run_ends(op)[position];
    } else {
      frame.cursor = 0;
    }
    stack_.push_back(frame);
  }

  // For each position, where the run of tokens the operator allows from there ends; computed once
  // per operator and match, right to left, so no frame rescans the URI.
  const std::vector<std::uint32_t>& run_ends(char op) {
    static constexpr std::string_view operators("\0+#./;?&", 8);
    std::vector<std::uint32_t>& ends = run_ends_[operators.find(op)];
    if (!ends.empty()) return ends;
    const std::size_t size = uri_.size();
    ends.resize(size + 1);
    ends[size] = static_cast<std::uint32_t>(size);
    for (std::size_t i = size; i-- > 0;) {
      const std::size_t next = token_end(uri_, i, op);
      ends[i] = next == std::string_view::npos ? static_cast<std::uint32_t>(i) : ends[next];
    }
    steps_ += size;
    return ends;
  }

  void fail() {
    failed_.insert(key(stack_.back().part, stack_.back().position));
    stack_.pop_back();
  }

  bool literal_at(std::size_t part, std::size_t position) const {
    const std::string_view rest = uri_.substr(position);
    return rest.starts_with(parts_[part].literal) ||
           (!encoded_literals_[part].empty() && rest.starts_with(encoded_literals_[part]));
  }

  // The end position of the frame's next way to match its part (variables appended), if any.
  std::optional<std::size_t> next_choice(Frame& frame) {
    const UriTemplate::Part& part = parts_[frame.part];
    if (!part.op) {
      const std::string_view rest = uri_.substr(frame.position);
      while (frame.cursor < 2) {
        const std::size_t choice = frame.cursor++;
        const std::string& form = choice == 0 ? part.literal : encoded_literals_[frame.part];
        if (choice == 1 && form.empty()) continue;  // the same as the literal
        if (rest.starts_with(form)) return frame.position + form.size();
      }
      return std::nullopt;
    }
    const bool required = *part.op == '\0' || *part.op == '+';
    const std::size_t following = frame.part + 1;
    const bool at_end = following == parts_.size();
    if (at_end && frame.run_end != uri_.size()) return std::nullopt;
    const detail::UriTemplateLookahead& next = lookahead_[following];
    while (frame.cursor != std::string_view::npos && steps_ <= kMaxMatchSteps) {
      ++steps_;
      const std::size_t end = frame.cursor;
      frame.cursor = end == frame.run_end ? std::string_view::npos : token_end(uri_, end, *part.op);
      if (required && end == frame.position) continue;
      // Only where the rest of the template can start (or end, if it can match nothing).
      if (end == uri_.size() ? !next.nullable : !next.first.test(static_cast<unsigned char>(uri_[end]))) continue;
      if (!at_end && !parts_[following].op && !literal_at(following, end)) continue;
      if (failed_.contains(key(following, end))) continue;
      steps_ += end - frame.position;
      if (Capture(part, at_end, variables_)(uri_.substr(frame.position, end - frame.position))) return end;
      variables_.resize(frame.variables);
    }
    return std::nullopt;
  }

  const std::vector<UriTemplate::Part>& parts_;
  const std::vector<std::string>& encoded_literals_;
  const std::vector<detail::UriTemplateLookahead>& lookahead_;
  std::string_view uri_;
  std::vector<Frame> stack_;
  std::unordered_set<std::uint64_t> failed_;
  std::array<std::vector<std::uint32_t>, 8> run_ends_;  // by operator, see run_ends()
  UriTemplate::Variables variables_;
  std::size_t steps_ = 0;
};

void expand_expression(std::string& out, const UriTemplate::Part& part, const UriTemplate::Values& values) {
  const Operator& op = operator_for(*part.op);
  bool first = true;
  for (const auto& spec : part.variables) {
    const auto found = values.find(spec.name);
    if (found == values.end()) continue;
    const UriTemplate::Value& value = found->second;
    const auto* list = std::get_if<UriTemplate::List>(&value);
    const auto* pairs = std::get_if<UriTemplate::Associative>(&value);
    if ((list != nullptr && list->empty()) || (pairs != nullptr && pairs->empty())) continue;  // undefined
    if (first) {
      out += op.first;
      first = false;
    } else {
      out += op.separator;
    }
    if (const auto* text = std::get_if<std::string>(&value)) {
      if (op.named) {
        out += spec.name;
        if (text->empty()) {
          out += op.if_empty;
          continue;
        }
        out += '=';
      }
      encode(out, spec.prefix != 0 ? first_code_points(*text, spec.prefix) : std::string_view(*text), op.allow_reserved);
      continue;
    }
    // A list or associative array: items joined by ',' unexploded, by the separator exploded.
    const char joiner = spec.explode ? op.separator : ',';
    if (!spec.explode && op.named) {
      out += spec.name;
      out += '=';
    }
    if (list != nullptr) {
      for (std::size_t i = 0; i < list->size(); ++i) {
        if (i > 0) out += joiner;
        const std::string& item = (*list)[i];
        if (spec.explode && op.named) {
          out += spec.name;
          if (item.empty()) {
            out += op.if_empty;
            continue;
          }
          out += '=';
        }
        encode(out, item, op.allow_reserved);
      }
      continue;
    }
    for (std::size_t i = 0; i < pairs->size(); ++i) {
      if (i > 0) out += joiner;
      const auto& [name, item] = (*pairs)[i];
      encode(out, name, op.allow_reserved);
      if (spec.explode) {
        if (op.named && item.empty()) {
          out += op.if_empty;
          continue;
        }
        out += '=';
      } else {
        out += ',';
      }
      encode(out, item, op.allow_reserved);
    }
  }
}

}  // namespace

UriTemplate::UriTemplate(std::string text, std::vector<Part> parts) : text_(std::move(text)), parts_(std::move(parts)) {
  encoded_literals_.reserve(parts_.size());
  for (const Part& part : parts_) {
    std::string encoded;
    if (!part.op) {
      encode(encoded, part.literal, true);
      if (encoded == part.literal) encoded.clear();
    }
    encoded_literals_.push_back(std::move(encoded));
  }
  lookahead_.resize(parts_.size() + 1);
  lookahead_.back().nullable = true;
  for (std::size_t i = parts_.size(); i-- > 0;) {
    const Part& part = parts_[i];
    detail::UriTemplateLookahead& here = lookahead_[i];
    if (!part.op) {
      here.first.set(static_cast<unsigned char>(part.literal.front()));
      if (!encoded_literals_[i].empty()) here.first.set(static_cast<unsigned char>(encoded_literals_[i].front()));
    } else if (*part.op == '\0' || *part.op == '+') {
      for (int byte = 0; byte < 256; ++byte) {
        if (byte == '%' || allowed_in(*part.op, static_cast<char>(byte))) here.first.set(static_cast<std::size_t>(byte));
      }
    } else {
      here = lookahead_[i + 1];
      here.first.set(static_cast<unsigned char>(*part.op));
    }
  }
}

Result<UriTemplate> UriTemplate::parse(std::string_view text) {
  if (text.size() > kMaxTemplateBytes) {
    return parse_error(text, kMaxTemplateBytes,
                       "template of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                           std::to_string(kMaxTemplateBytes) + " bytes");
  }
  std::vector<Part> parts;
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '}') return parse_error(text, i, "\"}\" outside an expression");
    if (c != '{') {
      literal += c;
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) return parse_error(text, i, "unclosed \"{\"");
    if (close == i + 1) return parse_error(text, i, "empty expression");
    auto part = parse_expression(text, text.substr(i + 1, close - i - 1), i + 1);
    if (!part) return part.error();
    if (!literal.empty()) parts.push_back(Part{std::move(literal), std::nullopt, {}});
    literal.clear();
    parts.push_back(std::move(*part));
    i = close + 1;
  }
  if (!literal.empty()) parts.push_back(Part{std::move(literal), std::nullopt, {}});
  return UriTemplate(std::string(text), std::move(parts));
}

std::optional<UriTemplate::Variables> UriTemplate::match(std::string_view uri) const {
  if (uri.size() > kMaxUriBytes) return std::nullopt;
  return Matcher(parts_, encoded_literals_, lookahead_, uri).run();
}

std::string UriTemplate::expand(const Values& values) const {
  std::string out;
  for (const Part& part : parts_) {
    if (part.op) {
      expand_expression(out, part, values);
    } else {
      encode(out, part.literal, true);
    }
  }
  return out;
}

std::string UriTemplate::expand(const Variables& variables) const {
  Values values;
  for (const auto& [name, value] : variables) {
    auto [it, inserted] = values.try_emplace(name, value);
    if (inserted) continue;
    if (auto* text = std::get_if<std::string>(&it->second)) {
      it->second = List{std::move(*text), value};
    } else {
      std::get<List>(it->second).push_back(value);
    }
  }
  return expand(values);
}

std::vector<std::string> UriTemplate::variable_names() const {
  std::vector<std::string> names;
  for (const Part& part : parts_) {
    for (const auto& spec : part.variables) {
      if (std::find(names.begin(), names.end(), spec.name) == names.end()) names.push_back(spec.name);
    }
  }
  return names;
}

}  // namespace trellis
