// The server side of one MCP session: admission through the server_session machine, dispatch
// of requests to the worker pool, cancellation, and requests from server to client.
#pragma once

#include "core.hpp"
#include "telemetry/read_mostly.hpp"

#include "trellis/fsm_asio.hpp"
#include "trellis/machines/server_session.hpp"
#include "trellis/server_session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <condition_variable>
#include <set>
#include <stop_token>
#include <unordered_map>

namespace trellis::server_detail {

class RequestContextImpl;

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(std::shared_ptr<Core> core, boost::asio::any_io_executor executor, std::string id, Mode mode,
              std::shared_ptr<const void> keep_alive);
  ~SessionImpl() override;

  // Session
  void receive(jsonrpc::Message message, std::shared_ptr<Outbound> reply) override;
  void set_standalone(std::shared_ptr<Outbound> outbound) override;
  void close() override;
  void on_closed(std::function<void()> callback) override;
  const std::string& id() const noexcept override { return id_; }
  std::string protocol_version() const override;
  bool closed() const noexcept override { return closed_.load(std::memory_order_acquire); }
  boost::json::object debug_state() const override;

  // For request contexts and broadcasts (any thread).
  const ClientInfo& client() const noexcept { return client_; }
  bool log_enabled(LogLevel level) const noexcept {
    return static_cast<int>(level) >= log_level_.load(std::memory_order_relaxed);
  }
  // Sends a notification to `preferred` when it streams, else to the standalone stream.
  void notify(const std::shared_ptr<Outbound>& preferred, std::string_view method, const boost::json::object& params);
  bool initialized() const noexcept { return initialized_.load(std::memory_order_acquire); }
  void resource_updated(std::string uri);
  Result<boost::json::value> request_client(const std::shared_ptr<Outbound>& preferred, std::string_view method,
                                            boost::json::object params, std::chrono::milliseconds timeout,
                                            std::stop_token stop);

 private:
  using Machine = fsm::Instance<machines::server_session::kMachine>;
  using MState = machines::server_session::State;
  using MEvent = machines::server_session::Event;

  struct InFlight {
    std::stop_source stop;
    std::atomic<bool> cancelled{false};  // set on the strand, read by the worker before it answers
    const jsonrpc::Id* id = nullptr;     // this entry's key in inflight_
    InFlight* next_finished = nullptr;   // link in finished_, written by the worker that pushes it
  };
  struct PendingReply {
    std::mutex mutex;
    std::condition_variable_any ready;
    std::optional<Result<boost::json::value>> outcome;
  };
  // A request method: `worker` ones run user code on the pool, the rest answer on the strand.
  using MethodFn = Result<boost::json::value> (*)(SessionImpl&, const boost::json::object& params, RequestContextImpl* context);
  struct Method {
    MethodFn fn;
    bool worker;
  };
  static const jsonrpc::Router<Method>& methods();

  // All below run on the strand.
  // The message and the reply are taken by reference and moved from only where they are kept (the
  // worker's task): each move of a Message on the way costs about 70 instructions.
  void on_message(jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply);
  void on_request(jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply);
  void on_notification(const jsonrpc::Message& message);
  void on_response(const jsonrpc::Message& message);
  void on_initialize(const jsonrpc::Message& message, const std::shared_ptr<Outbound>& reply);
  // Refusal per the machine's state, or nullopt when the request may be served.
  std::optional<Error> admission_error(std::string_view method);
  // `slot`: the request's new entry in inflight_.
  void run_on_worker(const Method& method, jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply,
                     std::unordered_map<jsonrpc::Id, InFlight>::iterator slot);
  // A worker has answered (or dropped the answer to) this request: it no longer counts. Any
  // thread; the entry is not touched by the worker after this.
  void finished(InFlight* entry);
  // Erases the requests workers have finished since the last reap, and closes a draining
  // session that has none left (strand).
  void reap_finished();
  void begin_close();
  void drain_finished_or_timeout(bool timed_out);
  void become_closed(MEvent event);
  void reply_now(const std::shared_ptr<Outbound>& reply, const jsonrpc::Id& id, const Result<boost::json::value>& result);

  // MCP methods.
  static Result<boost::json::value> ping(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> set_level(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> list_tools(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> list_resources(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> list_templates(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> list_prompts(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> subscribe(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> unsubscribe(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> call_tool(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> read_resource(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> get_prompt(SessionImpl&, const boost::json::object&, RequestContextImpl*);
  static Result<boost::json::value> complete_argument(SessionImpl&, const boost::json::object&, RequestContextImpl*);

  // What owns the strand's io_context (see Session::create). Declared first, so released last.
  std::shared_ptr<const void> keep_alive_;
  std::shared_ptr<Core> core_;
  // The session's strand: the serial executor every session event runs on (see Session::create).
  boost::asio::any_io_executor strand_;
  // The strand's io_context (nullptr for an executor of another kind), for the work guard each
  // worker's task holds: one atomic increment, where a guard on the type-erased strand_ costs a
  // type-erased prefer() on the I/O thread and a type-erased destruction on the worker (together
  // about 3 % of the samples of a pipelined stdio server).
  boost::asio::io_context* io_;
  std::string id_;
  Mode mode_;
  fsm::AsioScheduler scheduler_;
  Machine machine_;
  ClientInfo client_;  // written once on the strand before initialized_ is set
  std::atomic<bool> initialized_{false};
  std::atomic<int> log_level_{static_cast<int>(LogLevel::info)};
  telemetry::detail::ReadMostly<std::shared_ptr<Outbound>, alignof(std::uint64_t)> standalone_{
      std::make_unique<const std::shared_ptr<Outbound>>()};
  std::unordered_map<jsonrpc::Id, InFlight> inflight_;
  // Requests that workers have finished and the strand has not erased yet: a lock-free stack the
  // workers push onto and the strand takes whole before every message and whenever it decides
  // whether the session is idle. A finished request therefore costs its worker no post to the
  // strand, which would lock the I/O context and often wake an I/O thread just to erase one map
  // entry (a fifth of the CPU of a pipelined echo call). Only a session that is closing, and so
  // waits for its last request, is posted to (draining_). Bounded: every entry is in inflight_,
  // whose size the in-flight limit bounds.
  std::atomic<InFlight*> finished_{nullptr};
  std::atomic<bool> draining_{false};  // close() was called: finished requests post a reap
  std::set<std::string, std::less<>> subscriptions_;
  std::mutex pending_mutex_;
  std::unordered_map<jsonrpc::Id, std::shared_ptr<PendingReply>> pending_;
  std::atomic<std::int64_t> next_request_id_{1};
  std::vector<std::function<void()>> on_closed_;
  std::atomic<bool> closed_{false};
};

}  // namespace trellis::server_detail
