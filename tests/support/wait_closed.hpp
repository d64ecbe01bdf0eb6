// Closing a session and waiting for it, for tests and fuzz targets (no test framework needed).
#pragma once

#include "trellis/server_session.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace trellis::testing {

// Calls `begin_close` (session.close(), a server shutdown, ...) and waits up to `timeout` for the
// session's on_closed callbacks. False when the session did not close in time.
inline bool closes_within(Session& session, std::chrono::milliseconds timeout, const std::function<void()>& begin_close) {
  std::mutex m;
  std::condition_variable cv;
  bool closed = false;
  session.on_closed([&] {
    std::lock_guard lock(m);
    closed = true;
    cv.notify_all();
  });
  begin_close();
  std::unique_lock lock(m);
  return cv.wait_for(lock, timeout, [&] { return closed; });
}

}  // namespace trellis::testing
