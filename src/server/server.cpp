// trellis::Server: registration and broadcasts over the shared engine.
#include "core.hpp"
#include "session_impl.hpp"

#include "core/current_exception.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <array>

namespace trellis {
namespace {

constexpr std::array<std::string_view, 8> kLogLevels = {"debug", "info",     "notice", "warning",
                                                        "error", "critical", "alert",  "emergency"};

Error invalid_definition(std::string message) { return make_error(ErrorKind::config, std::move(message)); }

// Runs a coroutine handler to completion on the calling worker, in an io_context of its own.
template <class T>
Result<T> run_to_completion(boost::asio::awaitable<Result<T>> task) {
  boost::asio::io_context io(1);
  auto outcome = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.run();
  return detail::outcome_of([&] { return outcome.get(); });
}

}  // namespace

std::string_view to_string(LogLevel level) noexcept { return kLogLevels[static_cast<std::size_t>(level)]; }

std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kLogLevels.size(); ++i)
    if (kLogLevels[i] == text) return static_cast<LogLevel>(i);
  return std::nullopt;
}

Server::Server(ServerOptions options) : core_(std::make_shared<server_detail::Core>(std::move(options))) {}

Server::~Server() {
  core_->shutdown();
  // Join here, on the owner's thread: the last reference to the engine may otherwise be dropped
  // by a worker, which cannot join its own pool.
  core_->workers().join();
}

const ServerOptions& Server::options() const noexcept { return core_->options(); }

Result<void> Server::add_tool(ToolDefinition definition, ToolHandler handler) {
  using server_detail::ToolEntry;
  if (definition.name.empty()) return invalid_definition("a tool needs a name");
  if (!handler) return invalid_definition("tool " + definition.name + " has no handler");
  auto entry = std::make_shared<ToolEntry>();
  auto input = JsonSchema::compile(definition.input_schema.empty() ? boost::json::object{{"type", "object"}}
                                                                     : definition.input_schema);
  if (!input) return invalid_definition("tool " + definition.name + ": inputSchema: " + input.error().message);
  entry->input_schema = std::move(*input);
  if (definition.output_schema) {
    auto output = JsonSchema::compile(*definition.output_schema);
    if (!output) return invalid_definition("tool " + definition.name + ": outputSchema: " + output.error().message);
    entry->output_schema = std::move(*output);
  }
  entry->listed = server_detail::list_form(definition);
  entry->definition = std::move(definition);
  entry->handler = std::move(handler);
  core_->update_catalog([&](server_detail::Catalog& c) {
    server_detail::upsert<ToolEntry>(c.tools, std::move(entry), [](const ToolEntry& e) -> const std::string& { return e.definition.name; });
    return 0;
  });
  core_->list_changed("tools");
  return {};
}

Result<void> Server::add_resource(ResourceDefinition definition, ResourceReader reader) {
  using server_detail::ResourceEntry;
  if (definition.uri.empty() || definition.name.empty()) return invalid_definition("a resource needs a uri and a name");
  if (!reader) return invalid_definition("resource " + definition.uri + " has no reader");
  auto entry = std::make_shared<ResourceEntry>();
  entry->listed = server_detail::list_form(definition);
  entry->definition = std::move(definition);
  entry->reader = std::move(reader);
  core_->update_catalog([&](server_detail::Catalog& c) {
    server_detail::upsert<ResourceEntry>(c.resources, std::move(entry), [](const ResourceEntry& e) -> const std::string& { return e.definition.uri; });
    return 0;
  });
  core_->list_changed("resources");
  return {};
}

Result<void> Server::add_resource_template(ResourceTemplateDefinition definition, ResourceReader reader) {
  using server_detail::TemplateEntry;
  if (definition.uri_template.empty() || definition.name.empty())
    return invalid_definition("a resource template needs a uriTemplate and a name");
  if (!reader) return invalid_definition("resource template " + definition.uri_template + " has no reader");
  auto parsed = UriTemplate::parse(definition.uri_template);
  if (!parsed) return invalid_definition("resource template " + definition.uri_template + ": " + parsed.error().message);
  auto entry = std::make_shared<TemplateEntry>(TemplateEntry{
      .definition = {}, .uri_template = std::move(*parsed), .reader = std::move(reader), .listed = server_detail::list_form(definition)});
  entry->definition = std::move(definition);
  core_->update_catalog([&](server_detail::Catalog& c) {
    server_detail::upsert<TemplateEntry>(c.templates, std::move(entry),
                                         [](const TemplateEntry& e) -> const std::string& { return e.definition.uri_template; });
    return 0;
  });
  core_->list_changed("resources");
  return {};
}

Result<void> Server::add_prompt(PromptDefinition definition, PromptHandler handler) {
  using server_detail::PromptEntry;
  if (definition.name.empty()) return invalid_definition("a prompt needs a name");
  if (!handler) return invalid_definition("prompt " + definition.name + " has no handler");
  auto entry = std::make_shared<PromptEntry>();
  entry->listed = server_detail::list_form(definition);
  entry->definition = std::move(definition);
  entry->handler = std::move(handler);
  core_->update_catalog([&](server_detail::Catalog& c) {
    server_detail::upsert<PromptEntry>(c.prompts, std::move(entry), [](const PromptEntry& e) -> const std::string& { return e.definition.name; });
    return 0;
  });
  core_->list_changed("prompts");
  return {};
}

Result<void> Server::add_tool(ToolDefinition definition, AsyncToolHandler handler) {
  if (!handler) return invalid_definition("tool " + definition.name + " has no handler");
  return add_tool(std::move(definition), [handler = std::move(handler)](RequestContext& context, const boost::json::object& args) {
    return run_to_completion(handler(context, args));
  });
}

Result<void> Server::add_resource(ResourceDefinition definition, AsyncResourceReader reader) {
  if (!reader) return invalid_definition("resource " + definition.uri + " has no reader");
  return add_resource(std::move(definition), [reader = std::move(reader)](RequestContext& context, std::string_view uri,
                                                                          const UriVariables& variables) {
    return run_to_completion(reader(context, uri, variables));
  });
}

Result<void> Server::add_resource_template(ResourceTemplateDefinition definition, AsyncResourceReader reader) {
  if (!reader) return invalid_definition("resource template " + definition.uri_template + " has no reader");
  return add_resource_template(std::move(definition), [reader = std::move(reader)](RequestContext& context, std::string_view uri,
                                                                                   const UriVariables& variables) {
    return run_to_completion(reader(context, uri, variables));
  });
}

Result<void> Server::add_prompt(PromptDefinition definition, AsyncPromptHandler handler) {
  if (!handler) return invalid_definition("prompt " + definition.name + " has no handler");
  return add_prompt(std::move(definition), [handler = std::move(handler)](RequestContext& context, const boost::json::object& args) {
    return run_to_completion(handler(context, args));
  });
}

void Server::add_prompt_completion(std::string prompt, std::string argument, Completer completer) {
  core_->update_catalog([&](server_detail::Catalog& c) {
    c.prompt_completers[{std::move(prompt), std::move(argument)}] = std::move(completer);
    return 0;
  });
}

void Server::add_resource_completion(std::string uri_template, std::string variable, Completer completer) {
  core_->update_catalog([&](server_detail::Catalog& c) {
    c.resource_completers[{std::move(uri_template), std::move(variable)}] = std::move(completer);
    return 0;
  });
}

bool Server::remove_tool(std::string_view name) {
  const bool removed = core_->update_catalog([&](server_detail::Catalog& c) {
    return server_detail::erase(c.tools, name, [](const auto& e) -> const std::string& { return e.definition.name; });
  });
  if (removed) core_->list_changed("tools");
  return removed;
}

bool Server::remove_resource(std::string_view uri) {
  const bool removed = core_->update_catalog([&](server_detail::Catalog& c) {
    return server_detail::erase(c.resources, uri, [](const auto& e) -> const std::string& { return e.definition.uri; });
  });
  if (removed) core_->list_changed("resources");
  return removed;
}

bool Server::remove_prompt(std::string_view name) {
  const bool removed = core_->update_catalog([&](server_detail::Catalog& c) {
    return server_detail::erase(c.prompts, name, [](const auto& e) -> const std::string& { return e.definition.name; });
  });
  if (removed) core_->list_changed("prompts");
  return removed;
}

void Server::notify_resource_updated(std::string_view uri) {
  core_->for_each_session([&](server_detail::SessionImpl& s) { s.resource_updated(std::string(uri)); });
}

void Server::log(LogLevel level, boost::json::value data, std::string_view logger) {
  boost::json::object params{{"level", to_string(level)}};
  if (!logger.empty()) params["logger"] = logger;
  params["data"] = std::move(data);
  core_->for_each_session([&](server_detail::SessionImpl& s) {
    if (s.initialized() && s.log_enabled(level)) s.notify(nullptr, "notifications/message", params);
  });
}

void Server::shutdown() { core_->shutdown(); }

}  // namespace trellis
