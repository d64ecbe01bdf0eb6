// The client against real servers and real failures: `trellis serve --stdio` killed mid-call,
// our HTTP server restarted under the client (session lost), and the official reference servers
// (server-everything over stdio and Streamable HTTP, server-filesystem over stdio).
#include "trellis/client.hpp"
#include "trellis/streamable_http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace trellis {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

ClientOptions quick_reconnects() {
  ClientOptions o;
  o.backoff_min = 50ms;
  o.backoff_max = 200ms;
  o.request_timeout = 10s;
  return o;
}

// Waits until `pred` or 10 s.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A server command that does not exist: connect fails at once and says why.
TEST(ClientIntegration, ConnectToAMissingCommandFailsAtOnceWithTheReason) {
  for (int attempt = 0; attempt < 5; ++attempt) {  // the reason used to depend on which thread won
    const auto t0 = std::chrono::steady_clock::now();
    auto client = Client::connect([] { return make_stdio_transport({.command = "/nonexistent/trellis-server"}); },
                                  {.auto_reconnect = false});
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(client);
    EXPECT_NE(client.error().message.find("cannot start /nonexistent/trellis-server: No such file or directory"),
              std::string::npos)
        << client.error().describe();
    EXPECT_LT(took, 1s) << "connect waited for something that cannot happen";
  }
}

TEST(ClientIntegration, KilledStdioServerFailsTheCallOnceAndTheNextCallRunsOnANewProcess) {
  const fs::path pid_file = fs::temp_directory_path() / ("trellis-kill-test-" + std::to_string(::getpid()));
  // The shell records the server's pid, then becomes the server.
  auto factory = [pid_file] {
    return make_stdio_transport({.command = "/bin/sh",
                                 .args = {"-c", "echo $$ > '" + pid_file.string() + "'; exec '" TRELLIS_TEST_CLI "' serve --stdio --log-level error"},
                                 .on_stderr = [](std::string_view) {}});
  };
  auto client = Client::connect(factory, quick_reconnects());
  ASSERT_TRUE(client) << client.error().describe();
  auto read_pid = [&] {
    std::ifstream in(pid_file);
    pid_t pid = 0;
    in >> pid;
    return pid;
  };
  const pid_t first = read_pid();
  ASSERT_GT(first, 0);

  std::atomic<int> outcomes{0};
  std::optional<Result<boost::json::value>> outcome;
  std::mutex m;
  (*client)->async_request("tools/call", {{"name", "slow"}, {"arguments", {{"steps", 100}, {"delay_ms", 100}}}}, {},
                           [&](Result<boost::json::value> r) {
                             std::lock_guard lock(m);
                             outcome = std::move(r);
                             ++outcomes;
                           });
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return outcomes.load() == 1; }));
  {
    std::lock_guard lock(m);
    ASSERT_FALSE(*outcome);
    EXPECT_EQ(outcome->error().kind, ErrorKind::transport) << outcome->error().describe();
  }
  ASSERT_TRUE(eventually([&] { return (*client)->state() == "ready"; })) << (*client)->state();
  auto echoed = (*client)->call_tool("echo", {{"text", "again"}});
  ASSERT_TRUE(echoed) << echoed.error().describe();
  EXPECT_EQ(echoed->at("content").at(0).at("text"), "again");
  EXPECT_NE(read_pid(), first) << "a new server process answered";
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(outcomes.load(), 1) << "exactly one outcome";
  (*client)->stop();
  fs::remove(pid_file);
}

TEST(ClientIntegration, RestartedHttpServerMakesTheClientInitializeAgain) {
  auto make_server = [] {
    auto server = std::make_unique<Server>(ServerOptions{.worker_threads = 2});
    EXPECT_TRUE(server->add_tool({.name = "echo"}, [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
      return tool_text(args.at("text").as_string());
    }));
    return server;
  };
  auto server = make_server();
  auto http = std::make_unique<StreamableHttpServer>(*server, HttpServerOptions{.port = 0});
  ASSERT_TRUE(http->start());
  const auto port = http->port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  auto client = Client::connect([url] { return make_http_transport({.url = url}); }, quick_reconnects());
  ASSERT_TRUE(client) << client.error().describe();
  ASSERT_TRUE((*client)->call_tool("echo", {{"text", "one"}}));

  // Restart: same port, no memory of the session.
  http->stop();
  http.reset();
  server = make_server();
  http = std::make_unique<StreamableHttpServer>(*server, HttpServerOptions{.port = port});
  ASSERT_TRUE(http->start());

  auto lost = (*client)->call_tool("echo", {{"text", "two"}});
  if (!lost) {
    EXPECT_TRUE(lost.error().kind == ErrorKind::session || lost.error().kind == ErrorKind::state) << lost.error().describe();
  }
  ASSERT_TRUE(eventually([&] { return (*client)->state() == "ready"; })) << (*client)->state();
  auto again = (*client)->call_tool("echo", {{"text", "three"}});
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->at("content").at(0).at("text"), "three");
  (*client)->stop();
  http->stop();
}

TEST(ClientIntegration, CallsCanBeAwaitedInACoroutine) {
  auto client = Client::connect([] {
    return make_stdio_transport({.command = TRELLIS_TEST_CLI, .args = {"serve", "--stdio", "--log-level", "error"}});
  });
  ASSERT_TRUE(client) << client.error().describe();
  boost::asio::io_context io;
  std::optional<Result<boost::json::value>> seen;
  // Built outside the coroutine: g++ 12 mishandles initializer lists inside coroutine bodies.
  boost::json::object params{{"name", "echo"}, {"arguments", {{"text", "awaited"}}}};
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        seen = co_await (*client)->async_call("tools/call", std::move(params), CallOptions{}, boost::asio::use_awaitable);
      },
      boost::asio::detached);
  io.run();
  ASSERT_TRUE(seen && *seen) << (seen ? seen->error().describe() : "no outcome");
  EXPECT_EQ((**seen).at("content").at(0).at("text"), "awaited");
  (*client)->stop();
}

// --- the official reference servers -------------------------------------------------------------

bool node_installed() { return fs::exists(TRELLIS_TEST_NODE); }
const std::string kEverything = TRELLIS_TEST_NODE_MODULES "/@modelcontextprotocol/server-everything/dist/index.js";
const std::string kFilesystem = TRELLIS_TEST_NODE_MODULES "/@modelcontextprotocol/server-filesystem/dist/index.js";

void exercise_everything(Client& client) {
  auto tools = client.list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_GE(tools->size(), 5u);
  auto echoed = client.call_tool("echo", {{"message", "hi"}});
  ASSERT_TRUE(echoed) << echoed.error().describe();
  EXPECT_EQ(echoed->at("content").at(0).at("text"), "Echo: hi");
  auto resources = client.list_resources();
  ASSERT_TRUE(resources) << resources.error().describe();
  ASSERT_FALSE(resources->empty());
  auto read = client.read_resource(resources->at(0).at("uri").as_string());
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_FALSE(read->at("contents").as_array().empty());
  auto prompts = client.list_prompts();
  ASSERT_TRUE(prompts) << prompts.error().describe();
  ASSERT_FALSE(prompts->empty());
  auto prompt = client.get_prompt(prompts->at(0).at("name").as_string());
  ASSERT_TRUE(prompt) << prompt.error().describe();

  // Progress from a long-running tool, then cancel it.
  std::atomic<int> progress{0};
  auto finished = client.call_tool("trigger-long-running-operation", {{"duration", 1}, {"steps", 3}},
                                   {.on_progress = [&](double, std::optional<double>, std::string_view) { ++progress; }});
  ASSERT_TRUE(finished) << finished.error().describe();
  EXPECT_GE(progress.load(), 2);
  std::stop_source stop;
  std::atomic<int> seen{0};
  auto cancelled = std::async(std::launch::async, [&] {
    return client.call_tool("trigger-long-running-operation", {{"duration", 30}, {"steps", 30}},
                            {.on_progress = [&](double, std::optional<double>, std::string_view) { ++seen; }, .stop = stop.get_token()});
  });
  ASSERT_TRUE(eventually([&] { return seen.load() >= 1; }));
  stop.request_stop();
  auto outcome = cancelled.get();
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().kind, ErrorKind::cancelled);
  EXPECT_TRUE(client.ping()) << "the connection survives the cancel";
}

TEST(ClientInterop, ServerEverythingOverStdio) {
  if (!node_installed()) GTEST_SKIP() << "Node is not installed (make node)";
  auto client = Client::connect(
      [] { return make_stdio_transport({.command = TRELLIS_TEST_NODE, .args = {kEverything, "stdio"}, .on_stderr = [](std::string_view) {}}); });
  ASSERT_TRUE(client) << client.error().describe();
  exercise_everything(**client);
}

TEST(ClientInterop, ServerEverythingOverStreamableHttp) {
  if (!node_installed()) GTEST_SKIP() << "Node is not installed (make node)";
  // The reference server listens on $PORT; pick a free one.
  // Below 32768, where Linux never hands out ephemeral ports: a connection of a test running in
  // parallel cannot be holding it (20000 + pid % 20000 could collide with one).
  const int port = 20000 + ::getpid() % 12000;
  auto launcher = make_stdio_transport({.command = TRELLIS_TEST_NODE,
                                        .args = {kEverything, "streamableHttp"},
                                        .env = {{"PORT", std::to_string(port)}},
                                        .on_stderr = [](std::string_view) {}});
  boost::asio::io_context launcher_io;
  auto launcher_work = boost::asio::make_work_guard(launcher_io);
  launcher->start({.message = [](jsonrpc::Message) {}, .failed = [](Error) {}, .session_lost = [] {}}, launcher_io.get_executor());
  std::thread launcher_thread([&] { launcher_io.run(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  Result<std::shared_ptr<Client>> client = make_error(ErrorKind::transport, "not started");
  for (int attempt = 0; attempt < 100 && !client; ++attempt) {
    std::this_thread::sleep_for(100ms);
    client = Client::connect([url] { return make_http_transport({.url = url}); }, {.auto_reconnect = false});
  }
  ASSERT_TRUE(client) << client.error().describe();
  exercise_everything(**client);
  (*client)->stop();
  launcher_io.stop();  // close() runs once the transport's executor has stopped
  launcher_thread.join();
  launcher.reset();  // closes it; a transport goes before the io_context it runs on
}

TEST(ClientInterop, ServerFilesystemOverStdio) {
  if (!node_installed()) GTEST_SKIP() << "Node is not installed (make node)";
  const fs::path dir = fs::temp_directory_path() / ("trellis-fs-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "hello.txt") << "hello from trellis";
  auto client = Client::connect([dir] {
    return make_stdio_transport({.command = TRELLIS_TEST_NODE, .args = {kFilesystem, dir.string()}, .on_stderr = [](std::string_view) {}});
  });
  ASSERT_TRUE(client) << client.error().describe();
  auto tools = (*client)->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  auto listed = (*client)->call_tool("list_directory", {{"path", dir.string()}});
  ASSERT_TRUE(listed) << listed.error().describe();
  EXPECT_NE(std::string(listed->at("content").at(0).at("text").as_string()).find("hello.txt"), std::string::npos);
  auto read = (*client)->call_tool("read_text_file", {{"path", (dir / "hello.txt").string()}});
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_NE(std::string(read->at("content").at(0).at("text").as_string()).find("hello from trellis"), std::string::npos);
  (*client)->stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trellis
