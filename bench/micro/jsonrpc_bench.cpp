// Hot-path costs of the JSON-RPC codec: decoding a typical tools/call request (next to a bare
// Boost.JSON parse of the same text, the floor), encoding into a reused buffer, and finding the
// handler for a method.
#include "trellis/jsonrpc.hpp"

#include <boost/json/parse.hpp>
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

namespace trellis::jsonrpc {
namespace {

// A tools/call as MCP clients send it: a string-free id, a tool name, a few arguments, _meta.
constexpr std::string_view kToolsCall =
    R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_files",)"
    R"("arguments":{"path":"/home/user/project","pattern":"*.cpp","max_results":50,"recursive":true},)"
    R"("_meta":{"progressToken":"tok-42"}}})";

void BM_JsonrpcDecodeToolsCall(benchmark::State& state) {
  for (auto _ : state) {
    auto message = decode(kToolsCall);
    benchmark::DoNotOptimize(message);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kToolsCall.size()));
}
BENCHMARK(BM_JsonrpcDecodeToolsCall);

// The floor: Boost.JSON parsing the same text into a DOM, without any JSON-RPC validation.
void BM_BoostJsonParseToolsCall(benchmark::State& state) {
  for (auto _ : state) {
    auto json = boost::json::parse(kToolsCall);
    benchmark::DoNotOptimize(json);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kToolsCall.size()));
}
BENCHMARK(BM_BoostJsonParseToolsCall);

// A small tools/call result, as a tool returns it, into a buffer reused for every message.
void BM_JsonrpcEncodeResultReusedBuffer(benchmark::State& state) {
  const boost::json::value result = {
      {"content", boost::json::array{boost::json::object{{"type", "text"}, {"text", "3 files matched"}}}},
      {"isError", false}};
  const Id id = 42;
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    encode_result(out, id, result);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_JsonrpcEncodeResultReusedBuffer);

void BM_JsonrpcEncodeRequestReusedBuffer(benchmark::State& state) {
  auto decoded = decode(kToolsCall);
  const boost::json::value params = decoded->params();
  std::string out;
  out.reserve(4096);
  std::int64_t next_id = 0;
  for (auto _ : state) {
    out.clear();
    encode_request(out, ++next_id, "tools/call", params);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_JsonrpcEncodeRequestReusedBuffer);

// Every method an MCP server answers, then lookups by a view into a decoded message.
Router<int> mcp_router() {
  Router<int> router;
  int n = 0;
  for (const char* method :
       {"initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list",
        "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
        "completion/complete", "logging/setLevel", "tasks/get", "tasks/list", "tasks/cancel", "tasks/result",
        "notifications/initialized", "notifications/cancelled", "notifications/progress",
        "notifications/roots/list_changed"}) {
    router.add(method, ++n);
  }
  return router;
}

void BM_JsonrpcRouterFind(benchmark::State& state) {
  const Router<int> router = mcp_router();
  auto message = decode(kToolsCall);
  const std::string_view method = message->method();
  for (auto _ : state) {
    const int* handler = router.find(method);
    benchmark::DoNotOptimize(handler);
  }
}
BENCHMARK(BM_JsonrpcRouterFind);

void BM_JsonrpcRouterMiss(benchmark::State& state) {
  const Router<int> router = mcp_router();
  const std::string_view method = "tools/unknown";
  for (auto _ : state) {
    const int* handler = router.find(method);
    benchmark::DoNotOptimize(handler);
  }
}
BENCHMARK(BM_JsonrpcRouterMiss);

}  // namespace
}  // namespace trellis::jsonrpc
