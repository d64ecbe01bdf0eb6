// The client connection: every row of the client_connection table, with design 001's mechanics.
#include "connection.hpp"

#include "core/current_exception.hpp"

#include "trellis/telemetry/log.hpp"
#include "trellis/version.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cmath>
#include <future>

namespace trellis::client_detail {
namespace {

using telemetry::Logger;

std::chrono::nanoseconds tombstone_ttl(const ClientOptions& o) {
  return o.request_timeout + o.init_timeout + o.backoff_max + std::chrono::seconds(5);
}

std::optional<std::int64_t> integer_id(const jsonrpc::Id& id) {
  if (const auto* v = id.if_int64()) return *v;
  return std::nullopt;
}

bool version_supported(std::string_view version) {
  const auto versions = supported_protocol_versions();
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

// Runs the user's code on the connection's thread. What it throws is logged and goes no further:
// it must not end the thread, nor keep the events after it from running.
template <class Fn>
void run_user_code(std::string_view event, std::string_view method, Fn&& fn) {
  try {
    fn();
  } catch (...) {
    Logger::global().warn(event, {{"method", method}, {"what", detail::current_exception_message()}});
  }
}

}  // namespace

Connection::Connection(TransportFactory factory, ClientOptions options, Runtime runtime)
    : factory_(std::move(factory)),
      options_(std::move(options)),
      own_io_(runtime.executor ? nullptr : std::make_shared<boost::asio::io_context>(1)),
      executor_(runtime.executor ? runtime.executor : own_io_->get_executor()),
      own_scheduler_(runtime.scheduler ? nullptr : std::make_unique<fsm::AsioScheduler>(executor_)),
      scheduler_(runtime.scheduler ? runtime.scheduler : own_scheduler_.get()),
      machine_({.id = "client", .scheduler = scheduler_}),
      breaker_(*scheduler_, {.failure_threshold = options_.breaker_failure_threshold,
                             .open_duration = options_.breaker_open_for,
                             .name = "client_reconnect"}),
      random_(runtime.seed),
      tombstones_(std::chrono::duration_cast<Tombstones::Clock::duration>(tombstone_ttl(options_))) {
  if (own_io_) {
    thread_ = std::thread([io = own_io_] {
      auto work = boost::asio::make_work_guard(*io);
      io->run();
    });
  }
}

Connection::~Connection() {
  if (own_io_) {
    own_io_->stop();
    // The last reference can be dropped by a handler on our own thread: that thread cannot join
    // itself, so it is let go; it owns the io_context and ends as soon as this handler returns.
    if (on_own_thread()) {
      thread_.detach();
    } else if (thread_.joinable()) {
      thread_.join();
    }
  }
  handler_pool_.join();
  drop_transport();
}

template <class Fn>
void Connection::post(Fn fn) {
  boost::asio::post(executor_, [self = shared_from_this(), fn = std::move(fn)]() mutable { fn(*self); });
}

void Connection::fire(E event, S to) {
  if (machine_.fire(event, to)) state_.store(static_cast<std::uint8_t>(machine_.state()), std::memory_order_release);
}

Error Connection::state_error() const {
  return make_error(ErrorKind::state, "client not ready (" + std::string(machine_.state_name()) + ")",
                    boost::json::object{{"state", machine_.state_name()}});
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

void Connection::start(std::function<void(Result<void>)> done) {
  post([done = std::move(done)](Connection& self) mutable {
    if (!self.machine_.is(S::disconnected)) return done(self.state_error());
    self.connect_waiters_.push_back(std::move(done));
    self.fire(E::connect, S::connecting);
    self.start_transport();
  });
}

void Connection::start_transport() {
  if (!launch_transport())
    return schedule_reconnect(E::transport_failed, make_error(ErrorKind::config, "the transport factory returned nothing"));
  // Our transports are usable as soon as they are started: this is the transport_ready edge.
  fire(E::transport_ready, S::negotiating);
  send_initialize();
}

bool Connection::launch_transport() {
  drop_transport();
  ++generation_;
  generation_first_id_ = next_id_;
  transport_ = factory_();
  if (!transport_) return false;
  // Events carry the generation they belong to: a replaced transport is never heard again.
  const std::uint64_t generation = generation_;
  std::weak_ptr<Connection> weak = weak_from_this();
  transport_->start({
      .message = [weak, generation](jsonrpc::Message message) {
        if (auto self = weak.lock()) self->deliver(generation, std::move(message));
      },
      .failed = [weak, generation](Error error) {
        if (auto self = weak.lock())
          self->post([generation, error = std::move(error)](Connection& c) mutable { c.on_transport_failed(generation, std::move(error)); });
      },
      .session_lost = [weak, generation] {
        if (auto self = weak.lock()) self->post([generation](Connection& c) { c.on_session_lost(generation); });
      },
  }, executor_);
  return true;
}

void Connection::deliver(std::uint64_t generation, jsonrpc::Message&& message) {
  // Posted, never run inline: a handler may replace the transport, which must not happen inside
  // the transport's own read handler. The failed/session_lost posts that follow a message are
  // queued after this drain, so the order the transport reported things in is kept.
  if (inbox_.push({generation, std::move(message)})) post([](Connection& c) { c.drain_inbox(); });
}

void Connection::drain_inbox() {
  for (auto& inbound : inbox_.take()) on_transport_message(inbound.generation, std::move(inbound.message));
}

void Connection::drop_transport() {
  if (!transport_) return;
  auto old = std::move(transport_);
  old->close();
}

void Connection::send_initialize() {
  const std::int64_t id = next_id_++;
  initialize_id_ = id;
  boost::json::object elicitation;
  elicitation["form"] = boost::json::object{};
  if (options_.elicitation_url_mode) elicitation["url"] = boost::json::object{};
  boost::json::object capabilities;
  if (options_.handlers.roots) capabilities["roots"] = {{"listChanged", true}};
  if (options_.handlers.sampling) capabilities["sampling"] = boost::json::object{};
  if (options_.handlers.elicitation) capabilities["elicitation"] = std::move(elicitation);
  boost::json::object info{{"name", options_.info.name}, {"version", options_.info.version.empty() ? kVersion : options_.info.version}};
  if (!options_.info.title.empty()) info["title"] = options_.info.title;
  std::string frame;
  jsonrpc::encode_request(frame, jsonrpc::Id(id), "initialize",
                          boost::json::object{{"protocolVersion", options_.protocol_version},
                                              {"capabilities", std::move(capabilities)},
                                              {"clientInfo", std::move(info)}});
  machine_.set_state_timeout(options_.init_timeout, [this] {
    initialize_id_.reset();
    drop_transport();
    breaker_.on_failure();
    schedule_reconnect(E::init_timeout, make_error(ErrorKind::timeout, "no initialize response within " +
                                                                           std::to_string(options_.init_timeout.count()) + " ms"));
  });
  if (auto sent = transport_->send({frame, jsonrpc::MessageKind::request, jsonrpc::Id(id), "initialize"}); !sent)
    on_transport_failed(generation_, sent.error());
}

void Connection::on_initialize_answer(const jsonrpc::Message& message) {
  initialize_id_.reset();
  machine_.cancel_state_timeout();
  if (message.kind() == jsonrpc::MessageKind::error_response) {
    const Error why = message.remote_error();
    // An error answer to initialize will not change by asking again.
    return become_closed(E::init_failed, why);
  }
  const auto* result = message.result().if_object();
  const auto* version = result ? result->if_contains("protocolVersion") : nullptr;
  if (version == nullptr || !version->is_string() || !version_supported(version->get_string())) {
    const Error why = make_error(ErrorKind::protocol, "the server answered initialize with an unsupported protocol version",
                                 boost::json::object{{"protocolVersion", version ? *version : nullptr}});
    return become_closed(E::init_failed, why);
  }
  {
    std::lock_guard lock(snapshot_mutex_);
    protocol_version_ = std::string(version->get_string());
    const auto* info = result->if_contains("serverInfo");
    server_info_ = info && info->is_object() ? info->get_object() : boost::json::object{};
    const auto* caps = result->if_contains("capabilities");
    server_capabilities_ = caps && caps->is_object() ? caps->get_object() : boost::json::object{};
  }
  fire(E::initialize_response, S::ready);
  // The transport learns the version first, so notifications/initialized already carries it.
  transport_->initialized(protocol_version());
  (void)send_notification("notifications/initialized", nullptr);
  retry_count_ = 0;
  breaker_.on_success();
  finish_connect({});
}

void Connection::finish_connect(Result<void> outcome) {
  auto waiters = std::move(connect_waiters_);
  for (auto& w : waiters) w(outcome);
}

std::chrono::milliseconds Connection::backoff_delay() {
  const double base = static_cast<double>(options_.backoff_min.count()) * std::pow(2.0, std::min(retry_count_, 30));
  const double capped = std::min(base, static_cast<double>(options_.backoff_max.count()));
  std::uniform_real_distribution<double> jitter(1.0 - options_.backoff_jitter, 1.0 + options_.backoff_jitter);
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped * jitter(random_)));
}

void Connection::schedule_reconnect(E event, const Error& why) {
  // The first attempt reports to connect(): the caller decides whether to try again.
  if (!connect_waiters_.empty() || !options_.auto_reconnect) return become_closed(event, why);
  if (!machine_.is(S::reconnecting)) fire(event, S::reconnecting);
  if (retry_count_ >= options_.max_reconnect_attempts) {
    return become_closed(E::max_retries, make_error(ErrorKind::transport, "gave up after " + std::to_string(retry_count_) +
                                                                              " reconnect attempts: " + why.message));
  }
  const auto delay = backoff_delay();
  Logger::global().info("trellis.client.reconnect_scheduled",
                        {{"attempt", retry_count_ + 1}, {"delay_ms", delay.count()}, {"reason", why.message}});
  ++retry_count_;
  backoff_timer_ = scheduler_->schedule_after(delay, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->on_backoff_elapsed();
  });
}

void Connection::on_backoff_elapsed() {
  backoff_timer_ = 0;
  if (!machine_.is(S::reconnecting)) return;
  if (!breaker_.allow()) {
    fire(E::backoff_elapsed, S::reconnecting);
    return schedule_reconnect(E::backoff_elapsed, make_error(ErrorKind::backpressure, "circuit breaker open"));
  }
  // The breaker learns the outcome: success at initialize, failure when this attempt fails.
  fire(E::backoff_elapsed, S::connecting);
  ++reconnects_;
  start_transport();
}

void Connection::on_transport_failed(std::uint64_t generation, Error error) {
  if (generation != generation_) return;  // an older transport: already replaced
  Logger::global().warn("trellis.client.transport_failed", {{"generation", generation}, {"reason", error.message}});
  if (machine_.is(S::connecting) || machine_.is(S::negotiating) || machine_.is(S::reconnecting)) breaker_.on_failure();
  const bool resumable = transport_ && transport_->resumable();
  drop_transport();
  machine_.cancel_state_timeout();
  initialize_id_.reset();
  switch (machine_.state()) {
    case S::connecting:
    case S::authenticating:
    case S::negotiating: return schedule_reconnect(E::transport_failed, error);
    case S::ready:
    case S::suspended: {
      if (error.kind == ErrorKind::protocol && machine_.is(S::ready)) {
        const Error closed = make_error(ErrorKind::transport, "connection closed after a protocol error: " + error.message);
        if (!options_.auto_reconnect) return become_closed(E::transport_failed, closed);
        fire(E::frame_too_large, S::reconnecting);
        fail_all(closed, false);
        return schedule_reconnect(E::frame_too_large, error);
      }
      if (!options_.auto_reconnect) return become_closed(E::transport_failed, error);
      // A resumable transport keeps calls in flight: a new generation of the same session may
      // still answer them; their own timeouts bound the wait.
      fire(E::transport_failed, S::reconnecting);
      if (!resumable) fail_all(make_error(ErrorKind::transport, "transport failed: " + error.message), false);
      return schedule_reconnect(E::transport_failed, error);
    }
    case S::draining:
      fail_all(make_error(ErrorKind::transport, "transport failed while draining: " + error.message), false);
      return become_closed(E::transport_failed, error);
    case S::disconnected:
    case S::reconnecting:
    case S::closed: return;
  }
}

void Connection::on_session_lost(std::uint64_t generation) {
  if (generation != generation_) return;
  if (!machine_.is(S::ready)) return on_transport_failed(generation, make_error(ErrorKind::session, "session lost"));
  // The state changes before the calls fail, so whoever sees a failure also sees the new state.
  fire(E::session_lost, S::negotiating);
  fail_all(make_error(ErrorKind::session, "the server lost our session; the client is initializing a new one"), false);
  // The old transport is bound to the lost session: a new generation initializes afresh.
  if (!launch_transport()) return become_closed(E::stop, make_error(ErrorKind::config, "the transport factory returned nothing"));
  send_initialize();
}

void Connection::become_closed(E event, const Error& why) {
  if (machine_.is(S::closed)) return;
  if (backoff_timer_ != 0) scheduler_->cancel(std::exchange(backoff_timer_, 0));
  if (drain_timer_ != 0) scheduler_->cancel(std::exchange(drain_timer_, 0));
  machine_.cancel_state_timeout();
  if (!machine_.is(S::closed)) {
    if (machine_.can_fire(event, S::closed)) {
      fire(event, S::closed);
    } else {
      fire(E::stop, S::closed);
    }
  }
  fail_all(why.kind == ErrorKind::internal ? make_error(ErrorKind::state, "client closed") : why, false);
  drop_transport();
  finish_connect(why);
  auto waiters = std::move(stop_waiters_);
  for (auto& w : waiters) w();
}

void Connection::stop(std::function<void()> done) {
  post([done = std::move(done)](Connection& self) mutable {
    if (self.machine_.is(S::closed)) return done();
    self.stop_waiters_.push_back(std::move(done));
    if (self.machine_.is(S::draining)) return;
    if ((self.machine_.is(S::ready) || self.machine_.is(S::suspended)) && !self.calls_.empty()) {
      self.fire(E::stop, S::draining);
      self.drain_timer_ = self.scheduler_->schedule_after(self.options_.drain_timeout, [weak = self.weak_from_this()] {
        if (auto c = weak.lock()) {
          c->drain_timer_ = 0;
          c->become_closed(E::drain_timeout, make_error(ErrorKind::cancelled, "client stopped before the call finished"));
        }
      });
      return;
    }
    self.become_closed(E::stop, make_error(ErrorKind::state, "client stopped"));
  });
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

void Connection::request(std::string method, boost::json::object params, CallOptions options, Done done) {
  // Queued, never begun inline, even on the connection's thread: a call that fails at once
  // completes from the drain, not inside its caller (which may be the previous call's handler).
  if (outbox_.push({std::move(method), std::move(params), std::move(options), std::move(done)}))
    post([](Connection& c) { c.drain_outbox(); });
}

void Connection::drain_outbox() {
  for (auto& call : outbox_.take())
    begin_call(std::move(call.method), std::move(call.params), std::move(call.options), std::move(call.done));
}

void Connection::begin_call(std::string method, boost::json::object params, CallOptions options, Done done) {
  if (!machine_.is(S::ready)) {
    if (machine_.can_fire(E::user_call, machine_.state())) fire(E::user_call, machine_.state());
    return done(state_error());
  }
  if (options.stop.stop_requested()) return done(make_error(ErrorKind::cancelled, method + " cancelled before it was sent"));
  fire(E::user_call, S::ready);
  const std::int64_t id = next_id_++;
  if (options.on_progress) {
    boost::json::object meta;
    if (auto* existing = params.if_contains("_meta"); existing && existing->is_object()) meta = existing->get_object();
    meta["progressToken"] = id;
    params["_meta"] = std::move(meta);
  }
  std::string frame;
  // Encoded from a value that takes the params over: the encoder takes a value, and handing it
  // the object would copy the whole object into a temporary one.
  jsonrpc::encode_request(frame, jsonrpc::Id(id), method, boost::json::value(std::move(params)));

  Call& call = calls_[id];
  call.generation = generation_;
  call.method = std::move(method);
  call.done = std::move(done);
  call.options = std::move(options);
  call.started = now();
  in_flight_.store(calls_.size(), std::memory_order_relaxed);
  arm_timeout(id, call, call.options.timeout.value_or(options_.request_timeout));
  if (call.options.stop.stop_possible()) {
    std::weak_ptr<Connection> weak = weak_from_this();
    call.on_stop = std::make_unique<std::stop_callback<std::function<void()>>>(call.options.stop, std::function<void()>([weak, id] {
      if (auto self = weak.lock())
        self->post([id](Connection& c) {
          if (c.calls_.contains(id)) {
            if (c.machine_.can_fire(E::cancel, c.machine_.state())) c.fire(E::cancel, c.machine_.state());
            c.end_call(id, make_error(ErrorKind::cancelled, "cancelled by the caller"), true, "cancelled by the caller");
          }
        });
    }));
  }
  send_request(id, std::move(frame), 1);
}

void Connection::send_request(std::int64_t id, std::string frame, int attempt) {
  const auto call = calls_.find(id);
  if (call == calls_.end()) return;  // it ended (timed out, cancelled) while waiting to retry
  if (!transport_) return end_call(id, make_error(ErrorKind::transport, "no transport"), false, "");
  auto sent = transport_->send({frame, jsonrpc::MessageKind::request, jsonrpc::Id(id), call->second.method});
  if (sent) {
    call->second.sent = true;
    return;
  }
  if (sent.error().kind != ErrorKind::backpressure) return end_call(id, sent.error(), false, "");
  if (attempt >= options_.send_attempts)
    return end_call(id, make_error(ErrorKind::backpressure, "the transport stayed busy for " + std::to_string(attempt) + " attempts"),
                    false, "");
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  const auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.send_retry_delay * jitter(random_));
  scheduler_->schedule_after(delay, [weak = weak_from_this(), id, frame = std::move(frame), attempt, generation = generation_]() mutable {
    auto self = weak.lock();
    if (!self) return;
    if (self->generation_ != generation)
      return self->end_call(id, make_error(ErrorKind::transport, "transport replaced while sending"), false, "");
    self->send_request(id, std::move(frame), attempt + 1);
  });
}

void Connection::arm_timeout(std::int64_t id, Call& call, std::chrono::milliseconds after) {
  if (call.timer != 0) scheduler_->cancel(call.timer);
  call.timer = scheduler_->schedule_after(after, [weak = weak_from_this(), id] {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->calls_.find(id);
    if (it == self->calls_.end()) return;
    it->second.timer = 0;
    if (self->machine_.can_fire(E::request_timeout, self->machine_.state()))
      self->fire(E::request_timeout, self->machine_.state());
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(self->now() - it->second.started);
    self->end_call(id,
                   make_error(ErrorKind::timeout, it->second.method + " got no response in " + std::to_string(waited.count()) + " ms",
                              boost::json::object{{"method", it->second.method}, {"waited_ms", waited.count()}}),
                   true, "timed out");
  });
}

void Connection::end_call(std::int64_t id, Result<boost::json::value> outcome, bool tell_server, std::string_view reason) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call call = std::move(it->second);
  calls_.erase(it);
  in_flight_.store(calls_.size(), std::memory_order_relaxed);
  if (call.timer != 0) scheduler_->cancel(call.timer);
  if (!outcome) tombstones_.add(id, now());
  // Only a request the server was sent can be cancelled (the specification's rule for
  // notifications/cancelled).
  if (tell_server && call.sent && transport_ && call.generation == generation_) {
    (void)send_notification("notifications/cancelled", boost::json::object{{"requestId", id}, {"reason", reason}});
  }
  // The stop callback may be running right now on another thread; destroying it here waits for
  // it, and it only posts, so this cannot deadlock.
  call.on_stop.reset();
  run_user_code("trellis.client.callback_exception", call.method, [&] { call.done(std::move(outcome)); });
  if (calls_.empty() && machine_.is(S::draining)) become_closed(E::pending_empty, make_error(ErrorKind::state, "client stopped"));
}

void Connection::fail_all(const Error& error, bool tell_server) {
  std::vector<std::int64_t> ids;
  ids.reserve(calls_.size());
  for (const auto& [id, call] : calls_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (auto id : ids) end_call(id, error, tell_server, error.message);
}

void Connection::on_transport_message(std::uint64_t generation, jsonrpc::Message&& message) {
  if (generation != generation_) {
    ++stale_generation_;  // a transport we already replaced: nothing it says counts
    return;
  }
  switch (message.kind()) {
    case jsonrpc::MessageKind::response:
    case jsonrpc::MessageKind::error_response: {
      const auto id = integer_id(message.id());
      if (initialize_id_ && id == initialize_id_ && machine_.is(S::negotiating)) return on_initialize_answer(message);
      if (machine_.is(S::negotiating) || machine_.is(S::reconnecting) || machine_.is(S::closed)) {
        if (machine_.can_fire(E::frame, machine_.state())) fire(E::frame, machine_.state());
        return;
      }
      return on_response(std::move(message));
    }
    case jsonrpc::MessageKind::notification: return on_notification(message);
    case jsonrpc::MessageKind::request: return on_server_request(std::move(message));
  }
}

void Connection::on_response(jsonrpc::Message&& message) {
  const auto id = integer_id(message.id());
  const auto state = machine_.state();
  const bool can_record = machine_.can_fire(E::response, state);
  if (!id) {
    ++unknown_responses_;
    return;
  }
  if (auto it = calls_.find(*id); it != calls_.end()) {
    if (can_record) fire(E::response, state);
    if (message.kind() == jsonrpc::MessageKind::response) return end_call(*id, message.take_result(), false, "");
    return end_call(*id, message.remote_error(), false, "");
  }
  if (can_record) fire(E::response, state);
  if (tombstones_.contains(*id, now())) {
    ++late_responses_;
    Logger::global().debug("trellis.client.late_response", {{"id", *id}});
  } else if (*id < generation_first_id_) {
    ++stale_generation_;
    Logger::global().debug("trellis.client.stale_generation", {{"id", *id}, {"generation", generation_}});
  } else {
    ++unknown_responses_;
    Logger::global().warn("trellis.client.unknown_response", {{"id", message.id().to_string()}});
  }
}

void Connection::on_notification(const jsonrpc::Message& message) {
  if (machine_.is(S::ready) && machine_.can_fire(E::notification, S::ready)) fire(E::notification, S::ready);
  const std::string_view method = message.method();
  const auto* params = message.params().if_object();
  static const boost::json::object kEmpty;
  const auto& p = params ? *params : kEmpty;
  auto guarded = [&](auto&& fn) { run_user_code("trellis.client.handler_exception", method, fn); };
  const auto& h = options_.handlers;
  if (method == "notifications/progress") {
    const auto* token = p.if_contains("progressToken");
    const auto id = token && token->is_int64() ? std::optional<std::int64_t>(token->get_int64()) : std::nullopt;
    auto it = id ? calls_.find(*id) : calls_.end();
    if (it == calls_.end() || !it->second.options.on_progress) return;
    Call& call = it->second;
    const auto* progress = p.if_contains("progress");
    const auto* total = p.if_contains("total");
    const auto* text = p.if_contains("message");
    guarded([&] {
      call.options.on_progress(progress && progress->is_number() ? progress->to_number<double>() : 0.0,
                               total && total->is_number() ? std::optional<double>(total->to_number<double>()) : std::nullopt,
                               text && text->is_string() ? std::string_view(text->get_string()) : std::string_view());
    });
    if (call.options.reset_timeout_on_progress) {
      auto after = call.options.timeout.value_or(options_.request_timeout);
      if (call.options.max_total_timeout) {
        const auto used = std::chrono::duration_cast<std::chrono::milliseconds>(now() - call.started);
        after = std::min(after, std::max(std::chrono::milliseconds(0), *call.options.max_total_timeout - used));
      }
      arm_timeout(*id, call, after);
    }
  } else if (method == "notifications/message") {
    if (!h.on_log) return;
    const auto* level = p.if_contains("level");
    const auto parsed = level && level->is_string() ? parse_log_level(level->get_string()) : std::nullopt;
    const auto* logger = p.if_contains("logger");
    static const boost::json::value kNull;
    const auto* data = p.if_contains("data");
    guarded([&] {
      h.on_log(parsed.value_or(LogLevel::info), data ? *data : kNull,
               logger && logger->is_string() ? std::string_view(logger->get_string()) : std::string_view());
    });
  } else if (method.starts_with("notifications/") && method.ends_with("/list_changed")) {
    if (h.on_list_changed) {
      const auto kind = method.substr(14, method.size() - 14 - 13);
      guarded([&] { h.on_list_changed(kind); });
    }
  } else if (method == "notifications/resources/updated") {
    const auto* uri = p.if_contains("uri");
    if (h.on_resource_updated && uri && uri->is_string()) guarded([&] { h.on_resource_updated(uri->get_string()); });
  } else if (h.on_notification) {
    guarded([&] { h.on_notification(method, message.params()); });
  }
}

void Connection::on_server_request(jsonrpc::Message&& message) {
  const std::string_view method = message.method();
  if (method == "ping") return reply(message.id(), boost::json::object{});
  const auto& h = options_.handlers;
  using Handler = std::function<Result<boost::json::value>(const boost::json::object&)>;
  Handler handler;
  if (method == "sampling/createMessage" && h.sampling) {
    handler = [fn = h.sampling](const boost::json::object& p) -> Result<boost::json::value> {
      auto r = fn(p);
      if (!r) return r.error();
      return boost::json::value(std::move(*r));
    };
  } else if (method == "elicitation/create" && h.elicitation) {
    handler = [fn = h.elicitation](const boost::json::object& p) -> Result<boost::json::value> {
      auto r = fn(p);
      if (!r) return r.error();
      // Form mode: fill in the defaults the schema declares and the answer leaves out.
      const auto* schema = p.if_contains("requestedSchema");
      const auto* action = r->if_contains("action");
      if (schema && schema->is_object() && action && action->is_string() && action->get_string() == "accept") {
        const auto* content = r->if_contains("content");
        (*r)["content"] = apply_schema_defaults(schema->get_object(), content && content->is_object() ? content->get_object()
                                                                                                     : boost::json::object{});
      }
      return boost::json::value(std::move(*r));
    };
  } else if (method == "roots/list" && h.roots) {
    handler = [fn = h.roots](const boost::json::object&) -> Result<boost::json::value> {
      auto r = fn();
      if (!r) return r.error();
      return boost::json::object{{"roots", std::move(*r)}};
    };
  } else {
    return reply(message.id(), jsonrpc::method_not_found(method));
  }
  boost::asio::post(handler_pool_, [weak = weak_from_this(), handler = std::move(handler), message = std::move(message)]() mutable {
    static const boost::json::object kEmpty;
    const auto* params = message.params().if_object();
    // Whatever the handler throws is answered as an error: the server's request must end.
    Result<boost::json::value> outcome = detail::outcome_of([&] { return handler(params ? *params : kEmpty); });
    if (auto self = weak.lock())
      self->post([id = message.id(), outcome = std::move(outcome)](Connection& c) mutable { c.reply(id, std::move(outcome)); });
  });
}

void Connection::reply(const jsonrpc::Id& id, Result<boost::json::value> outcome) {
  if (!transport_) return;
  std::string frame;
  if (outcome) {
    jsonrpc::encode_result(frame, id, *outcome);
  } else {
    Error error = outcome.error();
    // A handler's refusal reaches the server as an error it can read.
    if (error.code == 0) error.code = jsonrpc_code::internal_error;
    if (error.kind == ErrorKind::internal) error.kind = ErrorKind::remote;
    jsonrpc::encode_error(frame, id, error);
  }
  (void)transport_->send({frame, outcome ? jsonrpc::MessageKind::response : jsonrpc::MessageKind::error_response, id, {}});
}

Result<void> Connection::send_notification(std::string_view method, const boost::json::value& params) {
  std::string frame;
  if (params.is_null()) {
    jsonrpc::encode_notification(frame, method);
  } else {
    jsonrpc::encode_notification(frame, method, params);
  }
  return transport_->send({frame, jsonrpc::MessageKind::notification, {}, method});
}

Result<void> Connection::notify(std::string method, boost::json::object params) {
  auto promise = std::make_shared<std::promise<Result<void>>>();
  auto future = promise->get_future();
  post([promise, method = std::move(method), params = boost::json::value(std::move(params))](Connection& self) {
    if (!self.machine_.is(S::ready) || !self.transport_) return promise->set_value(self.state_error());
    promise->set_value(self.send_notification(method, params));
  });
  return future.get();
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

boost::json::object Connection::server_info() const {
  std::lock_guard lock(snapshot_mutex_);
  return server_info_;
}
boost::json::object Connection::server_capabilities() const {
  std::lock_guard lock(snapshot_mutex_);
  return server_capabilities_;
}
std::string Connection::protocol_version() const {
  std::lock_guard lock(snapshot_mutex_);
  return protocol_version_;
}

ClientStats Connection::stats() const {
  ClientStats s;
  s.late_responses = late_responses_.load();
  s.stale_generation = stale_generation_.load();
  s.unknown_responses = unknown_responses_.load();
  s.reconnects = reconnects_.load();
  s.in_flight = in_flight_.load();
  return s;
}

boost::json::object Connection::debug_state() const {
  if (own_io_ && !on_own_thread()) {
    // The machine lives on the connection's thread: ask it there.
    std::promise<boost::json::object> answer;
    auto future = answer.get_future();
    boost::asio::post(executor_, [this, &answer] { answer.set_value(debug_state()); });
    return future.get();
  }
  auto state = machine_.debug_state(in_flight_.load());
  state["generation"] = generation_;
  state["tombstones"] = tombstones_.size(now());
  const auto s = stats();
  state["late_responses"] = s.late_responses;
  state["stale_generation"] = s.stale_generation;
  state["unknown_responses"] = s.unknown_responses;
  state["reconnects"] = s.reconnects;
  return state;
}

}  // namespace trellis::client_detail
