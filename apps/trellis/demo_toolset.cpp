// The demo toolset: small enough to read in one go, and exercising every feature a client
// would want to try first (validation, structured output, progress, cancellation, resources,
// templates, prompts, completion), plus `generate` and `announce` for transfer and fan-out tests.
#include "demo_toolset.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <condition_variable>
#include <mutex>

#include <thread>

namespace trellis::cli {
namespace {

boost::json::object schema(std::string_view json) { return boost::json::parse(json).as_object(); }

double number(const boost::json::value& v) { return v.is_double() ? v.get_double() : static_cast<double>(v.to_number<double>()); }

}  // namespace

void register_demo_toolset(Server& server) {
  auto check = [](Result<void> r) {
    if (!r) throw ErrorException(r.error());
  };

  check(server.add_tool(
      {.name = "echo",
       .title = "Echo",
       .description = "Returns the text it is given.",
       .input_schema = schema(R"({"type":"object","properties":{"text":{"type":"string","description":"Text to echo"}},)"
                              R"("required":["text"],"additionalProperties":false})"),
       .annotations = {{"readOnlyHint", true}}},
      [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
        return tool_text(args.at("text").get_string());
      }));

  check(server.add_tool(
      {.name = "add",
       .title = "Add",
       .description = "Adds two numbers.",
       .input_schema = schema(R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},)"
                              R"("required":["a","b"]})"),
       .output_schema = schema(R"({"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]})"),
       .annotations = {{"readOnlyHint", true}}},
      [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
        const double sum = number(args.at("a")) + number(args.at("b"));
        const bool whole = sum == std::floor(sum) && std::abs(sum) < 9.0e15;
        const boost::json::value rendered = whole ? boost::json::value(static_cast<std::int64_t>(sum)) : boost::json::value(sum);
        auto result = tool_text(boost::json::serialize(rendered));
        result["structuredContent"] = {{"sum", rendered}};
        return result;
      }));

  check(server.add_tool(
      {.name = "slow",
       .title = "Slow",
       .description = "Works for steps × delay_ms, reporting progress after each step; stops when cancelled.",
       .input_schema = schema(R"({"type":"object","properties":{)"
                              R"("steps":{"type":"integer","minimum":1,"maximum":1000,"default":5},)"
                              R"("delay_ms":{"type":"integer","minimum":0,"maximum":60000,"default":200}}})")},
      [](RequestContext& context, const boost::json::object& args) -> Result<boost::json::object> {
        const auto* steps_arg = args.if_contains("steps");
        const auto* delay_arg = args.if_contains("delay_ms");
        const auto steps = steps_arg ? steps_arg->to_number<std::int64_t>() : 5;
        const auto delay = std::chrono::milliseconds(delay_arg ? delay_arg->to_number<std::int64_t>() : 200);
        for (std::int64_t i = 1; i <= steps; ++i) {
          std::mutex m;
          std::condition_variable_any cv;
          std::unique_lock lock(m);
          cv.wait_for(lock, context.stop_token(), delay, [] { return false; });
          if (context.stop_requested()) return make_error(ErrorKind::cancelled, "cancelled at step " + std::to_string(i));
          context.report_progress(static_cast<double>(i), static_cast<double>(steps), "step " + std::to_string(i));
        }
        context.log(LogLevel::info, boost::json::string("slow finished " + std::to_string(steps) + " steps"), "demo");
        return tool_text("done after " + std::to_string(steps) + " steps");
      }));

  // For transfer measurements: a result of an exact size without having to send one.
  check(server.add_tool(
      {.name = "generate",
       .title = "Generate",
       .description = "Returns a text of exactly `bytes` bytes (at most 64 MiB).",
       .input_schema = schema(R"({"type":"object","properties":{)"
                              R"("bytes":{"type":"integer","minimum":0,"maximum":67108864}},"required":["bytes"]})"),
       .annotations = {{"readOnlyHint", true}}},
      [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
        return tool_text(std::string(static_cast<std::size_t>(args.at("bytes").to_number<std::int64_t>()), 'x'));
      }));

  // A server-wide notification: every connected session receives `notifications/message`.
  check(server.add_tool(
      {.name = "announce",
       .title = "Announce",
       .description = "Sends the text as an info log message to every connected session.",
       .input_schema = schema(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})")},
      [&server](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
        server.log(LogLevel::info, args.at("text"), "announce");
        return tool_text("announced");
      }));

  check(server.add_resource({.uri = "trellis://demo/readme",
                             .name = "readme",
                             .title = "About this server",
                             .description = "A short text about the demo server",
                             .mime_type = "text/plain"},
                            [](RequestContext&, std::string_view uri, const UriVariables&) -> Result<boost::json::array> {
                              return boost::json::array{text_resource(
                                  uri, "text/plain",
                                  "This is the Trellis demo server. Try the echo, add and slow tools, the greet "
                                  "prompt and trellis://demo/greeting/{name}.")};
                            }));

  check(server.add_resource_template(
      {.uri_template = "trellis://demo/greeting/{name}",
       .name = "greeting",
       .title = "Greeting",
       .description = "A greeting for anyone",
       .mime_type = "text/plain"},
      [](RequestContext&, std::string_view uri, const UriVariables& vars) -> Result<boost::json::array> {
        return boost::json::array{text_resource(uri, "text/plain", "Hello, " + vars.at(0).second + "!")};
      }));

  check(server.add_prompt({.name = "greet",
                           .title = "Greet",
                           .description = "Asks the model to greet someone",
                           .arguments = {{.name = "name", .description = "Who to greet", .required = true}}},
                          [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
                            const auto* name = args.if_contains("name");
                            const std::string who = name && name->is_string() ? std::string(name->get_string()) : "world";
                            boost::json::object message{{"role", "user"}, {"content", text_content("Please greet " + who + ".")}};
                            return boost::json::object{{"description", "Greets " + who},
                                                       {"messages", boost::json::array{std::move(message)}}};
                          }));
  server.add_prompt_completion("greet", "name", [](std::string_view prefix, const boost::json::object&) {
    std::vector<std::string> out;
    for (std::string_view n : {"Ada", "Alan", "Barbara", "Edsger", "Grace", "Ken", "Linus"})
      if (n.starts_with(prefix)) out.emplace_back(n);
    return Result<std::vector<std::string>>(std::move(out));
  });
}

}  // namespace trellis::cli
