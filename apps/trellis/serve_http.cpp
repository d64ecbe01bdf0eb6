// `trellis serve --http`: placeholder until the Streamable HTTP transport lands.
#include "commands.hpp"

#include <iostream>

namespace trellis::cli {

int serve_http(Server&, const std::string& host_port, const HttpServeOptions&) {
  std::cerr << "trellis serve --http " << host_port << ": the Streamable HTTP transport is not built yet\n";
  return 2;
}

}  // namespace trellis::cli
