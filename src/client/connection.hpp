// The client connection actor: the client_connection machine, its transport generations, the
// table of calls in flight, tombstones, reconnection with backoff behind a circuit breaker, and
// the server's requests and notifications. Everything runs on one executor (one thread), so
// nothing here takes a lock except the small snapshot of what initialize returned.
#pragma once

#include "hand_off.hpp"
#include "tombstones.hpp"

#include "trellis/circuit_breaker.hpp"
#include "trellis/client.hpp"
#include "trellis/fsm_asio.hpp"
#include "trellis/machines/client_connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

namespace trellis::client_detail {

using Done = std::function<void(Result<boost::json::value>)>;

// Where the connection runs. Production: its own io thread and real timers. Tests: an executor
// they poll and a ManualScheduler they advance, both on the test thread.
struct Runtime {
  boost::asio::any_io_executor executor;  // empty: the connection runs its own io thread
  fsm::Scheduler* scheduler = nullptr;    // nullptr: real timers on the executor
  std::uint64_t seed = std::random_device{}();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TransportFactory factory, ClientOptions options, Runtime runtime = {});
  ~Connection();

  // Starts the first connection attempt; `done` learns how it ended (once).
  void start(std::function<void(Result<void>)> done);
  void request(std::string method, boost::json::object params, CallOptions options, Done done);
  Result<void> notify(std::string method, boost::json::object params);
  // Graceful stop; `done` runs once the machine is closed.
  void stop(std::function<void()> done);

  // Safe from any thread.
  boost::json::object server_info() const;
  boost::json::object server_capabilities() const;
  std::string protocol_version() const;
  std::string_view state() const noexcept { return machines::client_connection::kStates[state_.load()]; }
  ClientStats stats() const;
  boost::json::object debug_state() const;
  bool on_own_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  using Machine = fsm::Instance<machines::client_connection::kMachine>;
  using S = machines::client_connection::State;
  using E = machines::client_connection::Event;
  using TimerId = fsm::Scheduler::TimerId;

  struct Call {
    std::uint64_t generation = 0;
    bool sent = false;  // the transport took the request: the server may be running it
    std::string method;
    Done done;
    CallOptions options;
    TimerId timer = 0;
    fsm::Scheduler::Clock::time_point started;
    std::unique_ptr<std::stop_callback<std::function<void()>>> on_stop;
  };

  template <class Fn>
  void post(Fn fn);
  void fire(E event, S to);

  // Transport generations.
  void start_transport();
  bool launch_transport();  // a new generation's transport, started; false when the factory gave none
  // From the transport, on any thread: queues the message; the first into an empty inbox posts
  // drain_inbox(), so a read that yields many messages costs one hand-off, not one each.
  void deliver(std::uint64_t generation, jsonrpc::Message&& message);
  void drain_inbox();
  void on_transport_message(std::uint64_t generation, jsonrpc::Message&& message);
  void on_transport_failed(std::uint64_t generation, Error error);
  void on_session_lost(std::uint64_t generation);
  void drop_transport();

  // Lifecycle.
  void send_initialize();
  void on_initialize_answer(const jsonrpc::Message& message);
  void schedule_reconnect(E event, const Error& why);
  void on_backoff_elapsed();
  void become_closed(E event, const Error& why);
  void finish_connect(Result<void> outcome);

  // Calls. request() queues the call; the first into an empty outbox posts drain_outbox().
  void drain_outbox();
  void begin_call(std::string method, boost::json::object params, CallOptions options, Done done);
  // Sends a call's request. While the transport reports backpressure it tries again after a
  // jittered delay, up to send_attempts; any other failure, or the last attempt's, ends the call.
  void send_request(std::int64_t id, std::string frame, int attempt);
  // Encodes and sends a notification; null params: none.
  Result<void> send_notification(std::string_view method, const boost::json::value& params);
  void on_response(jsonrpc::Message&& message);
  void end_call(std::int64_t id, Result<boost::json::value> outcome, bool tell_server, std::string_view reason);
  void arm_timeout(std::int64_t id, Call& call, std::chrono::milliseconds after);
  void fail_all(const Error& error, bool tell_server);

  // What the server sends.
  void on_notification(const jsonrpc::Message& message);
  void on_server_request(jsonrpc::Message&& message);
  void reply(const jsonrpc::Id& id, Result<boost::json::value> outcome);

  Error state_error() const;
  std::chrono::milliseconds backoff_delay();
  fsm::Scheduler::Clock::time_point now() const { return scheduler_->now(); }

  TransportFactory factory_;
  ClientOptions options_;
  std::shared_ptr<boost::asio::io_context> own_io_;  // shared with its thread, which may outlive us
  boost::asio::any_io_executor executor_;
  std::unique_ptr<fsm::AsioScheduler> own_scheduler_;
  fsm::Scheduler* scheduler_;
  Machine machine_;
  std::atomic<std::uint8_t> state_{0};
  CircuitBreaker breaker_;
  std::mt19937_64 random_;
  boost::asio::thread_pool handler_pool_{1};

  struct Inbound {
    std::uint64_t generation;
    jsonrpc::Message message;
  };
  HandOff<Inbound> inbox_;  // what the transport delivered since the last drain
  struct Outbound {
    std::string method;
    boost::json::object params;
    CallOptions options;
    Done done;
  };
  HandOff<Outbound> outbox_;  // calls requested since the last drain

  std::unique_ptr<ClientTransport> transport_;
  std::uint64_t generation_ = 0;
  std::int64_t next_id_ = 1;
  std::int64_t generation_first_id_ = 1;
  std::optional<std::int64_t> initialize_id_;
  int retry_count_ = 0;
  TimerId backoff_timer_ = 0;
  TimerId drain_timer_ = 0;
  std::unordered_map<std::int64_t, Call> calls_;
  Tombstones tombstones_;
  std::vector<std::function<void(Result<void>)>> connect_waiters_;
  std::vector<std::function<void()>> stop_waiters_;

  mutable std::mutex snapshot_mutex_;  // guards the three fields below (read from any thread)
  boost::json::object server_info_;
  boost::json::object server_capabilities_;
  std::string protocol_version_;

  std::atomic<std::uint64_t> late_responses_{0}, stale_generation_{0}, unknown_responses_{0}, reconnects_{0};
  std::atomic<std::size_t> in_flight_{0};
  std::thread thread_;
};

}  // namespace trellis::client_detail
