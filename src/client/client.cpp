// trellis::Client: blocking and callback calls over the connection actor, typed MCP calls.
#include "connection.hpp"

#include <future>
#include <thread>

namespace trellis {
namespace {

Result<boost::json::object> object_result(Result<boost::json::value> r, std::string_view method) {
  if (!r) return r.error();
  if (auto* o = r->if_object()) return std::move(*o);
  return make_error(ErrorKind::protocol, std::string(method) + ": the result is not an object");
}

Result<void> empty_result(Result<boost::json::value> r) {
  if (!r) return r.error();
  return {};
}

}  // namespace

Result<std::shared_ptr<Client>> Client::connect(TransportFactory factory, ClientOptions options) {
  auto connection = std::make_shared<client_detail::Connection>(std::move(factory), std::move(options));
  std::promise<Result<void>> started;
  auto future = started.get_future();
  connection->start([&started](Result<void> r) { started.set_value(std::move(r)); });
  auto outcome = future.get();
  std::shared_ptr<Client> client(new Client(std::move(connection)));  // no second owner: ~Client waits for the last
  if (!outcome) {
    client->stop();
    return outcome.error();
  }
  return client;
}

Client::Client(std::shared_ptr<client_detail::Connection> connection) : connection_(std::move(connection)) {}

Client::~Client() {
  stop();
  // Handlers still queued on the connection's thread hold references for a moment; let them go
  // so the connection is destroyed here, on the owner's thread.
  for (int i = 0; i < 2000 && connection_.use_count() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Client::stop() {
  if (connection_->on_own_thread()) return;  // from a handler: the destructor's stop() will do it
  std::promise<void> stopped;
  auto future = stopped.get_future();
  connection_->stop([&stopped] { stopped.set_value(); });
  future.wait();
}

void Client::async_request(std::string method, boost::json::object params, CallOptions options,
                           std::function<void(Result<boost::json::value>)> done) {
  connection_->request(std::move(method), std::move(params), std::move(options), std::move(done));
}

Result<boost::json::value> Client::request(std::string method, boost::json::object params, CallOptions options) {
  if (connection_->on_own_thread())
    return make_error(ErrorKind::internal, "a blocking call from the client's own thread would deadlock; use async_request");
  std::promise<Result<boost::json::value>> answered;
  auto future = answered.get_future();
  async_request(std::move(method), std::move(params), std::move(options),
                [&answered](Result<boost::json::value> r) { answered.set_value(std::move(r)); });
  return future.get();
}

Result<void> Client::notify(std::string method, boost::json::object params) {
  return connection_->notify(std::move(method), std::move(params));
}

namespace {

// Follows nextCursor until the last page, concatenating `key`.
Result<boost::json::array> all_pages(Client& client, std::string_view method, std::string_view key, const CallOptions& options) {
  boost::json::array items;
  std::string cursor;
  for (int page = 0; page < 10'000; ++page) {
    boost::json::object params;
    if (!cursor.empty()) params["cursor"] = cursor;
    auto r = object_result(client.request(std::string(method), std::move(params), options), method);
    if (!r) return r.error();
    if (const auto* list = r->if_contains(key); list && list->is_array())
      for (auto& item : list->get_array()) items.push_back(item);
    const auto* next = r->if_contains("nextCursor");
    if (!next || !next->is_string() || next->get_string().empty()) return items;
    cursor = next->get_string();
  }
  return make_error(ErrorKind::protocol, std::string(method) + ": the server kept returning pages (10000)");
}

}  // namespace

Result<boost::json::array> Client::list_tools(CallOptions options) {
  return all_pages(*this, "tools/list", "tools", options);
}
Result<boost::json::array> Client::list_resources(CallOptions options) {
  return all_pages(*this, "resources/list", "resources", options);
}
Result<boost::json::array> Client::list_resource_templates(CallOptions options) {
  return all_pages(*this, "resources/templates/list", "resourceTemplates", options);
}
Result<boost::json::array> Client::list_prompts(CallOptions options) {
  return all_pages(*this, "prompts/list", "prompts", options);
}

Result<boost::json::object> Client::call_tool(std::string_view name, boost::json::object arguments, CallOptions options) {
  return object_result(request("tools/call", {{"name", name}, {"arguments", std::move(arguments)}}, std::move(options)), "tools/call");
}

Result<boost::json::object> Client::read_resource(std::string_view uri, CallOptions options) {
  return object_result(request("resources/read", {{"uri", uri}}, std::move(options)), "resources/read");
}

Result<void> Client::subscribe(std::string_view uri, CallOptions options) {
  return empty_result(request("resources/subscribe", {{"uri", uri}}, std::move(options)));
}

Result<void> Client::unsubscribe(std::string_view uri, CallOptions options) {
  return empty_result(request("resources/unsubscribe", {{"uri", uri}}, std::move(options)));
}

Result<boost::json::object> Client::get_prompt(std::string_view name, boost::json::object arguments, CallOptions options) {
  return object_result(request("prompts/get", {{"name", name}, {"arguments", std::move(arguments)}}, std::move(options)), "prompts/get");
}

Result<boost::json::object> Client::complete(boost::json::object ref, std::string_view argument, std::string_view value,
                                             boost::json::object context_arguments, CallOptions options) {
  boost::json::object params{{"ref", std::move(ref)}, {"argument", {{"name", argument}, {"value", value}}}};
  if (!context_arguments.empty()) params["context"] = {{"arguments", std::move(context_arguments)}};
  auto r = object_result(request("completion/complete", std::move(params), std::move(options)), "completion/complete");
  if (!r) return r.error();
  if (auto* c = r->if_contains("completion"); c && c->is_object()) return std::move(c->get_object());
  return make_error(ErrorKind::protocol, "completion/complete: the result has no completion object");
}

Result<void> Client::set_logging_level(LogLevel level, CallOptions options) {
  return empty_result(request("logging/setLevel", {{"level", to_string(level)}}, std::move(options)));
}

Result<void> Client::ping(CallOptions options) { return empty_result(request("ping", {}, std::move(options))); }

boost::json::object Client::server_info() const { return connection_->server_info(); }
boost::json::object Client::server_capabilities() const { return connection_->server_capabilities(); }
std::string Client::protocol_version() const { return connection_->protocol_version(); }
std::string_view Client::state() const { return connection_->state(); }
ClientStats Client::stats() const { return connection_->stats(); }
boost::json::object Client::debug_state() const { return connection_->debug_state(); }

boost::json::object apply_schema_defaults(const boost::json::object& requested_schema, boost::json::object content) {
  const auto* properties = requested_schema.if_contains("properties");
  if (!properties || !properties->is_object()) return content;
  for (const auto& [name, property] : properties->get_object()) {
    if (!property.is_object() || content.contains(name)) continue;
    if (const auto* fallback = property.get_object().if_contains("default")) content[name] = *fallback;
  }
  return content;
}

}  // namespace trellis
