// Subcommands of the `trellis` command line; each file registers one on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include "trellis/server.hpp"

#include <functional>
#include <string>
#include <vector>

namespace trellis::cli {

// `trellis fsm`: list machines, print one as Mermaid/DOT/JSON/Markdown, or the whole reference.
void add_fsm_command(CLI::App& app);

// `trellis tools|call|resources|read|prompts`: the MCP client from the command line.
void add_client_commands(CLI::App& app);

// `trellis serve`: the MCP server daemon (demo toolset) over --stdio or --http HOST:PORT.
void add_serve_command(CLI::App& app);

struct HttpServeOptions {
  bool json_response = false;
  bool stateless = false;
  std::vector<std::string> allowed_origins;
  std::size_t io_threads = 2;
};
// What a signal does while serving over HTTP (stops the listener; set by serve_http).
std::function<void()>& server_stop_hook();

// Serves `server` over Streamable HTTP on `host_port` until shut down; returns an exit code.
int serve_http(Server& server, const std::string& host_port, const HttpServeOptions& options);

}  // namespace trellis::cli
