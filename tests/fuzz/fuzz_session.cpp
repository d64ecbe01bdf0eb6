// libFuzzer target for a server session: everything an MCP client can say after initialize.
//
// The input is lines. The harness initializes a stateful Session (declaring sampling, elicitation
// and roots), then decodes each line that does not start with '<' with jsonrpc::decode and hands
// what decodes to the session, as a transport would; lines that do not decode are the JSON-RPC
// codec's business (fuzz_jsonrpc). A line that starts with '<' is the client's answer to the
// server's next request of its own (a tool asking for roots, a sample or an elicitation): the
// harness sends `{"jsonrpc":"2.0","id":<that request's id>,` followed by the rest of the line, or
// an error response when the line does not decode or no answer is left. The server's catalog
// (below) has a tool for every feature a request can reach, lists paged two at a time, and small
// in-flight and subscription limits so that an input can reach them.
//
// For arbitrary input:
//  - everything the session writes is one JSON-RPC message that decodes; every response answers
//    an id the client used;
//  - every request gets exactly one response, in time, except that one the client cancelled may
//    get none;
//  - no response is an internal error (-32603): no handler here fails, so one would be the
//    session's own mistake with the client's input; every error has a message;
//  - progress names a token a request carried, and stops once that request is answered;
//  - the session then closes on close() within the drain timeout;
//  - the session changes state only along the server_session table's rows.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "../support/wait_closed.hpp"
#include "trap_illegal_transitions.hpp"
#include "trellis/server.hpp"
#include "trellis/server_session.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace {

using namespace trellis;
using boost::json::array;
using boost::json::object;

constexpr auto kAnswerWait = std::chrono::seconds(10);  // far above any handler here
constexpr auto kDrainTimeout = std::chrono::seconds(2);

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz_session: %s\n", what);
  __builtin_trap();
}

object parse_object(std::string_view json) { return boost::json::parse(json).as_object(); }

void must(const Result<void>& added) { check(added.has_value(), "the catalog does not register"); }

std::string string_argument(const object& args, std::string_view key) {
  const auto* value = args.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// Returns early when the request is cancelled.
void pause(RequestContext& context, std::chrono::milliseconds how_long) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, context.stop_token(), how_long, [] { return false; });
}

void register_catalog(Server& server) {
  must(server.add_tool({.name = "echo",
                        .input_schema = parse_object(R"({"type":"object","additionalProperties":false,"required":["text"],
                          "properties":{"text":{"type":"string","maxLength":64,"pattern":"^[a-z ]*$"}}})")},
                       [](RequestContext&, const object& args) -> Result<object> {
                         return tool_text(string_argument(args, "text"));
                       }));
  // Returns what it is given as structured content, which its outputSchema may refuse.
  must(server.add_tool({.name = "reflect",
                        .input_schema = parse_object(R"({"type":"object"})"),
                        .output_schema = parse_object(R"({"type":"object","required":["n"],
                          "properties":{"n":{"type":"integer","minimum":0,"multipleOf":3}}})")},
                       [](RequestContext&, const object& args) -> Result<object> {
                         object result = tool_text("reflected");
                         if (const auto* value = args.if_contains("value")) result["structuredContent"] = *value;
                         return result;
                       }));
  must(server.add_tool({.name = "ask",
                        .input_schema = parse_object(R"({"type":"object","required":["what"],
                          "properties":{"what":{"enum":["roots","sampling","elicitation"]}}})")},
                       [](RequestContext& context, const object& args) -> Result<object> {
                         const std::string what = string_argument(args, "what");
                         const auto reply = [](const auto& answer) {
                           return answer ? tool_text(boost::json::serialize(*answer)) : tool_error(answer.error().message);
                         };
                         if (what == "roots") return reply(context.list_roots());
                         if (what == "sampling") return reply(context.create_message({{"maxTokens", 5}}));
                         return reply(context.elicit({{"message", "name?"}}));
                       }));
  must(server.add_tool({.name = "chatty", .input_schema = parse_object(R"({"type":"object"})")},
                       [](RequestContext& context, const object& args) -> Result<object> {
                         for (int step = 1; step <= 3; ++step) {
                           context.report_progress(step, 3, "step");
                           context.log(LogLevel::debug, args);
                           context.log(LogLevel::warning, "step", "fuzz");
                         }
                         return tool_text("done");
                       }));
  // Takes a millisecond unless cancelled first: what cancellation can catch in flight.
  must(server.add_tool({.name = "wait", .input_schema = parse_object(R"({"type":"object"})")},
                       [](RequestContext& context, const object&) -> Result<object> {
                         pause(context, std::chrono::milliseconds(1));
                         return tool_text(context.stop_requested() ? "stopped" : "waited");
                       }));
  must(server.add_tool({.name = "throws", .input_schema = parse_object(R"({"type":"object"})")},
                       [](RequestContext&, const object&) -> Result<object> { throw std::runtime_error("thrown"); }));

  const auto text = [](RequestContext&, std::string_view uri, const UriVariables& variables) -> Result<array> {
    std::string body;
    for (const auto& [name, value] : variables) body += name + "=" + value + ";";
    return array{text_resource(uri, "text/plain", body)};
  };
  for (const char* uri : {"demo://a", "demo://b", "demo://c"}) must(server.add_resource({.uri = uri, .name = uri}, text));
  must(server.add_resource_template({.uri_template = "demo://items/{id}{?q,page}", .name = "item"}, text));
  must(server.add_resource_template({.uri_template = "file:///{+path}", .name = "file"}, text));

  must(server.add_prompt({.name = "greet", .arguments = {{.name = "name", .required = true}}},
                         [](RequestContext&, const object& args) -> Result<object> {
                           return object{{"messages", array{object{{"role", "user"},
                                                                   {"content", object{{"type", "text"},
                                                                                      {"text", "hi " + string_argument(args, "name")}}}}}}};
                         }));
  must(server.add_prompt({.name = "plain"}, [](RequestContext&, const object&) -> Result<object> {
    return object{{"messages", array{}}};
  }));
  // More than the 100 values a completion may carry, so that hasMore is reachable.
  const auto names = [](std::string_view value, const object&) -> Result<std::vector<std::string>> {
    std::vector<std::string> found;
    for (int i = 0; i < 150; ++i) {
      std::string name = "n" + std::to_string(i);
      if (name.starts_with(value)) found.push_back(std::move(name));
    }
    return found;
  };
  server.add_prompt_completion("greet", "name", names);
  server.add_resource_completion("demo://items/{id}{?q,page}", "id", names);
}

// One io thread for every session's events, and a server whose limits an input can reach.
struct Fixture {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  Server server{{.worker_threads = 2,
                 .worker_spin = std::chrono::microseconds(0),
                 .max_inflight_per_session = 8,
                 .max_subscriptions_per_session = 4,
                 .page_size = 2,
                 .drain_timeout = kDrainTimeout}};
  Fixture() {
    fuzzing::trap_illegal_transitions("fuzz_session");  // every session changes state along its table
    register_catalog(server);
  }
};

Fixture& fixture() {
  static auto* fixture = new Fixture;  // never destroyed: workers may outlive static destruction
  return *fixture;
}

// The client's end of the session: checks and counts what the server writes, and answers the
// server's own requests from the input's '<' lines.
class Client final : public Outbound {
 public:
  explicit Client(std::deque<std::string> answers) : answers_(std::move(answers)) {}

  void attach(const std::shared_ptr<Session>& session) { session_ = session; }

  // Counts one request the harness is about to send, before the session may answer it.
  void expect(const jsonrpc::Id& id, const boost::json::object* params) {
    std::lock_guard lock(mutex_);
    // Which answer ends which token is ambiguous for a reused id: its tokens are not tracked.
    const bool reused = ++requests_[id] > 1;
    if (const auto it = token_of_.find(id); reused && it != token_of_.end()) untracked_tokens_.insert(it->second);
    const auto token = progress_token(params);
    if (!token) return;
    if (reused) {
      untracked_tokens_.insert(*token);
      return;
    }
    token_of_.emplace(id, *token);
    ++unanswered_with_token_[*token];
  }
  void cancel(const jsonrpc::Id& id) {
    std::lock_guard lock(mutex_);
    cancelled_.insert(id);
  }

  bool send(std::string text) override {
    // To see what a finding does: TRELLIS_FUZZ_VERBOSE=1 build/bin/replay_session FILE
    static const bool verbose = std::getenv("TRELLIS_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "< %s\n", text.c_str());
    auto message = jsonrpc::decode(text);
    check(message.has_value(), "the session wrote a message that does not decode");
    switch (message->kind()) {
      case jsonrpc::MessageKind::request: answer(message->id()); break;
      case jsonrpc::MessageKind::notification:
        check(message->method().starts_with("notifications/"), "a notification outside notifications/");
        if (message->method() == "notifications/progress") check_progress(message->params().if_object());
        break;
      case jsonrpc::MessageKind::error_response:
        check(message->error_code() != jsonrpc_code::internal_error, "an internal error answers the client's input");
        check(message->error_code() != 0 && !message->error_message().empty(), "an error without code or message");
        [[fallthrough]];
      case jsonrpc::MessageKind::response: {
        std::lock_guard lock(mutex_);
        check(requests_.contains(message->id()), "a response to an id the client never used");
        ++responses_[message->id()];
        if (const auto it = token_of_.find(message->id()); it != token_of_.end()) --unanswered_with_token_[it->second];
        changed_.notify_all();
        break;
      }
    }
    return true;
  }
  bool streaming() const noexcept override { return true; }

  // Waits until every request the client did not cancel has its one response.
  bool wait_for_answers() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kAnswerWait, [&] {
      for (const auto& [id, count] : requests_) {
        if (!cancelled_.contains(id) && responses_[id] < count) return false;
      }
      return true;
    });
  }

  // After the session closed: nothing answered twice, nothing left unanswered but cancellations.
  void check_every_request_ended() {
    std::lock_guard lock(mutex_);
    for (const auto& [id, count] : requests_) {
      const int answered = responses_[id];
      check(answered <= count, "a request answered twice");
      check(answered == count || cancelled_.contains(id), "a request left without an answer");
    }
  }

 private:
  // A request's progress token as JSON text; nullopt without one, or for a fractional number,
  // which need not survive a round trip through text digit for digit.
  static std::optional<std::string> progress_token(const boost::json::object* params) {
    const auto* meta = params ? params->if_contains("_meta") : nullptr;
    const auto* token = meta && meta->is_object() ? meta->get_object().if_contains("progressToken") : nullptr;
    if (token == nullptr || !(token->is_string() || token->is_int64() || token->is_uint64())) return std::nullopt;
    return boost::json::serialize(*token);
  }

  // MCP: progress names a token the client sent, and stops once its request is answered.
  void check_progress(const boost::json::object* params) {
    const auto* value = params ? params->if_contains("progressToken") : nullptr;
    check(value != nullptr, "progress without a progressToken");
    if (value->is_double()) return;
    const std::string token = boost::json::serialize(*value);
    std::lock_guard lock(mutex_);
    if (untracked_tokens_.contains(token)) return;
    const auto it = unanswered_with_token_.find(token);
    check(it != unanswered_with_token_.end(), "progress for a token no request carried");
    check(it->second > 0, "progress after its request was answered");
  }

  void answer(const jsonrpc::Id& id) {
    std::string line;
    {
      std::lock_guard lock(mutex_);
      if (!answers_.empty()) {
        line = std::move(answers_.front());
        answers_.pop_front();
      }
    }
    const std::string head = "{\"jsonrpc\":\"2.0\",\"id\":" + id.to_string() + ",";
    auto message = jsonrpc::decode(head + line);
    const bool answers_it = message && (message->kind() == jsonrpc::MessageKind::response ||
                                        message->kind() == jsonrpc::MessageKind::error_response);
    if (!answers_it) message = jsonrpc::decode(head + R"("error":{"code":-1,"message":"no answer"}})");
    if (auto session = session_.lock()) session->receive(std::move(*message), nullptr);
  }

  std::weak_ptr<Session> session_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> answers_;
  std::unordered_map<jsonrpc::Id, int> requests_;
  std::unordered_map<jsonrpc::Id, int> responses_;
  std::unordered_set<jsonrpc::Id> cancelled_;
  std::unordered_map<jsonrpc::Id, std::string> token_of_;         // requests that carried a token
  std::unordered_map<std::string, int> unanswered_with_token_;    // token → its requests not answered yet
  std::unordered_set<std::string> untracked_tokens_;
};

void send(Session& session, Client& client, const std::shared_ptr<Client>& reply, jsonrpc::Message message) {
  switch (message.kind()) {
    case jsonrpc::MessageKind::request:
      client.expect(message.id(), message.params().if_object());
      session.receive(std::move(message), reply);
      return;
    case jsonrpc::MessageKind::notification:
      if (message.method() == "notifications/cancelled") {
        const auto* params = message.params().if_object();
        const auto* request_id = params ? params->if_contains("requestId") : nullptr;
        if (const auto id = request_id ? jsonrpc::Id::from_json(*request_id) : std::nullopt) client.cancel(*id);
      }
      [[fallthrough]];
    default: session.receive(std::move(message), nullptr);
  }
}

std::shared_ptr<Session> open_session(const std::shared_ptr<Client>& client) {
  auto& f = fixture();
  auto session = Session::create(f.server.core(), f.io.get_executor(), "fuzz");
  client->attach(session);
  session->set_standalone(client);
  send(*session, *client, client,
       *jsonrpc::decode(R"({"jsonrpc":"2.0","id":"harness-init","method":"initialize","params":{"protocolVersion":"2025-11-25",)"
                        R"("capabilities":{"sampling":{},"elicitation":{},"roots":{}},"clientInfo":{"name":"fuzz","version":"1"}}})"));
  send(*session, *client, client, *jsonrpc::decode(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  return session;
}

void close_session(Session& session) {
  check(testing::closes_within(session, kDrainTimeout + std::chrono::seconds(5), [&] { session.close(); }),
        "the session did not close within its drain timeout");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::deque<std::string> answers;
  std::vector<std::string_view> lines;
  while (!input.empty()) {
    const auto end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    if (line.starts_with('<')) {
      answers.emplace_back(line.substr(1));
    } else {
      lines.push_back(line);
    }
  }

  auto client = std::make_shared<Client>(std::move(answers));
  auto session = open_session(client);
  for (const auto line : lines) {
    if (auto message = jsonrpc::decode(line)) send(*session, *client, client, std::move(*message));
  }
  check(client->wait_for_answers(), "a request got no answer in time");
  close_session(*session);
  client->check_every_request_ended();
  return 0;
}
