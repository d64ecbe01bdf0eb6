// conformance-client URL — the client side of the official MCP conformance suite.
//
// The suite starts a scripted server, then runs this program with the server's URL and the
// scenario name in MCP_CONFORMANCE_SCENARIO. Each scenario expects the client to do something
// specific (call a given tool, answer an elicitation, survive a closed SSE stream); this program
// does it with trellis::Client over Streamable HTTP and exits 0, or prints the error and exits 1.
#include "trellis/client.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <iostream>

namespace {

int fail(std::string_view what, const trellis::Error& error) {
  std::cerr << "conformance-client: " << what << ": " << error.describe() << "\n";
  return 1;
}

// Calls `name` with `arguments` if the server lists it.
int call_listed_tool(trellis::Client& client, std::string_view name, boost::json::object arguments) {
  auto tools = client.list_tools();
  if (!tools) return fail("tools/list", tools.error());
  for (const auto& tool : *tools) {
    if (tool.at("name").as_string() != name) continue;
    auto result = client.call_tool(name, std::move(arguments));
    if (!result) return fail("tools/call " + std::string(name), result.error());
    std::cout << boost::json::serialize(*result) << "\n";
    return 0;
  }
  std::cerr << "conformance-client: the server does not list the tool " << name << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: conformance-client URL (scenario in MCP_CONFORMANCE_SCENARIO)\n";
    return 2;
  }
  const char* env = std::getenv("MCP_CONFORMANCE_SCENARIO");
  const std::string scenario = env ? env : "initialize";

  trellis::ClientOptions options{.info = {.name = "trellis-conformance-client", .version = "1.0.0", .title = ""}};
  // Accept every elicitation as it is: the client fills in the schema's defaults (SEP-1034).
  options.handlers.elicitation = [](const boost::json::object&) -> trellis::Result<boost::json::object> {
    return boost::json::object{{"action", "accept"}, {"content", boost::json::object{}}};
  };
  options.handlers.sampling = [](const boost::json::object&) -> trellis::Result<boost::json::object> {
    return boost::json::object{{"role", "assistant"},
                               {"content", {{"type", "text"}, {"text", "sampled by the conformance client"}}},
                               {"model", "none"}};
  };
  options.auto_reconnect = false;
  const std::string url = argv[1];
  auto client = trellis::Client::connect([url] { return trellis::make_http_transport({.url = url}); }, options);
  if (!client) return fail("connect", client.error());

  int rc = 0;
  if (scenario == "tools_call") {
    rc = call_listed_tool(**client, "add_numbers", {{"a", 5}, {"b", 3}});
  } else if (scenario == "elicitation-sep1034-client-defaults") {
    rc = call_listed_tool(**client, "test_client_elicitation_defaults", {});
  } else if (scenario == "sse-retry") {
    rc = call_listed_tool(**client, "test_reconnection", {});
  } else {
    auto tools = (*client)->list_tools();
    if (!tools) rc = fail("tools/list", tools.error());
  }
  (*client)->stop();
  return rc;
}
