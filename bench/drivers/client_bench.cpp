// client_bench — load from the Trellis client library, for comparison with the TypeScript SDK
// client (tools/node/bench/ts_client_bench.mjs takes the same arguments and prints the same JSON).
//
//   client_bench [--warmup N] [--seq N] [--inflight C --count N] (--url URL | --stdio -- CMD ARGS...)
//
// --seq: N sequential `tools/call echo` (blocking calls): p50, p99, mean in µs.
// --inflight: N echo calls in total with C in flight at all times (asynchronous calls; each
// completion starts the next): calls per second. Failed calls are counted, never hidden.
#include "trellis/client.hpp"
#include "trellis/client_transport.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  long warmup = 200, seq = 0, inflight = 0, count = 0;
  std::string url;
  std::vector<std::string> command;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "client_bench: %s\n", what.c_str());
  std::exit(1);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto number = [&] { return i + 1 < argc ? std::atol(argv[++i]) : 0L; };
    if (arg == "--warmup") o.warmup = number();
    else if (arg == "--seq") o.seq = number();
    else if (arg == "--inflight") o.inflight = number();
    else if (arg == "--count") o.count = number();
    else if (arg == "--url" && i + 1 < argc) o.url = argv[++i];
    else if (arg == "--stdio") {
      if (i + 1 < argc && std::string(argv[i + 1]) == "--") ++i;
      o.command.assign(argv + i + 1, argv + argc);
      break;
    } else fail("usage: client_bench [--warmup N] [--seq N] [--inflight C --count N] (--url URL | --stdio -- CMD ARGS...)");
  }
  if (o.url.empty() == o.command.empty()) fail("give exactly one of --url and --stdio");
  return o;
}

const boost::json::object kEcho{{"name", "echo"}, {"arguments", {{"text", "hello"}}}};

// Keeps `concurrency` calls in flight until `total` have completed; returns the seconds taken.
double run_inflight(trellis::Client& client, long concurrency, long total, long& errors) {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool all_done = false;  // set under the mutex by the last completion, so that it is the last to touch these
  std::atomic<long> started{0}, finished{0}, failed{0};
  std::function<void()> start_one = [&] {
    if (started.fetch_add(1) >= total) return;
    client.async_request("tools/call", kEcho, {}, [&](trellis::Result<boost::json::value> outcome) {
      if (!outcome) failed.fetch_add(1);
      if (finished.fetch_add(1) + 1 == total) {
        std::lock_guard lock(mutex);
        all_done = true;
        done_cv.notify_one();
        return;
      }
      start_one();
    });
  };
  const auto t0 = Clock::now();
  for (long i = 0; i < concurrency; ++i) start_one();
  std::unique_lock lock(mutex);
  done_cv.wait(lock, [&] { return all_done; });
  errors = failed.load();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  trellis::TransportFactory factory;
  if (!o.url.empty()) {
    factory = [url = o.url] { return trellis::make_http_transport({.url = url}); };
  } else {
    factory = [command = o.command] {
      return trellis::make_stdio_transport(
          {.command = command.front(), .args = std::vector<std::string>(command.begin() + 1, command.end()),
           .on_stderr = [](std::string_view) {}});
    };
  }
  auto connected = trellis::Client::connect(std::move(factory), {.info = {.name = "client_bench", .version = "1", .title = ""}});
  if (!connected) fail("connect: " + connected.error().describe());
  auto& client = **connected;
  for (long i = 0; i < o.warmup; ++i)
    if (!client.request("tools/call", kEcho)) fail("a warm-up call failed");

  std::string out = "{";
  if (o.seq > 0) {
    std::vector<double> samples;
    samples.reserve(static_cast<std::size_t>(o.seq));
    long errors = 0;
    double total = 0;
    for (long i = 0; i < o.seq; ++i) {
      const auto t0 = Clock::now();
      if (!client.request("tools/call", kEcho)) ++errors;
      samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      total += samples.back();
    }
    std::sort(samples.begin(), samples.end());
    char text[256];
    std::snprintf(text, sizeof text, R"("seq":{"count":%ld,"p50_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"errors":%ld})", o.seq,
                  samples[samples.size() / 2], samples[samples.size() * 99 / 100], total / static_cast<double>(o.seq), errors);
    out += text;
  }
  if (o.inflight > 0 && o.count > 0) {
    long errors = 0;
    const double seconds = run_inflight(client, o.inflight, o.count, errors);
    char text[256];
    std::snprintf(text, sizeof text, R"(%s"inflight":{"count":%ld,"concurrency":%ld,"seconds":%.4f,"calls_per_s":%.1f,"errors":%ld})",
                  o.seq > 0 ? "," : "", o.count, o.inflight, seconds, static_cast<double>(o.count) / seconds, errors);
    out += text;
  }
  std::printf("%s}\n", out.c_str());
  std::fflush(stdout);
  client.stop();
  return 0;
}
