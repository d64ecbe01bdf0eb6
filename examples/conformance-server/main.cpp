// conformance-server --port N — the fixture the official MCP conformance suite's server
// scenarios run against (`make conformance-server`), over Streamable HTTP at /mcp.
#include "fixture.hpp"

#include "trellis/streamable_http_server.hpp"

#include <charconv>
#include <csignal>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  std::uint16_t port = 3001;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      const char* text = argv[++i];
      if (std::from_chars(text, text + std::strlen(text), port).ec != std::errc{}) {
        std::cerr << "conformance-server: --port expects a number\n";
        return 2;
      }
    } else {
      std::cerr << "usage: conformance-server [--port N]\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  trellis::Server server({.info = {.name = "trellis-conformance-server", .version = "1.0.0", .title = ""}});
  conformance::register_fixture(server);
  trellis::StreamableHttpServer http(server, {.port = port});
  if (auto started = http.start(); !started) {
    std::cerr << "conformance-server: " << started.error().describe() << "\n";
    return 1;
  }
  std::cerr << "conformance-server: listening on http://127.0.0.1:" << http.port() << "/mcp\n";
  int signal = 0;
  sigwait(&signals, &signal);
  http.stop();
  return 0;
}
