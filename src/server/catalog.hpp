// What a server offers: tools, resources, templates, prompts and completers, as an immutable
// snapshot. Registration builds a new snapshot (copy-on-write of shared entries); requests read
// the current one without a lock held during the call.
#pragma once

#include "trellis/json_schema.hpp"
#include "trellis/server.hpp"
#include "trellis/uri_template.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trellis::server_detail {

struct ToolEntry {
  ToolDefinition definition;
  ToolHandler handler;
  std::optional<JsonSchema> input_schema;  // always set once registered
  std::optional<JsonSchema> output_schema;
  boost::json::object listed;  // as tools/list shows it
};

struct ResourceEntry {
  ResourceDefinition definition;
  ResourceReader reader;
  boost::json::object listed;
};

struct TemplateEntry {
  ResourceTemplateDefinition definition;
  UriTemplate uri_template;
  ResourceReader reader;
  boost::json::object listed;
};

struct PromptEntry {
  PromptDefinition definition;
  PromptHandler handler;
  boost::json::object listed;
};

struct Catalog {
  // Listing order is registration order; a replaced entry keeps its place.
  std::vector<std::shared_ptr<const ToolEntry>> tools;
  std::vector<std::shared_ptr<const ResourceEntry>> resources;
  std::vector<std::shared_ptr<const TemplateEntry>> templates;
  std::vector<std::shared_ptr<const PromptEntry>> prompts;
  // Keyed by {prompt name or uri template, argument or variable}.
  std::map<std::pair<std::string, std::string>, Completer, std::less<>> prompt_completers;
  std::map<std::pair<std::string, std::string>, Completer, std::less<>> resource_completers;

  const ToolEntry* find_tool(std::string_view name) const noexcept;
  const ResourceEntry* find_resource(std::string_view uri) const noexcept;
  const PromptEntry* find_prompt(std::string_view name) const noexcept;
  // The first template matching `uri`, with the variables it extracted.
  const TemplateEntry* match_template(std::string_view uri, UriVariables& variables) const;
};

// The listed forms ({name, title?, description?, inputSchema, ...}).
boost::json::object list_form(const ToolDefinition& definition);
boost::json::object list_form(const ResourceDefinition& definition);
boost::json::object list_form(const ResourceTemplateDefinition& definition);
boost::json::object list_form(const PromptDefinition& definition);

// Replaces the entry with the same key or appends it.
template <class Entry, class Key>
void upsert(std::vector<std::shared_ptr<const Entry>>& entries, std::shared_ptr<const Entry> entry, Key key) {
  for (auto& existing : entries) {
    if (key(*existing) == key(*entry)) {
      existing = std::move(entry);
      return;
    }
  }
  entries.push_back(std::move(entry));
}

template <class Entry, class Key>
bool erase(std::vector<std::shared_ptr<const Entry>>& entries, std::string_view wanted, Key key) {
  return std::erase_if(entries, [&](const auto& e) { return key(*e) == wanted; }) > 0;
}

// Opaque pagination cursors: one page of `items` starting where `cursor` says.
struct Page {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string next_cursor;  // empty on the last page
};
Result<Page> paginate(std::size_t total, std::size_t page_size, const boost::json::value* cursor);

}  // namespace trellis::server_detail
