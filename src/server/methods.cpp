// The MCP request methods a session serves.
#include "request_context.hpp"

#include "core/current_exception.hpp"

#include "trellis/telemetry/log.hpp"

namespace trellis::server_detail {
namespace {

using Value = Result<boost::json::value>;

const boost::json::value* member(const boost::json::object& o, std::string_view key) { return o.if_contains(key); }

Result<std::string_view> required_string(const boost::json::object& params, std::string_view key) {
  const auto* v = member(params, key);
  if (v == nullptr || !v->is_string()) return jsonrpc::invalid_params(std::string(key) + " must be a string");
  return std::string_view(v->get_string());
}

template <class Entries>
Value list_page(const SessionImpl&, const Core& core, const Entries& entries, const boost::json::object& params,
                std::string_view key) {
  auto page = paginate(entries.size(), core.options().page_size, member(params, "cursor"));
  if (!page) return page.error();
  boost::json::array items;
  items.reserve(page->end - page->begin);
  for (std::size_t i = page->begin; i < page->end; ++i) items.push_back(entries[i]->listed);
  boost::json::object result{{key, std::move(items)}};
  if (!page->next_cursor.empty()) result["nextCursor"] = page->next_cursor;
  return boost::json::value(std::move(result));
}

Error resource_not_found(std::string_view uri) {
  return make_error(ErrorKind::protocol, "resource not found: " + std::string(uri), boost::json::object{{"uri", uri}},
                    jsonrpc_code::resource_not_found);
}

// A handler's Error that the peer should see as a JSON-RPC error (it chose a code), or nullopt.
bool is_protocol_error(const Error& e) { return e.kind == ErrorKind::protocol && e.code != 0; }

}  // namespace

const jsonrpc::Router<SessionImpl::Method>& SessionImpl::methods() {
  static const auto router = [] {
    jsonrpc::Router<Method> r;
    r.add("ping", {&SessionImpl::ping, false});
    r.add("logging/setLevel", {&SessionImpl::set_level, false});
    r.add("tools/list", {&SessionImpl::list_tools, false});
    r.add("resources/list", {&SessionImpl::list_resources, false});
    r.add("resources/templates/list", {&SessionImpl::list_templates, false});
    r.add("prompts/list", {&SessionImpl::list_prompts, false});
    r.add("resources/subscribe", {&SessionImpl::subscribe, false});
    r.add("resources/unsubscribe", {&SessionImpl::unsubscribe, false});
    r.add("tools/call", {&SessionImpl::call_tool, true});
    r.add("resources/read", {&SessionImpl::read_resource, true});
    r.add("prompts/get", {&SessionImpl::get_prompt, true});
    r.add("completion/complete", {&SessionImpl::complete_argument, true});
    return r;
  }();
  return router;
}

Value SessionImpl::ping(SessionImpl&, const boost::json::object&, RequestContextImpl*) { return boost::json::object{}; }

Value SessionImpl::set_level(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  auto text = required_string(params, "level");
  if (!text) return text.error();
  const auto level = parse_log_level(*text);
  if (!level) return jsonrpc::invalid_params("unknown log level: " + std::string(*text));
  self.log_level_.store(static_cast<int>(*level), std::memory_order_relaxed);
  return boost::json::object{};
}

Value SessionImpl::list_tools(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  return list_page(self, *self.core_, self.core_->catalog()->tools, params, "tools");
}
Value SessionImpl::list_resources(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  return list_page(self, *self.core_, self.core_->catalog()->resources, params, "resources");
}
Value SessionImpl::list_templates(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  return list_page(self, *self.core_, self.core_->catalog()->templates, params, "resourceTemplates");
}
Value SessionImpl::list_prompts(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  return list_page(self, *self.core_, self.core_->catalog()->prompts, params, "prompts");
}

Value SessionImpl::subscribe(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  auto uri = required_string(params, "uri");
  if (!uri) return uri.error();
  if (self.subscriptions_.contains(*uri)) return boost::json::object{};
  // Only what the server could read, within bounds: a typo is an error instead of a silent
  // subscription that never fires, and a client cannot grow the session's set without limit.
  if (uri->size() > kMaxSubscribedUriBytes)
    return jsonrpc::invalid_params("uri is longer than the " + std::to_string(kMaxSubscribedUriBytes) +
                                   " bytes a subscription may have");
  UriVariables variables;
  const auto catalog = self.core_->catalog();
  if (catalog->find_resource(*uri) == nullptr && catalog->match_template(*uri, variables) == nullptr)
    return resource_not_found(*uri);
  const std::size_t limit = self.core_->options().max_subscriptions_per_session;
  if (self.subscriptions_.size() >= limit)
    return make_error(ErrorKind::protocol, "too many subscriptions on this session: unsubscribe from one first",
                      boost::json::object{{"limit", limit}}, jsonrpc_code::server_error);
  self.subscriptions_.emplace(*uri);
  return boost::json::object{};
}

Value SessionImpl::unsubscribe(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  auto uri = required_string(params, "uri");
  if (!uri) return uri.error();
  if (const auto it = self.subscriptions_.find(*uri); it != self.subscriptions_.end()) self.subscriptions_.erase(it);
  return boost::json::object{};
}

Value SessionImpl::call_tool(SessionImpl& self, const boost::json::object& params, RequestContextImpl* context) {
  auto name = required_string(params, "name");
  if (!name) return name.error();
  const auto catalog = self.core_->catalog();
  const ToolEntry* tool = catalog->find_tool(*name);
  if (tool == nullptr) return jsonrpc::invalid_params("unknown tool: " + std::string(*name));

  static const boost::json::value kNoArguments = boost::json::object();
  const auto* arguments = member(params, "arguments");
  if (arguments != nullptr && !arguments->is_null() && !arguments->is_object())
    return jsonrpc::invalid_params("arguments must be an object");
  // Validated as the value it is: passing the object would copy it into a temporary value.
  const boost::json::value& args_value = arguments && arguments->is_object() ? *arguments : kNoArguments;
  const auto& args = args_value.get_object();
  // Invalid input is a tool execution error, so the model can read it and correct itself.
  if (auto valid = tool->input_schema->validate(args_value, "arguments"); !valid)
    return boost::json::value(tool_error("invalid arguments for tool " + std::string(*name) + ": " + valid.error().message));

  // What the tool throws is a tool execution error too, which the model can read.
  Result<boost::json::object> result = detail::outcome_of([&] { return tool->handler(*context, args); });
  if (!result) {
    if (is_protocol_error(result.error())) return result.error();
    return boost::json::value(tool_error(result.error().message));
  }
  if (tool->output_schema) {
    const auto* is_error = result->if_contains("isError");
    if (!(is_error && is_error->is_bool() && is_error->get_bool())) {
      const auto* structured = result->if_contains("structuredContent");
      if (structured == nullptr)
        return boost::json::value(tool_error("tool " + std::string(*name) + " declares an outputSchema but returned no structuredContent"));
      if (auto valid = tool->output_schema->validate(*structured, "structuredContent"); !valid)
        return boost::json::value(tool_error("tool " + std::string(*name) + " returned structured content that does not match its outputSchema: " +
                                             valid.error().message));
    }
  }
  return boost::json::value(std::move(*result));
}

Value SessionImpl::read_resource(SessionImpl& self, const boost::json::object& params, RequestContextImpl* context) {
  auto uri = required_string(params, "uri");
  if (!uri) return uri.error();
  const auto catalog = self.core_->catalog();
  UriVariables variables;
  const ResourceReader* reader = nullptr;
  if (const ResourceEntry* resource = catalog->find_resource(*uri)) {
    reader = &resource->reader;
  } else if (const TemplateEntry* entry = catalog->match_template(*uri, variables)) {
    reader = &entry->reader;
  }
  if (reader == nullptr) return resource_not_found(*uri);
  auto contents = (*reader)(*context, *uri, variables);
  if (!contents) {
    if (contents.error().code != 0 && contents.error().kind != ErrorKind::internal) return contents.error();
    return make_error(ErrorKind::protocol, "reading " + std::string(*uri) + " failed: " + contents.error().message, nullptr,
                      jsonrpc_code::internal_error);
  }
  return boost::json::object{{"contents", std::move(*contents)}};
}

Value SessionImpl::get_prompt(SessionImpl& self, const boost::json::object& params, RequestContextImpl* context) {
  auto name = required_string(params, "name");
  if (!name) return name.error();
  const auto catalog = self.core_->catalog();
  const PromptEntry* prompt = catalog->find_prompt(*name);
  if (prompt == nullptr) return jsonrpc::invalid_params("unknown prompt: " + std::string(*name));
  static const boost::json::object kNoArguments;
  const auto* arguments = member(params, "arguments");
  const auto& args = arguments && arguments->is_object() ? arguments->get_object() : kNoArguments;
  for (const auto& declared : prompt->definition.arguments) {
    if (declared.required && !args.contains(declared.name))
      return jsonrpc::invalid_params("prompt " + std::string(*name) + " requires argument " + declared.name);
  }
  auto result = prompt->handler(*context, args);
  if (!result) {
    if (result.error().code != 0 && result.error().kind != ErrorKind::internal) return result.error();
    return make_error(ErrorKind::protocol, "prompt " + std::string(*name) + " failed: " + result.error().message, nullptr,
                      jsonrpc_code::internal_error);
  }
  return boost::json::value(std::move(*result));
}

Value SessionImpl::complete_argument(SessionImpl& self, const boost::json::object& params, RequestContextImpl*) {
  const auto* ref = member(params, "ref");
  const auto* argument = member(params, "argument");
  if (ref == nullptr || !ref->is_object() || argument == nullptr || !argument->is_object())
    return jsonrpc::invalid_params("completion/complete needs ref and argument objects");
  auto type = required_string(ref->get_object(), "type");
  auto arg_name = required_string(argument->get_object(), "name");
  auto arg_value = required_string(argument->get_object(), "value");
  if (!type) return type.error();
  if (!arg_name) return arg_name.error();
  if (!arg_value) return arg_value.error();

  const auto catalog = self.core_->catalog();
  const Completer* completer = nullptr;
  if (*type == "ref/prompt") {
    auto prompt = required_string(ref->get_object(), "name");
    if (!prompt) return prompt.error();
    if (catalog->find_prompt(*prompt) == nullptr) return jsonrpc::invalid_params("unknown prompt: " + std::string(*prompt));
    if (auto it = catalog->prompt_completers.find(std::pair<std::string, std::string>(*prompt, *arg_name));
        it != catalog->prompt_completers.end())
      completer = &it->second;
  } else if (*type == "ref/resource") {
    auto uri = required_string(ref->get_object(), "uri");
    if (!uri) return uri.error();
    if (auto it = catalog->resource_completers.find(std::pair<std::string, std::string>(*uri, *arg_name));
        it != catalog->resource_completers.end())
      completer = &it->second;
  } else {
    return jsonrpc::invalid_params("unknown ref type: " + std::string(*type));
  }

  static const boost::json::object kNoContext;
  const boost::json::object* context_arguments = &kNoContext;
  if (const auto* ctx = member(params, "context"); ctx && ctx->is_object()) {
    if (const auto* a = ctx->get_object().if_contains("arguments"); a && a->is_object()) context_arguments = &a->get_object();
  }
  std::vector<std::string> values;
  if (completer != nullptr) {
    auto found = (*completer)(*arg_value, *context_arguments);
    if (!found) return found.error();
    values = std::move(*found);
  }
  constexpr std::size_t kMaxValues = 100;  // the spec's limit per response
  boost::json::array out;
  for (std::size_t i = 0; i < values.size() && i < kMaxValues; ++i) out.emplace_back(values[i]);
  boost::json::object completion{{"values", std::move(out)}, {"total", values.size()}, {"hasMore", values.size() > kMaxValues}};
  return boost::json::object{{"completion", std::move(completion)}};
}

}  // namespace trellis::server_detail
