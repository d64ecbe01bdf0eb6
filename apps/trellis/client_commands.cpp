// `trellis tools|call|resources|read|prompts`: the MCP client from the command line.
//
//   trellis tools --stdio -- npx some-server            # list a server's tools
//   trellis call echo --args '{"text":"hi"}' --url http://127.0.0.1:8080/mcp
//
// Readable output by default, the raw JSON result with --json. A failure prints one line to
// stderr and exits non-zero (2 for usage errors, 1 for everything else).
#include "commands.hpp"

#include "trellis/client.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <iostream>

namespace trellis::cli {
namespace {

struct ClientCommandOptions {
  std::string url;
  bool stdio = false;
  std::vector<std::string> command;  // the server command line after `--`
  bool json = false;
  std::string args = "{}";
  std::string name;                // tool, resource uri or prompt name
  std::chrono::milliseconds timeout{30'000};
  std::string log_level = "warn";
};

int fail(const Error& error) {
  std::cerr << "trellis: " << error.describe() << "\n";
  return 1;
}

Result<std::shared_ptr<Client>> open_client(const ClientCommandOptions& o) {
  if (o.url.empty() == !o.stdio || (o.stdio && o.command.empty()))
    return make_error(ErrorKind::config, "give exactly one of --url URL and --stdio -- COMMAND [ARGS...]");
  TransportFactory factory;
  if (!o.url.empty()) {
    factory = [url = o.url] { return make_http_transport({.url = url}); };
  } else {
    factory = [argv = o.command] {
      return make_stdio_transport({.command = argv.front(), .args = std::vector<std::string>(argv.begin() + 1, argv.end())});
    };
  }
  // A command-line call should fail rather than wait through reconnects.
  return Client::connect(std::move(factory), {.info = {.name = "trellis-cli", .version = "", .title = ""},
                                              .auto_reconnect = false});
}

void print_json(const boost::json::value& v) { std::cout << boost::json::serialize(v) << "\n"; }

std::string text_of(const boost::json::value& v, std::string_view key) {
  if (const auto* o = v.if_object())
    if (const auto* s = o->if_contains(key); s && s->is_string()) return std::string(s->get_string());
  return {};
}

void print_list(const boost::json::array& items, std::string_view id_key) {
  for (const auto& item : items) {
    std::cout << text_of(item, id_key);
    const std::string description = text_of(item, "description");
    if (!description.empty()) std::cout << "  —  " << description;
    std::cout << "\n";
  }
}

void print_content(const boost::json::value& content) {
  if (!content.is_array()) return;
  for (const auto& part : content.get_array()) {
    const std::string type = text_of(part, "type");
    if (type == "text") {
      std::cout << text_of(part, "text") << "\n";
    } else if (type == "resource") {
      std::cout << text_of(part.at("resource"), "text") << "\n";
    } else {
      std::cout << "[" << type << " content]\n";
    }
  }
}

int run(const std::string& command, const ClientCommandOptions& o) {
  if (auto level = telemetry::parse_level(o.log_level)) telemetry::Logger::global().set_level(*level);
  auto client = open_client(o);
  if (!client) return fail(client.error());
  const CallOptions call{.timeout = o.timeout};
  auto& c = **client;
  if (command == "tools" || command == "resources" || command == "prompts") {
    auto items = command == "tools" ? c.list_tools(call) : command == "resources" ? c.list_resources(call) : c.list_prompts(call);
    if (!items) return fail(items.error());
    if (o.json) {
      print_json(*items);
    } else {
      print_list(*items, command == "resources" ? "uri" : "name");
    }
    return 0;
  }
  if (command == "call") {
    boost::system::error_code ec;
    auto args = boost::json::parse(o.args, ec);
    if (ec || !args.is_object()) return fail(make_error(ErrorKind::config, "--args must be a JSON object"));
    auto result = c.call_tool(o.name, args.get_object(), call);
    if (!result) return fail(result.error());
    if (o.json) {
      print_json(*result);
    } else {
      print_content(result->contains("content") ? result->at("content") : boost::json::value());
      if (const auto* structured = result->if_contains("structuredContent")) print_json(*structured);
    }
    const auto* is_error = result->if_contains("isError");
    return is_error && is_error->is_bool() && is_error->get_bool() ? 1 : 0;
  }
  // read
  auto result = c.read_resource(o.name, call);
  if (!result) return fail(result.error());
  if (o.json) {
    print_json(*result);
  } else if (const auto* contents = result->if_contains("contents"); contents && contents->is_array()) {
    for (const auto& part : contents->get_array()) {
      if (const auto text = text_of(part, "text"); !text.empty() || !part.as_object().contains("blob")) {
        std::cout << text << "\n";
      } else {
        std::cout << "[" << text_of(part, "mimeType") << " blob, " << text_of(part, "blob").size() << " base64 bytes]\n";
      }
    }
  }
  return 0;
}

void add_connection_options(CLI::App* cmd, ClientCommandOptions& o) {
  cmd->add_option("--url", o.url, "Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp");
  cmd->add_flag("--stdio", o.stdio, "Spawn the server given after `--`: --stdio -- COMMAND [ARGS...]");
  cmd->add_flag("--json", o.json, "Print the raw JSON result");
  cmd->add_option("--timeout-ms", o.timeout, "Per-call timeout in milliseconds")->capture_default_str();
  cmd->add_option("--log-level", o.log_level, "Client log level on stderr")->capture_default_str();
}

}  // namespace

void add_client_commands(CLI::App& app) {
  struct Spec {
    const char* name;
    const char* help;
    const char* positional;  // nullptr: none
  };
  static constexpr Spec kCommands[] = {
      {"tools", "List a server's tools", nullptr},
      {"call", "Call a tool: trellis call TOOL --args '{json}'", "TOOL"},
      {"resources", "List a server's resources", nullptr},
      {"read", "Read a resource: trellis read URI", "URI"},
      {"prompts", "List a server's prompts", nullptr},
  };
  for (const auto& spec : kCommands) {
    auto o = std::make_shared<ClientCommandOptions>();
    auto* cmd = app.add_subcommand(spec.name, spec.help);
    if (spec.positional) cmd->add_option(spec.positional, o->name, "Name or URI")->required();
    if (std::string_view(spec.name) == "call") cmd->add_option("--args", o->args, "Tool arguments as a JSON object");
    add_connection_options(cmd, *o);
    // Everything after `--` is the server command line.
    cmd->add_option("server", o->command, "With --stdio: the server command and its arguments, after --");
    cmd->callback([o, name = std::string(spec.name)] {
      if (const int rc = run(name, *o); rc != 0) throw CLI::RuntimeError(rc);
    });
  }
}

}  // namespace trellis::cli
