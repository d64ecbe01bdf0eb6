// trellis::Error: names, retry advice, JSON form and the exception boundary.
#include "trellis/error.hpp"

#include <boost/json/object.hpp>

#include <array>

namespace trellis {
namespace {

struct KindInfo {
  std::string_view name;
  bool retry_can_help;
};

// Indexed by ErrorKind; the retry advice mirrors the comments in error.hpp.
constexpr std::array<KindInfo, kErrorKindCount> kKinds{{
    {"state", true},
    {"transport", true},
    {"protocol", false},
    {"timeout", true},
    {"cancelled", false},
    {"remote", false},
    {"backpressure", true},
    {"session", true},
    {"policy", false},
    {"config", false},
    {"internal", false},
}};

const KindInfo& info(ErrorKind kind) noexcept {
  const auto index = static_cast<std::size_t>(kind);
  return index < kKinds.size() ? kKinds[index] : kKinds.back();
}

}  // namespace

std::string_view to_string(ErrorKind kind) noexcept { return info(kind).name; }

bool retry_can_help(ErrorKind kind) noexcept { return info(kind).retry_can_help; }

boost::json::value Error::to_json() const {
  boost::json::object out;
  out["kind"] = to_string(kind);
  if (code != 0) out["code"] = code;
  out["message"] = message;
  if (!data.is_null()) out["data"] = data;
  return out;
}

std::string Error::describe() const {
  std::string out{to_string(kind)};
  out += ": ";
  out += message;
  if (code != 0) {
    out += " (code ";
    out += std::to_string(code);
    out += ')';
  }
  return out;
}

Error make_error(ErrorKind kind, std::string message, boost::json::value data, int code) {
  return Error{kind, code, std::move(message), std::move(data)};
}

ErrorException::ErrorException(Error error) : std::runtime_error(error.describe()), error_(std::move(error)) {}

void throw_exception_from_error(const Error& error, const boost::source_location&) { throw ErrorException(error); }

}  // namespace trellis
