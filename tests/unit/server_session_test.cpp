// The protocol engine through one Session: lifecycle, admission, tools, resources, prompts,
// completion, logging, progress, cancellation, pagination and server-to-client requests.
#include "support/server_fixture.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/require.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace trellis {
namespace {

using testing::error_code;
using testing::SessionHarness;

boost::json::object schema(std::string_view json) { return boost::json::parse(json).as_object(); }

void add_echo(Server& server) {
  ASSERT_TRUE(server.add_tool({.name = "echo",
                               .input_schema = schema(R"({"$schema":"https://json-schema.org/draft/2020-12/schema",)"
                                                      R"("type":"object","properties":{"text":{"type":"string"}},)"
                                                      R"("required":["text"],"additionalProperties":false})")},
                              [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
                                return tool_text(args.at("text").as_string());
                              }));
}

// Waits until its stop token is requested (or 10 s), reporting progress once first.
struct Blocker {
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  ToolHandler handler() {
    return [this](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
      context.report_progress(1, 2, "started");
      started = true;
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait_for(lock, context.stop_token(), std::chrono::seconds(10), [] { return false; });
      saw_stop = context.stop_requested();
      return tool_text("finished");
    };
  }
};

bool has_result(const boost::json::object& response) { return response.contains("result"); }

TEST(ServerSession, InitializeNegotiatesTheRequestedVersion) {
  SessionHarness h;
  h.open();
  auto r = h.call(1, "initialize", R"({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}})");
  EXPECT_EQ(r.at("result").at("protocolVersion"), "2025-06-18");
  EXPECT_TRUE(r.at("result").at("capabilities").as_object().contains("tools"));
  EXPECT_EQ(h.session->protocol_version(), "2025-06-18");
}

TEST(ServerSession, UnknownVersionGetsTheLatest) {
  SessionHarness h;
  h.open();
  auto r = h.call(1, "initialize", R"({"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"c","version":"1"}})");
  EXPECT_EQ(r.at("result").at("protocolVersion").as_string(), kLatestProtocolVersion);
}

TEST(ServerSession, SecondInitializeIsRejected) {
  SessionHarness h;
  h.open();
  h.initialize();
  auto r = h.call(2, "initialize", R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}})");
  EXPECT_EQ(error_code(r), jsonrpc_code::invalid_request);
  EXPECT_EQ(r.at("error").at("data").at("state"), "ready");
}

TEST(ServerSession, OnlyPingIsServedBeforeInitialize) {
  SessionHarness h;
  add_echo(h.server);
  h.open();
  EXPECT_TRUE(has_result(h.call(1, "ping")));
  auto r = h.call(2, "tools/list");
  EXPECT_EQ(error_code(r), jsonrpc_code::invalid_request);
  EXPECT_EQ(r.at("error").at("data").at("state"), "uninitialized");
}

TEST(ServerSession, ToolsListKeepsTheSchemaExactly) {
  SessionHarness h;
  add_echo(h.server);
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/list");
  const auto& tool = r.at("result").at("tools").at(0).as_object();
  EXPECT_EQ(tool.at("name"), "echo");
  EXPECT_EQ(boost::json::serialize(tool.at("inputSchema")),
            R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false})");
}

TEST(ServerSession, ToolCallEchoes) {
  SessionHarness h;
  add_echo(h.server);
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/call", R"({"name":"echo","arguments":{"text":"héllo"}})");
  EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "héllo");
  EXPECT_FALSE(r.at("result").as_object().contains("isError"));
}

TEST(ServerSession, InvalidArgumentsAreAToolErrorNotAProtocolError) {
  SessionHarness h;
  add_echo(h.server);
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/call", R"({"name":"echo","arguments":{"text":42}})");
  ASSERT_TRUE(has_result(r)) << boost::json::serialize(r);
  EXPECT_EQ(r.at("result").at("isError"), true);
  EXPECT_NE(std::string(r.at("result").at("content").at(0).at("text").as_string()).find("text"), std::string::npos);
}

// Whatever a tool throws, std::exception or not, is a tool execution error the model can read,
// and the call ends (it used to be left unanswered when the exception was not a std::exception).
TEST(ServerSession, WhatAToolThrowsIsAToolError) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "fails"}, [](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    throw std::runtime_error("disk on fire");
  }));
  ASSERT_TRUE(h.server.add_tool({.name = "throws_int"}, [](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    throw 42;
  }));
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/call", R"({"name":"fails"})");
  ASSERT_TRUE(has_result(r)) << boost::json::serialize(r);
  EXPECT_EQ(r.at("result").at("isError"), true);
  EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "disk on fire");
  r = h.call(2, "tools/call", R"({"name":"throws_int"})");
  ASSERT_TRUE(has_result(r)) << boost::json::serialize(r);
  EXPECT_EQ(r.at("result").at("isError"), true);
  EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "an exception that is not a std::exception");
  EXPECT_TRUE(has_result(h.call(3, "ping")));
}

// A resource reader (or any handler outside tools) that throws gets the request an internal error,
// whose message says no more than that (what was thrown goes to the log).
TEST(ServerSession, WhatAReaderThrowsIsAnInternalError) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_resource({.uri = "demo://std", .name = "std"},
                                    [](RequestContext&, std::string_view, const UriVariables&) -> Result<boost::json::array> {
                                      throw std::runtime_error("unreadable");
                                    }));
  ASSERT_TRUE(h.server.add_resource({.uri = "demo://int", .name = "int"},
                                    [](RequestContext&, std::string_view, const UriVariables&) -> Result<boost::json::array> {
                                      throw 42;
                                    }));
  // The client reads "internal error"; the detail goes to the log.
  std::mutex logged_mutex;
  std::vector<std::string> logged;
  telemetry::Logger::global().set_sink([&](std::string_view line) {
    std::lock_guard lock(logged_mutex);
    logged.emplace_back(line);
  });
  struct RestoreSink {
    ~RestoreSink() { telemetry::Logger::global().set_sink({}); }
  } restore_sink;
  h.open();
  h.initialize();
  auto r = h.call(1, "resources/read", R"({"uri":"demo://std"})");
  EXPECT_EQ(error_code(r), jsonrpc_code::internal_error) << boost::json::serialize(r);
  EXPECT_EQ(r.at("error").at("message"), "internal error");
  r = h.call(2, "resources/read", R"({"uri":"demo://int"})");
  EXPECT_EQ(error_code(r), jsonrpc_code::internal_error) << boost::json::serialize(r);
  EXPECT_EQ(r.at("error").at("message"), "internal error");
  EXPECT_TRUE(has_result(h.call(3, "ping")));
  std::lock_guard lock(logged_mutex);
  const auto logged_with = [&](std::string_view what) {
    return std::count_if(logged.begin(), logged.end(), [&](const std::string& line) {
      const auto fields = boost::json::parse(line).as_object();
      return fields.at("event") == "trellis.server.handler_exception" && fields.at("method") == "resources/read" &&
             fields.at("what").as_string() == what;
    });
  };
  EXPECT_EQ(logged_with("unreadable"), 1);
  EXPECT_EQ(logged_with("an exception that is not a std::exception"), 1);
}

TEST(ServerSession, UnknownToolIsInvalidParams) {
  SessionHarness h;
  h.open();
  h.initialize();
  EXPECT_EQ(error_code(h.call(1, "tools/call", R"({"name":"nope"})")), jsonrpc_code::invalid_params);
}

TEST(ServerSession, UnknownMethodIsMethodNotFound) {
  SessionHarness h;
  h.open();
  h.initialize();
  EXPECT_EQ(error_code(h.call(1, "tools/frobnicate")), jsonrpc_code::method_not_found);
}

TEST(ServerSession, StructuredContentIsCheckedAgainstTheOutputSchema) {
  SessionHarness h;
  bool good = true;
  ASSERT_TRUE(h.server.add_tool(
      {.name = "sum", .output_schema = schema(R"({"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]})")},
      [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
        auto r = tool_text("3");
        r["structuredContent"] = good ? boost::json::object{{"sum", 3}} : boost::json::object{{"sum", "three"}};
        return r;
      }));
  h.open();
  h.initialize();
  auto ok = h.call(1, "tools/call", R"({"name":"sum"})");
  EXPECT_EQ(ok.at("result").at("structuredContent").at("sum"), 3);
  good = false;
  auto bad = h.call(2, "tools/call", R"({"name":"sum"})");
  EXPECT_EQ(bad.at("result").at("isError"), true);
}

TEST(ServerSession, ProgressGoesToTheRequestsStream) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "steps"}, [](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
    for (int i = 1; i <= 3; ++i) context.report_progress(i, 3);
    return tool_text("done");
  }));
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/call", R"({"name":"steps","_meta":{"progressToken":"p1"}})");
  EXPECT_TRUE(has_result(r));
  std::vector<double> seen;
  for (const auto& m : h.out->messages()) {
    const auto& o = m.as_object();
    if (o.contains("method") && o.at("method") == "notifications/progress") {
      EXPECT_EQ(o.at("params").at("progressToken"), "p1");
      seen.push_back(o.at("params").at("progress").to_number<double>());
    }
  }
  EXPECT_EQ(seen, (std::vector<double>{1, 2, 3}));
  // Progress precedes the response on the same stream.
  const auto messages = h.out->messages();
  EXPECT_TRUE(messages.back().as_object().contains("result"));
}

TEST(ServerSession, CancelledRequestStopsItsHandlerAndGetsNoResponse) {
  SessionHarness h;
  Blocker blocker;
  ASSERT_TRUE(h.server.add_tool({.name = "block"}, blocker.handler()));
  h.open();
  h.initialize();
  auto stream = std::make_shared<testing::RecordingOutbound>();
  h.send(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"block","_meta":{"progressToken":1}}})", stream);
  ASSERT_TRUE(stream->wait([](const auto& messages, int) { return !messages.empty(); }));
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"test"}})");
  ASSERT_TRUE(stream->wait([](const auto&, int finished) { return finished == 1; }));
  EXPECT_TRUE(blocker.saw_stop);
  for (const auto& m : stream->messages()) EXPECT_FALSE(m.as_object().contains("result")) << boost::json::serialize(m);
  // The session keeps serving.
  EXPECT_TRUE(has_result(h.call(8, "ping")));
}

TEST(ServerSession, LoggingLevelFiltersMessages) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "chatty"}, [](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
    context.log(LogLevel::debug, "debug line");
    context.log(LogLevel::error, "error line", "test");
    return tool_text("ok");
  }));
  h.open();
  h.initialize();
  EXPECT_TRUE(has_result(h.call(1, "logging/setLevel", R"({"level":"warning"})")));
  EXPECT_TRUE(has_result(h.call(2, "tools/call", R"({"name":"chatty"})")));
  std::vector<std::string> logged;
  for (const auto& m : h.out->messages()) {
    const auto& o = m.as_object();
    if (o.contains("method") && o.at("method") == "notifications/message") logged.emplace_back(o.at("params").at("data").as_string());
  }
  EXPECT_EQ(logged, std::vector<std::string>{"error line"});
  EXPECT_EQ(error_code(h.call(3, "logging/setLevel", R"({"level":"loud"})")), jsonrpc_code::invalid_params);
}

TEST(ServerSession, ListsArePaginatedWithOpaqueCursors) {
  SessionHarness h({.page_size = 2});
  add_echo(h.server);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(h.server.add_tool({.name = "t" + std::to_string(i)}, [](RequestContext&, const boost::json::object&) {
      return Result<boost::json::object>(tool_text(""));
    }));
  }
  h.open();
  h.initialize();
  std::vector<std::string> names;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    const std::string params = cursor.empty() ? "{}" : R"({"cursor":")" + cursor + R"("})";
    auto r = h.call(100 + page, "tools/list", params);
    for (const auto& t : r.at("result").at("tools").as_array()) names.emplace_back(t.at("name").as_string());
    const auto* next = r.at("result").as_object().if_contains("nextCursor");
    if (!next) break;
    cursor = next->as_string();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "t0", "t1", "t2", "t3", "t4"}));
  EXPECT_EQ(error_code(h.call(200, "tools/list", R"({"cursor":"bm9wZQ=="})")), jsonrpc_code::invalid_params);
}

TEST(ServerSession, ResourcesStaticTemplatedAndMissing) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_resource({.uri = "demo://readme", .name = "readme", .mime_type = "text/plain"},
                                    [](RequestContext&, std::string_view uri, const UriVariables&) -> Result<boost::json::array> {
                                      return boost::json::array{text_resource(uri, "text/plain", "hi")};
                                    }));
  ASSERT_TRUE(h.server.add_resource_template({.uri_template = "demo://items/{id}", .name = "item"},
                                             [](RequestContext&, std::string_view uri, const UriVariables& v) -> Result<boost::json::array> {
                                               return boost::json::array{text_resource(uri, "", "item " + v.at(0).second)};
                                             }));
  h.open();
  h.initialize();
  EXPECT_EQ(h.call(1, "resources/read", R"({"uri":"demo://readme"})").at("result").at("contents").at(0).at("text"), "hi");
  EXPECT_EQ(h.call(2, "resources/read", R"({"uri":"demo://items/42"})").at("result").at("contents").at(0).at("text"), "item 42");
  auto missing = h.call(3, "resources/read", R"({"uri":"demo://nothing"})");
  EXPECT_EQ(error_code(missing), jsonrpc_code::resource_not_found);
  EXPECT_EQ(missing.at("error").at("data").at("uri"), "demo://nothing");
  EXPECT_EQ(h.call(4, "resources/templates/list").at("result").at("resourceTemplates").at(0).at("uriTemplate"), "demo://items/{id}");
}

// A resource "demo://watched" and a template "demo://items/{id}" that read as empty text.
void add_watchable_resources(Server& server) {
  const auto empty = [](RequestContext&, std::string_view uri, const UriVariables&) -> Result<boost::json::array> {
    return boost::json::array{text_resource(uri, "text/plain", "")};
  };
  ASSERT_TRUE(server.add_resource({.uri = "demo://watched", .name = "watched"}, empty));
  ASSERT_TRUE(server.add_resource_template({.uri_template = "demo://items/{id}", .name = "item"}, empty));
}

TEST(ServerSession, SubscribedSessionsHearResourceUpdates) {
  SessionHarness h;
  add_watchable_resources(h.server);
  h.open();
  h.initialize();
  EXPECT_TRUE(has_result(h.call(1, "resources/subscribe", R"({"uri":"demo://watched"})")));
  h.server.notify_resource_updated("demo://other");
  h.server.notify_resource_updated("demo://watched");
  ASSERT_TRUE(h.standalone->wait([](const auto& messages, int) {
    for (const auto& m : messages)
      if (m.as_object().at("method") == "notifications/resources/updated") return true;
    return false;
  }));
  std::size_t updates = 0;
  for (const auto& m : h.standalone->messages()) {
    if (m.as_object().at("method") != "notifications/resources/updated") continue;
    ++updates;
    EXPECT_EQ(m.at("params").at("uri"), "demo://watched");
  }
  EXPECT_EQ(updates, 1u);
}

TEST(ServerSession, SubscribingNeedsAResourceTheServerCouldRead) {
  SessionHarness h;
  add_watchable_resources(h.server);
  h.open();
  h.initialize();
  EXPECT_TRUE(has_result(h.call(1, "resources/subscribe", R"({"uri":"demo://items/7"})")));
  auto missing = h.call(2, "resources/subscribe", R"({"uri":"demo://wached"})");
  EXPECT_EQ(error_code(missing), jsonrpc_code::resource_not_found);
  EXPECT_EQ(missing.at("error").at("data").at("uri"), "demo://wached");
  EXPECT_EQ(error_code(h.call(3, "resources/subscribe", R"({"uri":7})")), jsonrpc_code::invalid_params);
}

TEST(ServerSession, SubscriptionsPerSessionAreBounded) {
  SessionHarness h({.max_subscriptions_per_session = 3});
  add_watchable_resources(h.server);
  h.open();
  h.initialize();
  for (int i = 1; i <= 3; ++i)
    EXPECT_TRUE(has_result(h.call(i, "resources/subscribe", R"({"uri":"demo://items/)" + std::to_string(i) + "\"}")));
  // At the limit: subscribing again to one of them is still fine, a fourth is refused.
  EXPECT_TRUE(has_result(h.call(4, "resources/subscribe", R"({"uri":"demo://items/2"})")));
  auto refused = h.call(5, "resources/subscribe", R"({"uri":"demo://watched"})");
  EXPECT_EQ(error_code(refused), jsonrpc_code::server_error);
  EXPECT_EQ(refused.at("error").at("data").at("limit"), 3);
  h.server.notify_resource_updated("demo://watched");
  // Unsubscribing makes room again.
  EXPECT_TRUE(has_result(h.call(6, "resources/unsubscribe", R"({"uri":"demo://items/1"})")));
  EXPECT_TRUE(has_result(h.call(7, "resources/subscribe", R"({"uri":"demo://watched"})")));
  for (const auto& m : h.standalone->messages()) EXPECT_NE(m.at("method"), "notifications/resources/updated");
}

TEST(ServerSession, SubscribedUrisHaveALengthLimit) {
  SessionHarness h;
  add_watchable_resources(h.server);
  h.open();
  h.initialize();
  const std::string prefix = "demo://items/";
  const std::string at_limit = prefix + std::string(kMaxSubscribedUriBytes - prefix.size(), 'x');
  EXPECT_TRUE(has_result(h.call(1, "resources/subscribe", R"({"uri":")" + at_limit + "\"}")));
  const std::string past_limit = at_limit + "x";
  auto refused = h.call(2, "resources/subscribe", R"({"uri":")" + past_limit + "\"}");
  EXPECT_EQ(error_code(refused), jsonrpc_code::invalid_params);
  EXPECT_NE(refused.at("error").at("message").as_string().find("8192"), std::string::npos);
  // The server can still read it: the limit is on subscriptions only.
  EXPECT_TRUE(has_result(h.call(3, "resources/read", R"({"uri":")" + past_limit + "\"}")));
}

TEST(ServerSession, ListChangedReachesInitializedSessions) {
  SessionHarness h;
  h.open();
  h.initialize();
  add_echo(h.server);
  EXPECT_TRUE(h.standalone->wait([](const auto& messages, int) {
    for (const auto& m : messages)
      if (m.as_object().at("method") == "notifications/tools/list_changed") return true;
    return false;
  }));
}

TEST(ServerSession, PromptsRequireTheirArguments) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_prompt({.name = "greet", .arguments = {{.name = "who", .required = true}}},
                                  [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
                                    boost::json::object m{{"role", "user"}, {"content", text_content(args.at("who").as_string())}};
                                    return boost::json::object{{"messages", boost::json::array{m}}};
                                  }));
  h.open();
  h.initialize();
  EXPECT_EQ(h.call(1, "prompts/list").at("result").at("prompts").at(0).at("arguments").at(0).at("required"), true);
  EXPECT_EQ(h.call(2, "prompts/get", R"({"name":"greet","arguments":{"who":"Ada"}})").at("result").at("messages").at(0).at("content").at("text"),
            "Ada");
  EXPECT_EQ(error_code(h.call(3, "prompts/get", R"({"name":"greet"})")), jsonrpc_code::invalid_params);
}

TEST(ServerSession, CompletionOffersAtMostOneHundredValues) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_prompt({.name = "p", .arguments = {{.name = "a"}}}, [](RequestContext&, const boost::json::object&) {
    return Result<boost::json::object>(boost::json::object{{"messages", boost::json::array{}}});
  }));
  h.server.add_prompt_completion("p", "a", [](std::string_view value, const boost::json::object&) {
    std::vector<std::string> out;
    for (int i = 0; i < 150; ++i) out.push_back(std::string(value) + std::to_string(i));
    return Result<std::vector<std::string>>(out);
  });
  h.open();
  h.initialize();
  auto r = h.call(1, "completion/complete", R"({"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"x"}})");
  const auto& completion = r.at("result").at("completion").as_object();
  EXPECT_EQ(completion.at("values").as_array().size(), 100u);
  EXPECT_EQ(completion.at("values").at(0), "x0");
  EXPECT_EQ(completion.at("total"), 150);
  EXPECT_EQ(completion.at("hasMore"), true);
}

TEST(ServerSession, SamplingRequestRoundTrip) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "ask"}, [](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
    auto answer = context.create_message({{"messages", boost::json::array{}}, {"maxTokens", 10}});
    if (!answer) return answer.error();
    return tool_text(answer->at("content").at("text").as_string());
  }));
  h.open();
  h.initialize(R"({"sampling":{}})");
  h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}})");
  boost::json::value request;
  ASSERT_TRUE(h.out->wait([&](const auto& messages, int) {
    for (const auto& m : messages)
      if (m.as_object().contains("method") && m.at("method") == "sampling/createMessage") {
        request = m;
        return true;
      }
    return false;
  }));
  const std::string id = boost::json::serialize(request.at("id"));
  h.send(R"({"jsonrpc":"2.0","id":)" + id +
         R"(,"result":{"role":"assistant","content":{"type":"text","text":"sampled"},"model":"m"}})");
  EXPECT_EQ(h.out->response(1).at("result").at("content").at(0).at("text"), "sampled");
}

TEST(ServerSession, SamplingNeedsTheCapability) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "ask"}, [](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
    auto answer = context.create_message({});
    if (!answer) return answer.error();
    return tool_text("unexpected");
  }));
  h.open();
  h.initialize();
  auto r = h.call(1, "tools/call", R"({"name":"ask"})");
  EXPECT_EQ(r.at("result").at("isError"), true);
}

TEST(ServerSession, DrainingRejectsNewRequestsAndFinishesActiveOnes) {
  SessionHarness h;
  std::atomic<bool> release{false};
  ASSERT_TRUE(h.server.add_tool({.name = "wait"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return tool_text("finished");
  }));
  h.open();
  h.initialize();
  h.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wait"}})");
  h.session->close();
  auto rejected = h.call(2, "ping");
  EXPECT_EQ(error_code(rejected), jsonrpc_code::server_error);
  EXPECT_EQ(rejected.at("error").at("data").at("state"), "draining");
  EXPECT_EQ(rejected.at("error").at("data").at("retryable"), false);
  release = true;
  EXPECT_EQ(h.out->response(1).at("result").at("content").at(0).at("text"), "finished");
  ASSERT_TRUE(h.out->wait([&](const auto&, int) { return h.session->closed(); }, std::chrono::seconds(5)) || h.session->closed());
}

// Workers hand finished requests back without a post to the session; the session reaps them
// before it looks at the next message. So a finished call neither counts against the in-flight
// limit nor blocks its id: with a limit of 2, five calls one after another, all with the same id,
// each sent once the previous one's request is over (finish() seen), are all answered.
TEST(ServerSession, FinishedCallsFreeTheirSlotAndTheirId) {
  SessionHarness h({.max_inflight_per_session = 2});
  add_echo(h.server);
  h.open();
  h.initialize();
  for (int i = 0; i < 5; ++i) {
    auto reply = std::make_shared<testing::RecordingOutbound>();
    h.send(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"again"}}})", reply);
    ASSERT_TRUE(reply->wait([](const auto&, int finished) { return finished == 1; })) << "call " << i;
    const auto r = reply->response(7);
    ASSERT_TRUE(has_result(r)) << "call " << i << ": " << boost::json::serialize(r);
    EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "again");
  }
}

TEST(ServerSession, CoroutineHandlersCanAwaitAsioOperations) {
  SessionHarness h;
  ASSERT_TRUE(h.server.add_tool(
      {.name = "later"},
      AsyncToolHandler([](RequestContext&, const boost::json::object& args) -> boost::asio::awaitable<Result<boost::json::object>> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(20));
        co_await timer.async_wait(boost::asio::use_awaitable);
        co_return tool_text("awaited " + std::string(args.at("what").as_string()));
      })));
  ASSERT_TRUE(h.server.add_prompt({.name = "p"}, AsyncPromptHandler([](RequestContext&, const boost::json::object&)
                                                                        -> boost::asio::awaitable<Result<boost::json::object>> {
                                    co_return boost::json::object{{"messages", boost::json::array{}}};
                                  })));
  h.open();
  h.initialize();
  EXPECT_EQ(h.call(1, "tools/call", R"({"name":"later","arguments":{"what":"a timer"}})").at("result").at("content").at(0).at("text"),
            "awaited a timer");
  EXPECT_TRUE(h.call(2, "prompts/get", R"({"name":"p"})").at("result").at("messages").is_array());
}

TEST(ServerSession, ASessionOpenedAfterShutdownRefusesRequests) {
  SessionHarness h;
  add_echo(h.server);
  h.server.shutdown();
  h.open(Session::Mode::stateless);
  auto r = h.call(1, "tools/call", R"({"name":"echo","arguments":{"text":"x"}})");
  ASSERT_TRUE(r.contains("error")) << boost::json::serialize(r);
  EXPECT_EQ(r.at("error").at("data").at("state"), "closed");
  EXPECT_EQ(r.at("error").at("data").at("retryable"), false);
}

// A session holds its keep_alive (what owns its io_context) for as long as it exists, whoever
// lets it go last, and no longer; a close() it ran does not hold it either.
TEST(ServerSession, KeepAliveLivesExactlyAsLongAsTheSession) {
  Server server;
  auto io = std::make_shared<boost::asio::io_context>(1);
  const std::weak_ptr<boost::asio::io_context> weak_io = io;
  auto session = Session::create(server.core(), io->get_executor(), "kept", Session::Mode::stateful, io);
  io.reset();
  ASSERT_FALSE(weak_io.expired()) << "the session let its io_context go";
  session->close();
  weak_io.lock()->run_for(std::chrono::seconds(5));
  EXPECT_TRUE(session->closed());
  EXPECT_FALSE(weak_io.expired());
  session.reset();
  EXPECT_TRUE(weak_io.expired()) << "something still holds the session or its io_context";
}

// While a handler runs, its task keeps the session's io_context running, whoever else lets the
// session go, and whatever kind of executor the session was given: an io_context's own (stdio),
// a strand of it (HTTP), or another kind (here the io_context's executor with an allocator of its
// own, which makes it a type of its own), for which the guard is taken on the executor itself.
class SessionExecutorKind : public ::testing::TestWithParam<const char*> {};

TEST_P(SessionExecutorKind, AHandlerInFlightKeepsTheIoContextRunningUntilItReturns) {
  Server server;
  std::atomic<bool> started{false}, release{false};
  ASSERT_TRUE(server.add_tool({.name = "hold"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return tool_text("released");
  }));
  boost::asio::io_context io(1);
  const std::string kind = GetParam();
  boost::asio::any_io_executor executor = io.get_executor();
  if (kind == "strand") executor = boost::asio::make_strand(io);
  if (kind == "other") executor = boost::asio::require(io.get_executor(), boost::asio::execution::allocator(std::allocator<char>()));
  auto session = Session::create(server.core(), executor, "held", Session::Mode::stateless);
  auto out = std::make_shared<testing::RecordingOutbound>();
  auto request = jsonrpc::decode(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hold"}})");
  ASSERT_TRUE(request);
  boost::asio::post(io, [&] { session->receive(std::move(*request), out); });
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    io.run();
    returned = true;
  });
  for (int i = 0; i < 5000 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(started) << "the tool did not start within 5 s";
  boost::asio::post(io, [&] { session.reset(); });  // the handler's task holds the session alone now
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(returned) << "io_context::run() returned while a handler was running";
  release = true;
  runner.join();
  EXPECT_EQ(out->response(1).at("result").at("content").at(0).at("text"), "released");
}

INSTANTIATE_TEST_SUITE_P(IoStrandOrOther, SessionExecutorKind, ::testing::Values("io", "strand", "other"));

TEST(ServerSession, StatelessSessionsServeWithoutInitialize) {
  SessionHarness h;
  add_echo(h.server);
  h.open(Session::Mode::stateless);
  auto r = h.call(1, "tools/call", R"({"name":"echo","arguments":{"text":"x"}})");
  EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "x");
}

}  // namespace
}  // namespace trellis
