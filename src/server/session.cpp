// Session lifecycle: admission through the server_session machine, dispatch, completion,
// cancellation, server-to-client requests and the orderly close.
#include "request_context.hpp"

#include "core/current_exception.hpp"

#include "trellis/telemetry/log.hpp"
#include "trellis/version.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/serialize.hpp>

namespace trellis {

std::span<const std::string_view> supported_protocol_versions() noexcept {
  static constexpr std::string_view kVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return kVersions;
}

std::shared_ptr<Session> Session::create(std::shared_ptr<server_detail::Core> core, boost::asio::any_io_executor executor,
                                         std::string id, Mode mode, std::shared_ptr<const void> keep_alive) {
  auto session =
      std::make_shared<server_detail::SessionImpl>(core, std::move(executor), std::move(id), mode, std::move(keep_alive));
  core->add_session(session);
  // Registered after Core::shutdown() took its list of sessions to close: close this one too, so
  // that it refuses requests like every other session of a server that is shutting down. (Added
  // to the registry first, under its mutex: either shutdown()'s list has it or this sees the flag.)
  if (core->shutting_down()) session->close();
  return session;
}

namespace server_detail {
namespace {

using telemetry::Logger;

// -32000 refusals carry the state and whether retrying can help.
Error refusal(std::string message, std::string_view state, bool retry) {
  return make_error(ErrorKind::state, std::move(message), boost::json::object{{"state", state}, {"retryable", retry}},
                    jsonrpc_code::server_error);
}

std::string encode_outcome(const jsonrpc::Id& id, const Result<boost::json::value>& outcome) {
  std::string out;
  if (outcome) {
    jsonrpc::encode_result(out, id, *outcome);
  } else {
    jsonrpc::encode_error(out, id, outcome.error());
  }
  return out;
}

// The io_context of the two executors the transports give a session: an io_context's own
// (serve_stdio) and a strand of it (Streamable HTTP); nullptr for any other kind.
boost::asio::io_context* io_context_of(const boost::asio::any_io_executor& executor) {
  using IoExecutor = boost::asio::io_context::executor_type;
  if (const auto* io = executor.target<IoExecutor>()) return &io->context();
  if (const auto* strand = executor.target<boost::asio::strand<IoExecutor>>()) return &strand->get_inner_executor().context();
  return nullptr;
}

}  // namespace

SessionImpl::SessionImpl(std::shared_ptr<Core> core, boost::asio::any_io_executor executor, std::string id, Mode mode,
                         std::shared_ptr<const void> keep_alive)
    : keep_alive_(std::move(keep_alive)),
      core_(std::move(core)),
      strand_(std::move(executor)),
      io_(io_context_of(strand_)),
      id_(std::move(id)),
      mode_(mode),
      scheduler_(strand_),
      machine_({.id = id_.empty() ? std::string("stdio") : id_, .scheduler = &scheduler_}) {
  if (mode_ == Mode::stateless) {
    // Stateless HTTP: every request stands alone, as if initialize had just happened.
    (void)machine_.fire(MEvent::initialize, MState::initializing);
    (void)machine_.fire(MEvent::initialized);
    client_.protocol_version = std::string(kLatestProtocolVersion);
    initialized_.store(true, std::memory_order_release);
  }
}

SessionImpl::~SessionImpl() { core_->remove_session(this); }

void SessionImpl::receive(jsonrpc::Message message, std::shared_ptr<Outbound> reply) {
  // On the one thread of an io_context that is the session's executor (serve_stdio): what
  // dispatch() would do, without the type-erased handler it allocates on the way there.
  if (const auto* io = strand_.target<boost::asio::io_context::executor_type>(); io && io->running_in_this_thread())
    return on_message(std::move(message), std::move(reply));
  // Dispatch, not post: called on an I/O thread of the session's executor while the strand is
  // idle (the usual case for a transport), the message is handled at once instead of being
  // queued for a later turn of the event loop, or for another thread.
  boost::asio::dispatch(strand_, [self = shared_from_this(), message = std::move(message), reply = std::move(reply)]() mutable {
    self->on_message(std::move(message), std::move(reply));
  });
}

void SessionImpl::set_standalone(std::shared_ptr<Outbound> outbound) {
  telemetry::detail::store_shared(standalone_, std::move(outbound));
}

// What other threads than the transport's post to the strand (close(), finished() and
// resource_updated()) does not keep the session: posted after the transport's last turn of its
// io_context, such a handler never runs, and would hold the session, and through keep_alive_ the
// io_context that holds the handler, forever.
void SessionImpl::close() {
  boost::asio::post(strand_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->begin_close();
  });
}

void SessionImpl::on_closed(std::function<void()> callback) {
  boost::asio::post(strand_, [self = shared_from_this(), callback = std::move(callback)]() mutable {
    if (self->machine_.is(MState::closed)) {
      callback();
    } else {
      self->on_closed_.push_back(std::move(callback));
    }
  });
}

std::string SessionImpl::protocol_version() const {
  return initialized() ? client_.protocol_version : std::string();
}

boost::json::object SessionImpl::debug_state() const { return machine_.debug_state(inflight_.size()); }

void SessionImpl::on_message(jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply) {
  reap_finished();  // before the in-flight limit, duplicate ids and cancellations are looked at
  switch (message.kind()) {
    case jsonrpc::MessageKind::request: return on_request(std::move(message), std::move(reply));
    case jsonrpc::MessageKind::notification: return on_notification(message);
    case jsonrpc::MessageKind::response:
    case jsonrpc::MessageKind::error_response: return on_response(message);
  }
}

void SessionImpl::reply_now(const std::shared_ptr<Outbound>& reply, const jsonrpc::Id& id,
                            const Result<boost::json::value>& result) {
  if (!reply) return;
  reply->send(encode_outcome(id, result));
  reply->finish();
}

std::optional<Error> SessionImpl::admission_error(std::string_view method) {
  const bool ping = method == "ping";
  switch (machine_.state()) {
    case MState::uninitialized:
      (void)machine_.fire(MEvent::request, MState::uninitialized);
      if (ping) return std::nullopt;
      return make_error(ErrorKind::state, "session not initialized: send initialize first",
                        boost::json::object{{"state", "uninitialized"}}, jsonrpc_code::invalid_request);
    case MState::initializing:
    case MState::ready:
      (void)machine_.fire(MEvent::request, machine_.state());
      if (inflight_.size() >= core_->options().max_inflight_per_session)
        return make_error(ErrorKind::backpressure, "too many requests in flight on this session",
                          boost::json::object{{"limit", core_->options().max_inflight_per_session}, {"retryable", true}},
                          jsonrpc_code::server_error);
      return std::nullopt;
    case MState::suspended:
      (void)machine_.fire(MEvent::request, MState::suspended);
      return refusal("server overloaded: retry later", "suspended", true);
    case MState::upgrading:
      (void)machine_.fire(MEvent::request, MState::upgrading);
      return refusal("server upgrading: retry shortly", "upgrading", true);
    case MState::draining:
      (void)machine_.fire(MEvent::request, MState::draining);
      return refusal("server shutting down", "draining", false);
    case MState::closed:
      (void)machine_.fire(MEvent::request, MState::closed);
      return refusal("session closed", "closed", false);
  }
  return std::nullopt;
}

void SessionImpl::on_request(jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply) {
  const std::string_view method = message.method();
  if (method == "initialize") return on_initialize(message, reply);
  if (auto refused = admission_error(method)) return reply_now(reply, message.id(), *refused);

  const Method* handler = methods().find(method);
  if (handler == nullptr) return reply_now(reply, message.id(), jsonrpc::method_not_found(method));
  if (!message.params().is_null() && !message.params().is_object())
    return reply_now(reply, message.id(), jsonrpc::invalid_params("params must be an object"));
  if (!handler->worker) {
    static const boost::json::object kNoParams;
    const auto* params = message.params().if_object();
    return reply_now(reply, message.id(), handler->fn(*this, params ? *params : kNoParams, nullptr));
  }
  const auto [entry, fresh] = inflight_.try_emplace(message.id());
  if (!fresh)
    return reply_now(reply, message.id(),
                     make_error(ErrorKind::protocol, "a request with this id is already in flight",
                                boost::json::object{{"id", message.id().to_json()}}, jsonrpc_code::invalid_request));
  run_on_worker(*handler, std::move(message), std::move(reply), entry);
}

namespace {

// What a worker holds while it runs one of the session's requests, let go in this order:
// - the session, before the work guard: while the guard lives, the session's executor has work,
//   so its io_context keeps running, and serve_stdio cannot return while a worker still holds its
//   session (a handler that outlives the drain timeout at EOF, or a worker between its last post
//   and its last release);
// - the Outbound last: a transport may tie its io_context's lifetime to its replies (Streamable
//   HTTP's stop() waits until none is left), so that the session and the guard, which touch that
//   io_context, are let go while it certainly lives. (stdio's Outbound touches no io_context.)
//
// The work guard is on the io_context itself when the session knows it (one atomic increment),
// and on the type-erased strand only for an executor of another kind.
class SessionWork {
 public:
  SessionWork(boost::asio::io_context* io, const boost::asio::any_io_executor& strand) {
    if (io != nullptr) {
      io_work_.emplace(io->get_executor());
    } else {
      other_work_.emplace(strand);
    }
  }

 private:
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work_;
  std::optional<boost::asio::executor_work_guard<boost::asio::any_io_executor>> other_work_;
};

struct WorkerHold {
  std::shared_ptr<Outbound> outbound;     // destroyed last
  SessionWork work;
  std::shared_ptr<SessionImpl> session;   // destroyed first
};

}  // namespace

void SessionImpl::run_on_worker(const Method& method, jsonrpc::Message&& message, std::shared_ptr<Outbound>&& reply,
                                std::unordered_map<jsonrpc::Id, InFlight>::iterator slot) {
  // The node of an unordered_map stays put until it is erased, and only reap_finished() erases
  // it, after the worker has handed it back.
  InFlight* entry = &slot->second;
  entry->id = &slot->first;
  // Posted with this session as its source: a burst of one client's requests stays with the
  // worker that is busy with it (see WorkerPool::post).
  core_->workers().post([hold = WorkerHold{std::move(reply), SessionWork(io_, strand_), shared_from_this()},
                         fn = method.fn, message = std::move(message), entry, stop = entry->stop.get_token()]() mutable {
    const auto& self = hold.session;
    const auto& outbound = hold.outbound;
    static const boost::json::object kNoParams;
    const auto* params = message.params().if_object();
    RequestContextImpl context(*self, params ? *params : kNoParams, stop, outbound);
    // Whatever the handler throws becomes the request's error, so that the request still ends:
    // the client gets its answer and the session its slot back.
    Result<boost::json::value> outcome = detail::outcome_of(
        [&] { return fn(*self, params ? *params : kNoParams, &context); },
        [&](const std::string& what) {
          Logger::global().error("trellis.server.handler_exception",
                                 {{"method", message.method()}, {"what", telemetry::truncate_for_log(what)}});
        });
    // The worker answers itself instead of handing the response back to the strand: one thread
    // hand-off less on every call. A cancelled request gets no response (MCP cancellation); a
    // cancellation that arrives while the response is being sent is the race the spec allows.
    if (outbound && !entry->cancelled.load(std::memory_order_acquire)) {
      // With more requests waiting to run, the transport may write this response with theirs.
      auto response = encode_outcome(message.id(), outcome);
      if (self->core_->workers().has_queued()) {
        outbound->send_batched(std::move(response));
      } else {
        outbound->send(std::move(response));
      }
    }
    // Handed back before finish(): the transport admits the next request only after finish(), and
    // the strand reaps before it looks at that request, so this one never counts against the
    // session's in-flight limit any more.
    self->finished(entry);
    if (outbound) outbound->finish();
  }, this);
}

void SessionImpl::finished(InFlight* entry) {
  entry->next_finished = finished_.load(std::memory_order_relaxed);
  while (!finished_.compare_exchange_weak(entry->next_finished, entry, std::memory_order_seq_cst,
                                          std::memory_order_relaxed)) {
  }
  // Pairs with begin_close(), which sets draining_ and then reaps: either that reap takes this
  // entry, or this sees draining_ and has the strand reap again.
  if (draining_.load(std::memory_order_seq_cst))
    boost::asio::post(strand_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->reap_finished();
    });
}

void SessionImpl::reap_finished() {
  if (finished_.load(std::memory_order_relaxed) == nullptr && !draining_.load(std::memory_order_relaxed)) return;
  for (InFlight* entry = finished_.exchange(nullptr, std::memory_order_seq_cst); entry != nullptr;) {
    InFlight* next = entry->next_finished;
    inflight_.erase(inflight_.find(*entry->id));
    entry = next;
  }
  if (inflight_.empty() && machine_.is(MState::draining)) drain_finished_or_timeout(false);
}

void SessionImpl::on_notification(const jsonrpc::Message& message) {
  const std::string_view method = message.method();
  const auto* params = message.params().if_object();
  if (method == "notifications/initialized") {
    if (machine_.is(MState::initializing)) {
      machine_.cancel_state_timeout();
      (void)machine_.fire(MEvent::initialized);
    }
    return;
  }
  if (method == "notifications/cancelled") {
    const auto* request_id = params ? params->if_contains("requestId") : nullptr;
    const auto id = request_id ? jsonrpc::Id::from_json(*request_id) : std::nullopt;
    if (!id) return;
    if (const auto it = inflight_.find(*id); it != inflight_.end()) {
      it->second.cancelled.store(true, std::memory_order_release);
      it->second.stop.request_stop();
    }
    return;
  }
  // notifications/roots/list_changed and anything unknown: nothing to do (notifications are never answered).
}

void SessionImpl::on_response(const jsonrpc::Message& message) {
  std::shared_ptr<PendingReply> pending;
  {
    std::lock_guard lock(pending_mutex_);
    const auto it = pending_.find(message.id());
    if (it == pending_.end()) {
      Logger::global().debug("trellis.server.unexpected_response", {{"id", message.id().to_string()}});
      return;
    }
    pending = std::move(it->second);
    pending_.erase(it);
  }
  std::lock_guard lock(pending->mutex);
  if (message.kind() == jsonrpc::MessageKind::response) {
    pending->outcome.emplace(message.result());
  } else {
    pending->outcome.emplace(message.remote_error());
  }
  pending->ready.notify_all();
}

void SessionImpl::on_initialize(const jsonrpc::Message& message, const std::shared_ptr<Outbound>& reply) {
  const bool stateless = mode_ == Mode::stateless;
  if (!stateless && !machine_.is(MState::uninitialized)) {
    if (machine_.can_fire(MEvent::initialize, machine_.state())) (void)machine_.fire(MEvent::initialize, machine_.state());
    return reply_now(reply, message.id(),
                     make_error(ErrorKind::protocol, "session already initialized",
                                boost::json::object{{"state", machine_.state_name()}}, jsonrpc_code::invalid_request));
  }
  const auto* params = message.params().if_object();
  const auto* version = params ? params->if_contains("protocolVersion") : nullptr;
  if (version == nullptr || !version->is_string()) {
    if (!stateless) (void)machine_.fire(MEvent::initialize, MState::uninitialized);
    return reply_now(reply, message.id(), jsonrpc::invalid_params("initialize: protocolVersion must be a string"));
  }
  const auto versions = supported_protocol_versions();
  const std::string_view requested = version->get_string();
  const bool known = std::find(versions.begin(), versions.end(), requested) != versions.end();
  client_.protocol_version = std::string(known ? requested : versions.front());
  if (const auto* caps = params->if_contains("capabilities"); caps && caps->is_object()) client_.capabilities = caps->get_object();
  if (const auto* info = params->if_contains("clientInfo"); info && info->is_object()) {
    const auto& o = info->get_object();
    auto text = [&](std::string_view key) {
      const auto* v = o.if_contains(key);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    client_.info = {.name = text("name"), .version = text("version"), .title = text("title")};
  }
  if (!stateless) {
    (void)machine_.fire(MEvent::initialize, MState::initializing);
    initialized_.store(true, std::memory_order_release);
    machine_.set_state_timeout(core_->options().init_timeout, [this] {
    Logger::global().warn("trellis.server.init_timeout", {{"session", id_}});
      become_closed(MEvent::init_timeout);
    });
  }

  const auto& options = core_->options();
  boost::json::object server_info{{"name", options.info.name},
                                  {"version", options.info.version.empty() ? std::string(kVersion)
                                                                           : options.info.version}};
  if (!options.info.title.empty()) server_info["title"] = options.info.title;
  boost::json::object result{{"protocolVersion", client_.protocol_version},
                             {"capabilities", core_->capabilities()},
                             {"serverInfo", std::move(server_info)}};
  if (!options.instructions.empty()) result["instructions"] = options.instructions;
  reply_now(reply, message.id(), boost::json::value(std::move(result)));
}

void SessionImpl::notify(const std::shared_ptr<Outbound>& preferred, std::string_view method,
                         const boost::json::object& params) {
  std::string out;
  jsonrpc::encode_notification(out, method, params);
  if (preferred && preferred->streaming()) {
    preferred->send(std::move(out));
  } else if (auto standalone = telemetry::detail::load_shared(standalone_)) {
    standalone->send(std::move(out));
  }
}

void SessionImpl::resource_updated(std::string uri) {
  boost::asio::post(strand_, [weak = weak_from_this(), uri = std::move(uri)] {
    auto self = weak.lock();
    if (self && self->subscriptions_.contains(uri)) self->notify(nullptr, "notifications/resources/updated", {{"uri", uri}});
  });
}

Result<boost::json::value> SessionImpl::request_client(const std::shared_ptr<Outbound>& preferred, std::string_view method,
                                                       boost::json::object params, std::chrono::milliseconds timeout,
                                                       std::stop_token stop) {
  std::shared_ptr<Outbound> target = preferred && preferred->streaming() ? preferred : telemetry::detail::load_shared(standalone_);
  if (!target) return make_error(ErrorKind::transport, "no stream to the client is open for a server-to-client request");
  const jsonrpc::Id id(next_request_id_.fetch_add(1, std::memory_order_relaxed));
  auto pending = std::make_shared<PendingReply>();
  {
    std::lock_guard lock(pending_mutex_);
    if (closed()) return make_error(ErrorKind::state, "session closed");
    pending_.emplace(id, pending);
  }
  std::string out;
  jsonrpc::encode_request(out, id, method, params);
  if (!target->send(std::move(out))) {
    std::lock_guard lock(pending_mutex_);
    pending_.erase(id);
    return make_error(ErrorKind::transport, "the client's stream closed before the request was sent");
  }
  std::unique_lock lock(pending->mutex);
  const bool answered = pending->ready.wait_for(lock, stop, timeout, [&] { return pending->outcome.has_value(); });
  if (answered) return std::move(*pending->outcome);
  lock.unlock();
  {
    std::lock_guard guard(pending_mutex_);
    pending_.erase(id);
  }
  const bool cancelled = stop.stop_requested();
  notify(target, "notifications/cancelled",
         {{"requestId", id.to_json()}, {"reason", cancelled ? "the request that needed it was cancelled" : "timed out"}});
  if (cancelled) return make_error(ErrorKind::cancelled, std::string(method) + " cancelled");
  return make_error(ErrorKind::timeout, std::string(method) + " got no answer in " + std::to_string(timeout.count()) + " ms");
}

void SessionImpl::begin_close() {
  draining_.store(true, std::memory_order_seq_cst);
  reap_finished();
  switch (machine_.state()) {
    case MState::uninitialized:
    case MState::initializing: return become_closed(MEvent::shutdown);
    case MState::ready:
      if (inflight_.empty()) return become_closed(MEvent::shutdown);
      [[fallthrough]];
    case MState::suspended:
    case MState::upgrading:
      (void)machine_.fire(MEvent::shutdown, MState::draining);
      machine_.set_state_timeout(core_->options().drain_timeout, [this] { drain_finished_or_timeout(true); });
      return;
    case MState::draining:
    case MState::closed: (void)machine_.fire(MEvent::shutdown, machine_.state()); return;
  }
}

void SessionImpl::drain_finished_or_timeout(bool timed_out) {
  if (timed_out) {
    for (auto& [id, entry] : inflight_) {
      entry.cancelled.store(true, std::memory_order_release);
      entry.stop.request_stop();
    }
  }
  become_closed(timed_out ? MEvent::drain_timeout : MEvent::requests_empty);
}

void SessionImpl::become_closed(MEvent event) {
  if (machine_.is(MState::closed)) return;
  if (!machine_.fire(event, MState::closed)) return;
  closed_.store(true, std::memory_order_release);
  {
    // Wake every handler waiting for the client: it will not answer any more.
    std::lock_guard lock(pending_mutex_);
    for (auto& [id, pending] : pending_) {
      std::lock_guard inner(pending->mutex);
      pending->outcome.emplace(make_error(ErrorKind::state, "session closed"));
      pending->ready.notify_all();
    }
    pending_.clear();
  }
  for (auto& [id, entry] : inflight_) entry.stop.request_stop();
  telemetry::detail::store_shared<Outbound>(standalone_, nullptr);
  auto callbacks = std::move(on_closed_);
  for (auto& callback : callbacks) callback();
}

}  // namespace server_detail
}  // namespace trellis
