// trellis::jsonrpc::Id: which JSON values are ids, and their JSON form, text form and hash.
#include "trellis/jsonrpc.hpp"

#include <boost/json/serialize.hpp>

#include <limits>

namespace trellis::jsonrpc {

void Id::set_unsigned(std::uint64_t value) noexcept {
  // One representation per number, so that defaulted == and the hash compare numbers, not types.
  if (value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    value_ = static_cast<std::int64_t>(value);
  } else {
    value_ = value;
  }
}

std::optional<Id> Id::from_json(const boost::json::value& json) {
  switch (json.kind()) {
    case boost::json::kind::null:
      return Id();
    case boost::json::kind::int64:
      return Id(json.get_int64());
    case boost::json::kind::uint64:
      return Id(json.get_uint64());
    case boost::json::kind::string:
      return Id(std::string_view(json.get_string()));
    case boost::json::kind::double_:
    case boost::json::kind::bool_:
    case boost::json::kind::array:
    case boost::json::kind::object:
      break;
  }
  return std::nullopt;
}

boost::json::value Id::to_json() const {
  return std::visit([](const auto& value) { return boost::json::value(value); }, value_);
}

std::string Id::to_string() const { return boost::json::serialize(to_json()); }

std::size_t hash_value(const Id& id) noexcept {
  // Mix in the alternative so that 1 and "1" (equal as text) land apart.
  const std::size_t alternative = id.value_.index();
  const std::size_t value = std::visit(
      [](const auto& v) -> std::size_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return 0;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return std::hash<std::string_view>{}(v);
        } else {
          return std::hash<T>{}(v);
        }
      },
      id.value_);
  return value ^ (alternative + 0x9e3779b97f4a7c15ULL + (value << 6) + (value >> 2));
}

}  // namespace trellis::jsonrpc
