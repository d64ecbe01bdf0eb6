// The engine shared by a Server's transports and sessions: options, the catalog snapshot, the
// worker pool that runs handlers, and the live sessions (for broadcasts).
#pragma once

#include "catalog.hpp"
#include "telemetry/read_mostly.hpp"
#include "worker_pool.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace trellis::server_detail {

class SessionImpl;

class Core : public std::enable_shared_from_this<Core> {
 public:
  explicit Core(ServerOptions options);
  ~Core();

  const ServerOptions& options() const noexcept { return options_; }
  WorkerPool& workers() noexcept { return workers_; }

  std::shared_ptr<const Catalog> catalog() const { return telemetry::detail::load_shared(catalog_); }
  // Applies `change` to a copy of the catalog and publishes it; returns what `change` returned.
  template <class Change>
  auto update_catalog(Change change) {
    std::lock_guard lock(update_mutex_);
    auto next = std::make_shared<Catalog>(*catalog());
    auto result = change(*next);
    telemetry::detail::store_shared<const Catalog>(catalog_, std::move(next));
    return result;
  }

  // What to advertise in initialize.
  boost::json::object capabilities() const;

  void add_session(const std::shared_ptr<SessionImpl>& session);
  void remove_session(const SessionImpl* session);
  // Calls `fn` for every live session.
  void for_each_session(const std::function<void(SessionImpl&)>& fn);
  std::size_t session_count();

  // notifications/<kind>/list_changed to every initialized session.
  void list_changed(std::string_view kind);

  // Shuts every session down; new sessions are refused from now on.
  void shutdown();
  bool shutting_down() const noexcept { return shutting_down_.load(std::memory_order_acquire); }

 private:
  ServerOptions options_;
  WorkerPool workers_;
  // Read on every request, replaced when the catalog changes: no lock on the read side.
  telemetry::detail::ReadMostly<std::shared_ptr<const Catalog>> catalog_;
  std::mutex update_mutex_;
  // Keyed by address so that add and remove are O(1). Never lock a weak_ptr into a
  // shared_ptr that could be the last one while holding the mutex: its release would run
  // ~SessionImpl, which calls remove_session.
  std::mutex sessions_mutex_;
  std::unordered_map<const SessionImpl*, std::weak_ptr<SessionImpl>> sessions_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace trellis::server_detail
