// Everything the server scenarios of @modelcontextprotocol/conformance 0.1.16 call.
#include "fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace conformance {
namespace {

using trellis::RequestContext;
using trellis::Result;
using boost::json::array;
using boost::json::object;

// A 1×1 red PNG and a minimal WAV (44-byte header, no samples).
constexpr std::string_view kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
constexpr std::string_view kWav = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

object schema(std::string_view json) { return boost::json::parse(json).as_object(); }
object no_arguments() { return schema(R"({"type":"object","properties":{}})"); }

// Sleeps, returning early when the request is cancelled.
void pause(RequestContext& context, std::chrono::milliseconds how_long) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, context.stop_token(), how_long, [] { return false; });
}

using Handler = trellis::ToolHandler;
void tool(trellis::Server& server, std::string name, std::string description, object input_schema, Handler handler) {
  auto added = server.add_tool({.name = std::move(name), .description = std::move(description), .input_schema = std::move(input_schema)},
                               std::move(handler));
  if (!added) throw trellis::ErrorException(added.error());
}

object content(std::initializer_list<boost::json::value> parts) {
  array items;
  for (const auto& part : parts) items.push_back(part);
  return object{{"content", std::move(items)}};
}

void register_tools(trellis::Server& server) {
  tool(server, "test_simple_text", "Returns simple text", no_arguments(), [](RequestContext&, const object&) -> Result<object> {
    return trellis::tool_text("This is a simple text response for testing.");
  });
  tool(server, "test_image_content", "Returns an image", no_arguments(), [](RequestContext&, const object&) -> Result<object> {
    return content({object{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}});
  });
  tool(server, "test_audio_content", "Returns audio", no_arguments(), [](RequestContext&, const object&) -> Result<object> {
    return content({object{{"type", "audio"}, {"data", kWav}, {"mimeType", "audio/wav"}}});
  });
  tool(server, "test_embedded_resource", "Returns an embedded resource", no_arguments(),
       [](RequestContext&, const object&) -> Result<object> {
         return content({object{{"type", "resource"},
                                {"resource", trellis::text_resource("test://embedded-resource", "text/plain",
                                                                    "This is an embedded resource content.")}}});
       });
  tool(server, "test_multiple_content_types", "Returns text, an image and a resource", no_arguments(),
       [](RequestContext&, const object&) -> Result<object> {
         return content({trellis::text_content("Multiple content types test:"),
                         object{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}},
                         object{{"type", "resource"},
                                {"resource", trellis::text_resource("test://mixed-content-resource", "application/json",
                                                                    R"({"test":"data","value":123})")}}});
       });
  tool(server, "test_tool_with_logging", "Logs three messages while it runs", no_arguments(),
       [](RequestContext& context, const object&) -> Result<object> {
         context.log(trellis::LogLevel::info, "Tool execution started");
         pause(context, std::chrono::milliseconds(50));
         context.log(trellis::LogLevel::info, "Tool processing data");
         pause(context, std::chrono::milliseconds(50));
         context.log(trellis::LogLevel::info, "Tool execution completed");
         return trellis::tool_text("Tool with logging executed successfully");
       });
  tool(server, "test_error_handling", "Always fails", no_arguments(), [](RequestContext&, const object&) -> Result<object> {
    return trellis::make_error(trellis::ErrorKind::internal, "This tool intentionally returns an error for testing");
  });
  tool(server, "test_tool_with_progress", "Reports progress 0, 50, 100 of 100", no_arguments(),
       [](RequestContext& context, const object&) -> Result<object> {
         context.report_progress(0, 100);
         pause(context, std::chrono::milliseconds(50));
         context.report_progress(50, 100);
         pause(context, std::chrono::milliseconds(50));
         context.report_progress(100, 100);
         return trellis::tool_text("Tool with progress executed successfully");
       });
  tool(server, "test_sampling", "Asks the client's model",
       schema(R"({"type":"object","properties":{"prompt":{"type":"string"}},"required":["prompt"]})"),
       [](RequestContext& context, const object& args) -> Result<object> {
         auto answer = context.create_message(
             {{"messages", array{object{{"role", "user"}, {"content", trellis::text_content(args.at("prompt").as_string())}}}},
              {"maxTokens", 100}});
         if (!answer) return answer.error();
         const auto* text = answer->if_contains("content");
         const std::string said = text && text->is_object() && text->as_object().contains("text")
                                      ? std::string(text->at("text").as_string())
                                      : boost::json::serialize(*answer);
         return trellis::tool_text("LLM response: " + said);
       });
  tool(server, "test_elicitation", "Asks the user for a name and an email",
       schema(R"({"type":"object","properties":{"message":{"type":"string"}},"required":["message"]})"),
       [](RequestContext& context, const object& args) -> Result<object> {
         auto answer = context.elicit(
             {{"message", args.at("message")},
              {"requestedSchema", schema(R"({"type":"object","properties":{
                  "username":{"type":"string","description":"User's response"},
                  "email":{"type":"string","description":"User's email address"}},"required":["username","email"]})")}});
         if (!answer) return answer.error();
         return trellis::tool_text("User response: " + boost::json::serialize(*answer));
       });
  tool(server, "test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type", no_arguments(),
       [](RequestContext& context, const object&) -> Result<object> {
         auto answer = context.elicit(
             {{"message", "Please review the defaults"},
              {"requestedSchema", schema(R"({"type":"object","properties":{
                  "name":{"type":"string","default":"John Doe"},
                  "age":{"type":"integer","default":30},
                  "score":{"type":"number","default":95.5},
                  "status":{"type":"string","enum":["active","inactive","pending"],"default":"active"},
                  "verified":{"type":"boolean","default":true}}})")}});
         if (!answer) return answer.error();
         const auto* action = answer->if_contains("action");
         const auto* given = answer->if_contains("content");
         return trellis::tool_text("Elicitation completed: action=" + (action ? boost::json::serialize(*action) : "?") +
                                   ", content=" + (given ? boost::json::serialize(*given) : "{}"));
       });
  tool(server, "test_elicitation_sep1330_enums", "Elicitation with every enum form", no_arguments(),
       [](RequestContext& context, const object&) -> Result<object> {
         auto answer = context.elicit(
             {{"message", "Please choose"},
              {"requestedSchema", schema(R"({"type":"object","properties":{
                  "untitledSingle":{"type":"string","enum":["option1","option2","option3"]},
                  "titledSingle":{"type":"string","oneOf":[{"const":"value1","title":"First Option"},
                      {"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},
                  "legacyEnum":{"type":"string","enum":["opt1","opt2","opt3"],
                      "enumNames":["Option One","Option Two","Option Three"]},
                  "untitledMulti":{"type":"array","items":{"type":"string","enum":["option1","option2","option3"]}},
                  "titledMulti":{"type":"array","items":{"anyOf":[{"const":"value1","title":"First Choice"},
                      {"const":"value2","title":"Second Choice"},{"const":"value3","title":"Third Choice"}]}}}})")}});
         if (!answer) return answer.error();
         const auto* action = answer->if_contains("action");
         const auto* given = answer->if_contains("content");
         return trellis::tool_text("Elicitation completed: action=" + (action ? boost::json::serialize(*action) : "?") +
                                   ", content=" + (given ? boost::json::serialize(*given) : "{}"));
       });
  tool(server, "test_reconnection", "Closes its SSE stream mid-call; the answer arrives after the client resumes",
       no_arguments(), [](RequestContext& context, const object&) -> Result<object> {
         pause(context, std::chrono::milliseconds(50));
         context.close_stream();
         pause(context, std::chrono::milliseconds(100));
         return trellis::tool_text("Reconnection test completed successfully");
       });
  auto json_schema_tool = server.add_tool(
      {.name = "json_schema_2020_12_tool",
       .description = "Tool with JSON Schema 2020-12 features",
       .input_schema = schema(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
           "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
           "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"}},"additionalProperties":false})")},
      [](RequestContext&, const object& args) -> Result<object> { return trellis::tool_text(boost::json::serialize(args)); });
  if (!json_schema_tool) throw trellis::ErrorException(json_schema_tool.error());
}

void register_resources(trellis::Server& server) {
  auto check = [](Result<void> r) {
    if (!r) throw trellis::ErrorException(r.error());
  };
  check(server.add_resource({.uri = "test://static-text", .name = "static-text", .description = "A static text resource",
                             .mime_type = "text/plain"},
                            [](RequestContext&, std::string_view uri, const trellis::UriVariables&) -> Result<array> {
                              return array{trellis::text_resource(uri, "text/plain", "This is the content of the static text resource.")};
                            }));
  check(server.add_resource({.uri = "test://static-binary", .name = "static-binary", .description = "A static binary resource",
                             .mime_type = "image/png"},
                            [](RequestContext&, std::string_view uri, const trellis::UriVariables&) -> Result<array> {
                              return array{object{{"uri", uri}, {"mimeType", "image/png"}, {"blob", kPng}}};
                            }));
  check(server.add_resource({.uri = "test://watched-resource", .name = "watched-resource",
                             .description = "A resource to subscribe to", .mime_type = "text/plain"},
                            [](RequestContext&, std::string_view uri, const trellis::UriVariables&) -> Result<array> {
                              return array{trellis::text_resource(uri, "text/plain", "Watched resource content.")};
                            }));
  check(server.add_resource_template(
      {.uri_template = "test://template/{id}/data", .name = "template", .description = "Data by id", .mime_type = "application/json"},
      [](RequestContext&, std::string_view uri, const trellis::UriVariables& vars) -> Result<array> {
        const std::string& id = vars.at(0).second;
        const object data{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
        return array{trellis::text_resource(uri, "application/json", boost::json::serialize(data))};
      }));
}

void register_prompts(trellis::Server& server) {
  auto check = [](Result<void> r) {
    if (!r) throw trellis::ErrorException(r.error());
  };
  auto user = [](boost::json::value content) { return object{{"role", "user"}, {"content", std::move(content)}}; };
  check(server.add_prompt({.name = "test_simple_prompt", .description = "A simple prompt"},
                          [user](RequestContext&, const object&) -> Result<object> {
                            return object{{"messages", array{user(trellis::text_content("This is a simple prompt for testing."))}}};
                          }));
  check(server.add_prompt({.name = "test_prompt_with_arguments",
                           .description = "A prompt with arguments",
                           .arguments = {{.name = "arg1", .description = "First test argument", .required = true},
                                         {.name = "arg2", .description = "Second test argument", .required = true}}},
                          [user](RequestContext&, const object& args) -> Result<object> {
                            const std::string text = "Prompt with arguments: arg1='" + std::string(args.at("arg1").as_string()) +
                                                     "', arg2='" + std::string(args.at("arg2").as_string()) + "'";
                            return object{{"messages", array{user(trellis::text_content(text))}}};
                          }));
  check(server.add_prompt({.name = "test_prompt_with_embedded_resource",
                           .description = "A prompt embedding a resource",
                           .arguments = {{.name = "resourceUri", .description = "URI of the resource to embed", .required = true}}},
                          [user](RequestContext&, const object& args) -> Result<object> {
                            const auto uri = args.at("resourceUri").as_string();
                            return object{{"messages",
                                           array{user(object{{"type", "resource"},
                                                             {"resource", trellis::text_resource(uri, "text/plain",
                                                                                                 "Embedded resource content for testing.")}}),
                                                 user(trellis::text_content("Please process the embedded resource above."))}}};
                          }));
  check(server.add_prompt({.name = "test_prompt_with_image", .description = "A prompt with an image"},
                          [user](RequestContext&, const object&) -> Result<object> {
                            return object{{"messages", array{user(object{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}),
                                                             user(trellis::text_content("Please analyze the image above."))}}};
                          }));
  server.add_prompt_completion("test_prompt_with_arguments", "arg1", [](std::string_view prefix, const object&) {
    std::vector<std::string> out;
    for (std::string_view word : {"paris", "park", "party", "test", "testing"})
      if (word.starts_with(prefix)) out.emplace_back(word);
    return Result<std::vector<std::string>>(out);
  });
}

}  // namespace

void register_fixture(trellis::Server& server) {
  register_tools(server);
  register_resources(server);
  register_prompts(server);
}

}  // namespace conformance
