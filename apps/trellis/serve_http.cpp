// `trellis serve --http HOST:PORT`: the demo server over Streamable HTTP until SIGINT/SIGTERM.
#include "commands.hpp"

#include "trellis/streamable_http_server.hpp"

#include <charconv>
#include <iostream>

#include <sys/resource.h>

namespace trellis::cli {

int serve_http(Server& server, const std::string& host_port, const HttpServeOptions& options) {
  const auto colon = host_port.rfind(':');
  std::uint16_t port = 0;
  const char* end = host_port.data() + host_port.size();
  if (colon == std::string::npos || std::from_chars(host_port.data() + colon + 1, end, port).ptr != end) {
    std::cerr << "trellis serve: --http expects HOST:PORT, e.g. 127.0.0.1:8080\n";
    return 2;
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // Every connection is a file descriptor, and the usual soft limit of 1024 would stop the
  // server far below its session limit: raise it to the hard limit, as nginx's
  // worker_rlimit_nofile would.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  StreamableHttpServer http(server, {.address = host,
                                     .port = port,
                                     .json_response = options.json_response,
                                     .stateless = options.stateless,
                                     .allowed_origins = options.allowed_origins,
                                     .io_threads = options.io_threads});
  if (auto started = http.start(); !started) {
    std::cerr << "trellis serve: " << started.error().describe() << "\n";
    return 1;
  }
  // One write: scripts wait for this line, and std::cerr is unbuffered.
  std::cerr << "trellis serve: listening on http://" + host_port.substr(0, colon) + ":" + std::to_string(http.port()) + "/mcp\n"
            << std::flush;
  server_stop_hook() = [&http] { http.stop(); };
  http.wait();
  server_stop_hook() = nullptr;
  return 0;
}

}  // namespace trellis::cli
