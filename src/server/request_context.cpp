// Progress, logging and server-to-client requests on behalf of a running handler.
#include "request_context.hpp"

#include <cmath>

namespace trellis {
namespace {

bool has_capability(const ClientInfo& client, std::string_view name) {
  return client.capabilities.if_contains(name) != nullptr;
}

Result<boost::json::object> as_object_result(Result<boost::json::value> answer, std::string_view method) {
  if (!answer) return answer.error();
  if (auto* object = answer->if_object()) return std::move(*object);
  return make_error(ErrorKind::protocol, std::string(method) + ": the client's result is not an object");
}

}  // namespace

Result<boost::json::object> RequestContext::create_message(boost::json::object params) {
  if (!has_capability(client(), "sampling"))
    return make_error(ErrorKind::state, "the client did not declare the sampling capability");
  return as_object_result(send_request("sampling/createMessage", std::move(params)), "sampling/createMessage");
}

Result<boost::json::object> RequestContext::elicit(boost::json::object params) {
  if (!has_capability(client(), "elicitation"))
    return make_error(ErrorKind::state, "the client did not declare the elicitation capability");
  return as_object_result(send_request("elicitation/create", std::move(params)), "elicitation/create");
}

Result<boost::json::array> RequestContext::list_roots() {
  if (!has_capability(client(), "roots")) return make_error(ErrorKind::state, "the client did not declare the roots capability");
  auto answer = as_object_result(send_request("roots/list", {}), "roots/list");
  if (!answer) return answer.error();
  if (auto* roots = answer->if_contains("roots"); roots && roots->is_array()) return std::move(roots->get_array());
  return make_error(ErrorKind::protocol, "roots/list: the client's result has no roots array");
}

namespace server_detail {
namespace {

// Whole numbers go out as integers ("3", not Boost.JSON's "3E0" for doubles).
boost::json::value json_number(double x) {
  if (x == std::floor(x) && std::abs(x) < 9.0e15) return static_cast<std::int64_t>(x);
  return x;
}

}  // namespace

RequestContextImpl::RequestContextImpl(SessionImpl& session, const boost::json::object& params, std::stop_token stop,
                                       std::shared_ptr<Outbound> reply)
    : session_(session), params_(params), stop_(std::move(stop)), reply_(std::move(reply)) {
  if (const auto* meta = params.if_contains("_meta"); meta && meta->is_object()) {
    if (const auto* token = meta->get_object().if_contains("progressToken"); token && (token->is_string() || token->is_number()))
      progress_token_ = token;
  }
}

void RequestContextImpl::report_progress(double progress, std::optional<double> total, std::string_view message) {
  if (progress_token_ == nullptr || stop_.stop_requested()) return;
  boost::json::object params{{"progressToken", *progress_token_}, {"progress", json_number(progress)}};
  if (total) params["total"] = json_number(*total);
  if (!message.empty()) params["message"] = message;
  session_.notify(reply_, "notifications/progress", params);
}

void RequestContextImpl::log(LogLevel level, boost::json::value data, std::string_view logger) {
  if (!session_.log_enabled(level)) return;
  boost::json::object params{{"level", to_string(level)}};
  if (!logger.empty()) params["logger"] = logger;
  params["data"] = std::move(data);
  session_.notify(reply_, "notifications/message", params);
}

Result<boost::json::value> RequestContextImpl::send_request(std::string_view method, boost::json::object params,
                                                            std::chrono::milliseconds timeout) {
  return session_.request_client(reply_, method, std::move(params), timeout, stop_);
}

}  // namespace server_detail
}  // namespace trellis
