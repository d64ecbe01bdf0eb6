// The shared engine: worker pool, catalog snapshots, live sessions and broadcasts.
#include "core.hpp"

#include "session_impl.hpp"

#include <thread>

namespace trellis::server_detail {
namespace {

std::size_t worker_count(const ServerOptions& options) {
  if (options.worker_threads != 0) return options.worker_threads;
  return std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

}  // namespace

Core::Core(ServerOptions options)
    : options_(std::move(options)),
      workers_(worker_count(options_), options_.worker_spin),
      catalog_(std::make_unique<const std::shared_ptr<const Catalog>>(std::make_shared<const Catalog>())) {}

Core::~Core() {
  workers_.join();
}

boost::json::object Core::capabilities() const {
  return {{"tools", {{"listChanged", true}}},
          {"resources", {{"subscribe", true}, {"listChanged", true}}},
          {"prompts", {{"listChanged", true}}},
          {"logging", boost::json::object{}},
          {"completions", boost::json::object{}}};
}

void Core::add_session(const std::shared_ptr<SessionImpl>& session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.emplace(session.get(), session);
}

void Core::remove_session(const SessionImpl* session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(session);
}

void Core::for_each_session(const std::function<void(SessionImpl&)>& fn) {
  std::vector<std::shared_ptr<SessionImpl>> live;
  {
    std::lock_guard lock(sessions_mutex_);
    live.reserve(sessions_.size());
    for (const auto& [address, weak] : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  // Released outside the lock: the last reference may be one of these.
  for (const auto& s : live) fn(*s);
}

std::size_t Core::session_count() {
  std::size_t n = 0;
  for_each_session([&](SessionImpl&) { ++n; });
  return n;
}

void Core::list_changed(std::string_view kind) {
  const std::string method = "notifications/" + std::string(kind) + "/list_changed";
  for_each_session([&](SessionImpl& s) {
    if (s.initialized() && !s.closed()) s.notify(nullptr, method, {});
  });
}

void Core::shutdown() {
  shutting_down_.store(true, std::memory_order_release);
  for_each_session([](SessionImpl& s) { s.close(); });
}

}  // namespace trellis::server_detail
