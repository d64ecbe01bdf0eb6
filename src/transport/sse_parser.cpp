// The event stream interpretation of the WHATWG HTML standard (section 9.2.6), incremental and
// bounded. Lines that arrive whole inside one chunk are processed in place, without copying; only
// a line split across chunks is buffered.
#include "transport/sse_parser.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace trellis::sse {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool all_digits(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The decimal value of `digits`, saturated at the largest millisecond count.
std::chrono::milliseconds parse_retry(std::string_view digits) noexcept {
  using Rep = std::chrono::milliseconds::rep;
  constexpr Rep kMax = std::numeric_limits<Rep>::max();
  Rep value = 0;
  for (const char c : digits) {
    const Rep digit = c - '0';
    if (value > (kMax - digit) / 10) return std::chrono::milliseconds(kMax);
    value = value * 10 + digit;
  }
  return std::chrono::milliseconds(value);
}

// The first CR or LF at or after `pos`, or npos. Two memchr scans, the second bounded by the
// first's hit: string_view::find_first_of tests the pair byte by byte, a call per byte.
std::size_t find_line_end(std::string_view text, std::size_t pos) noexcept {
  const char* begin = text.data() + pos;
  const std::size_t rest = text.size() - pos;
  const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', rest));
  const std::size_t before_lf = lf != nullptr ? static_cast<std::size_t>(lf - begin) : rest;
  if (const auto* cr = static_cast<const char*>(std::memchr(begin, '\r', before_lf))) return pos + static_cast<std::size_t>(cr - begin);
  return lf != nullptr ? pos + before_lf : std::string_view::npos;
}

}  // namespace

Parser::Parser(ParserOptions options, std::string last_event_id)
    : options_(options), id_(last_event_id), last_event_id_(std::move(last_event_id)) {}

Result<void> Parser::feed(std::string_view chunk, std::vector<Event>& events) {
  if (failed_) return size_error();

  // A BOM may itself arrive split across chunks; the bytes matched so far are held back until
  // the stream shows whether they were a BOM or content.
  while (at_start_ && !chunk.empty()) {
    if (chunk.front() == kBom[bom_bytes_seen_]) {
      chunk.remove_prefix(1);
      if (++bom_bytes_seen_ == kBom.size()) at_start_ = false;
      continue;
    }
    at_start_ = false;
    if (bom_bytes_seen_ > 0) {
      // Not a BOM after all: the held bytes are the start of the first line (they contain no
      // line terminator).
      line_.append(kBom.substr(0, bom_bytes_seen_));
    }
  }

  std::size_t pos = 0;
  if (after_cr_ && !chunk.empty()) {
    after_cr_ = false;
    if (chunk.front() == '\n') pos = 1;
  }
  while (pos < chunk.size()) {
    const std::size_t end = find_line_end(chunk, pos);
    const std::string_view piece = chunk.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (over_limit(piece.size())) {
      failed_ = true;
      return size_error();
    }
    if (end == std::string_view::npos) {
      line_.append(piece);
      break;
    }
    if (line_.empty()) {
      process_line(piece, events);
    } else {
      line_.append(piece);
      process_line(line_, events);
      line_.clear();
    }
    if (over_limit(0)) {
      failed_ = true;
      return size_error();
    }
    pos = end + 1;
    if (chunk[end] == '\r') {
      if (pos < chunk.size()) {
        if (chunk[pos] == '\n') ++pos;
      } else {
        after_cr_ = true;
      }
    }
  }
  return {};
}

void Parser::process_line(std::string_view line, std::vector<Event>& events) {
  if (line.empty()) {
    dispatch(events);
    return;
  }
  if (line.front() == ':') {
    ++comment_count_;
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    process_field(line, {});
    return;
  }
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  process_field(line.substr(0, colon), value);
}

void Parser::process_field(std::string_view field, std::string_view value) {
  if (field == "data") {
    if (data_lines_++ > 0) data_.push_back('\n');
    data_.append(value);
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  } else if (field == "retry") {
    if (all_digits(value)) retry_ = parse_retry(value);
  }
  // Any other field is ignored, as the standard says.
}

void Parser::dispatch(std::vector<Event>& events) {
  last_event_id_ = id_;
  if (data_lines_ == 0) {
    type_.clear();
    return;
  }
  events.push_back(Event{std::move(type_), std::move(data_), last_event_id_});
  type_.clear();
  data_.clear();
  data_lines_ = 0;
  ++event_count_;
}

bool Parser::over_limit(std::size_t pending) const noexcept {
  const std::size_t held = line_.size() + data_.size() + type_.size() + id_.size();
  return held > options_.max_event_bytes || pending > options_.max_event_bytes - held;
}

Error Parser::size_error() const {
  return make_error(ErrorKind::protocol,
                    "SSE event exceeds the limit of " + std::to_string(options_.max_event_bytes) + " bytes",
                    boost::json::object{{"limit", options_.max_event_bytes}});
}

}  // namespace trellis::sse
