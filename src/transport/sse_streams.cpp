// Event ids, the bounded event store and stream attachment of one Streamable HTTP session.
#include "sse_streams.hpp"

#include "trellis/telemetry/log.hpp"

#include <charconv>

namespace trellis::http_detail {
namespace {

class StreamOutbound final : public Outbound {
 public:
  StreamOutbound(std::shared_ptr<SessionStreams> streams, std::uint64_t stream) : streams_(std::move(streams)), stream_(stream) {}
  bool send(std::string message) override {
    streams_->publish(stream_, message);
    return true;
  }
  bool streaming() const noexcept override { return true; }
  void close_stream() override { streams_->cut(stream_); }
  void finish() override { streams_->finish(stream_); }

 private:
  std::shared_ptr<SessionStreams> streams_;
  std::uint64_t stream_;
};

}  // namespace

std::string SessionStreams::frame(std::uint64_t stream, std::uint64_t seq, std::string_view data, bool priming,
                                  std::chrono::milliseconds retry) {
  std::string out = "id: " + std::to_string(stream) + "_" + std::to_string(seq) + "\n";
  if (priming) {
    out += "retry: " + std::to_string(retry.count()) + "\ndata: \n\n";
  } else {
    out.append("event: message\ndata: ").append(data).append("\n\n");
  }
  return out;
}

bool SessionStreams::attached(const Stream& s) noexcept {
  return s.machine.is(State::active) || s.machine.is(State::paused) || s.machine.is(State::closing);
}

SessionStreams::Stream& SessionStreams::stream_at(std::uint64_t id) {
  if (const auto it = streams_.find(id); it != streams_.end()) return it->second;
  std::string name = session_.empty() ? std::string() : session_ + "/";
  name += std::to_string(id);
  return streams_.try_emplace(id, fsm::InstanceOptions{.id = std::move(name), .history_capacity = kHistory}).first->second;
}

// The connection writing `s`, if any. One that went away without detaching (destroyed with its
// server) is a lost connection.
std::shared_ptr<SseSink> SessionStreams::sink_of(Stream& s) {
  auto sink = s.sink.lock();
  if (!sink && attached(s)) lose(s);
  return sink;
}

void SessionStreams::lose(Stream& s) {
  s.sink.reset();
  (void)s.machine.fire(MEvent::connection_lost);
}

void SessionStreams::after_write(Stream& s, Flow flow) {
  switch (flow) {
    case Flow::overrun:  // the connection cuts itself; the client resumes from the store
      return lose(s);
    case Flow::backed_up:
      if (s.machine.is(State::active)) (void)s.machine.fire(MEvent::backpressure);
      return;
    case Flow::flowing:
      if (s.machine.is(State::paused)) (void)s.machine.fire(MEvent::flow_resumed);
      return;
    case Flow::filling:
      return;
  }
}

void SessionStreams::end_if_finished(Stream& s, SseSink& sink) {
  if (!s.finished || !(s.machine.is(State::active) || s.machine.is(State::paused))) return;
  (void)s.machine.fire(MEvent::close);
  sink.end_stream();
}

std::uint64_t SessionStreams::open_stream() {
  std::lock_guard lock(mutex_);
  // Forget finished, unattached streams whose events left the store: nothing can resume them.
  if (streams_.size() > 2 * max_events_ + 16) {
    std::erase_if(streams_, [](const auto& entry) {
      const auto& [id, st] = entry;
      return id != kStandalone && st.finished && st.stored == 0 && !attached(st);
    });
  }
  const auto id = next_stream_++;
  stream_at(id);
  return id;
}

SessionStreams::Attach SessionStreams::attach(std::uint64_t stream, const std::shared_ptr<SseSink>& sink) {
  std::lock_guard lock(mutex_);
  auto& s = stream_at(stream);
  if (sink_of(s)) return Attach::taken;
  if (s.machine.is(State::closed)) return Attach::closed;
  (void)s.machine.fire(MEvent::handshake_ok);  // from opening, or resuming (a new GET of the standalone stream)
  s.sink = sink;
  s.last_write = std::chrono::steady_clock::now();
  after_write(s, sink->write_frame(frame(stream, next_seq_++, {}, true, retry_)));
  end_if_finished(s, *sink);
  return Attach::attached;
}

std::optional<std::uint64_t> SessionStreams::resume(std::string_view last_event_id, const std::shared_ptr<SseSink>& sink) {
  const auto underscore = last_event_id.find('_');
  if (underscore == std::string_view::npos) return std::nullopt;
  std::uint64_t stream = 0, seq = 0;
  const char* begin = last_event_id.data();
  const char* mid = begin + underscore;
  const char* end = begin + last_event_id.size();
  if (std::from_chars(begin, mid, stream).ptr != mid || std::from_chars(mid + 1, end, seq).ptr != end) return std::nullopt;
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream);
  // A stream still opening has sent no event, so no client holds an id of it.
  if (it == streams_.end() || seq >= next_seq_ || it->second.machine.is(State::opening)) return std::nullopt;
  auto& s = it->second;
  if (auto previous = sink_of(s)) previous->abort_stream();  // the newest resume wins
  (void)s.machine.fire(MEvent::reconnect);
  const bool ended = s.machine.is(State::closed);
  if (!ended) {
    s.sink = sink;
    s.last_write = std::chrono::steady_clock::now();
  }
  for (const auto& e : events_)
    if (e.stream == stream && e.seq > seq) sink->replay_frame(e.frame);
  if (ended || s.machine.is(State::closing)) {
    sink->end_stream();
  } else {
    end_if_finished(s, *sink);
  }
  return stream;
}

void SessionStreams::detach(std::uint64_t stream, const SseSink* sink, bool ended) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream);
  if (it == streams_.end() || it->second.sink.lock().get() != sink) return;  // cut or replaced meanwhile
  auto& s = it->second;
  if (ended && s.machine.is(State::closing)) {
    s.sink.reset();
    (void)s.machine.fire(MEvent::flushed);
  } else {
    lose(s);
  }
}

SessionStreams::~SessionStreams() {
  if (budget_) budget_->used.fetch_sub(stored_bytes_, std::memory_order_relaxed);
}

void SessionStreams::publish(std::uint64_t stream, std::string_view json) {
  std::lock_guard lock(mutex_);
  auto& s = stream_at(stream);
  (void)s.machine.fire(MEvent::event);
  if (s.machine.is(State::opening) || s.machine.is(State::closed)) return;  // dropped: see the table
  const std::uint64_t seq = next_seq_++;
  StoredEvent event{stream, seq, frame(stream, seq, json, false, retry_)};
  if (auto sink = sink_of(s)) {
    s.last_write = std::chrono::steady_clock::now();
    after_write(s, sink->write_frame(event.frame));
  }
  stored_bytes_ += event.frame.size();
  if (budget_) budget_->used.fetch_add(event.frame.size(), std::memory_order_relaxed);
  events_.push_back(std::move(event));
  ++s.stored;
  while (events_.size() > max_events_ || (stored_bytes_ > max_bytes_ && events_.size() > 1)) drop_oldest();
  if (!budget_) return;
  const auto used = budget_->used.load(std::memory_order_relaxed);
  if (used <= budget_->limit) {
    // Logged again only once a quarter of the budget has been free, not at every event near it.
    if (used < budget_->limit - budget_->limit / 4) budget_->exhausted.store(false, std::memory_order_relaxed);
    return;
  }
  if (!budget_->exhausted.exchange(true, std::memory_order_relaxed))
    telemetry::Logger::global().warn("trellis.http.store_budget_exhausted",
                                     {{"limit", budget_->limit}, {"effect", "events are not stored for resumption until room frees"}});
  while (!events_.empty() && budget_->used.load(std::memory_order_relaxed) > budget_->limit) drop_oldest();
}

void SessionStreams::drop_oldest() {
  const auto size = events_.front().frame.size();
  --streams_.at(events_.front().stream).stored;
  stored_bytes_ -= size;
  if (budget_) budget_->used.fetch_sub(size, std::memory_order_relaxed);
  events_.pop_front();
}

void SessionStreams::finish(std::uint64_t stream) {
  std::lock_guard lock(mutex_);
  auto& s = stream_at(stream);
  s.finished = true;
  const auto sink = sink_of(s);
  const bool writing = sink && !s.machine.is(State::closing);  // active or paused
  (void)s.machine.fire(MEvent::close);
  if (writing) sink->end_stream();
}

void SessionStreams::cut(std::uint64_t stream) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  if (auto sink = sink_of(it->second)) {
    sink->abort_stream();
    lose(it->second);
  }
}

void SessionStreams::heartbeat(std::chrono::steady_clock::time_point now, std::chrono::seconds every) {
  std::lock_guard lock(mutex_);
  for (auto& [id, s] : streams_) {
    const auto sink = sink_of(s);
    if (!sink) continue;
    // A paused stream learns here that its client caught up, when no event came to tell it.
    if (s.machine.is(State::paused) && sink->flow() == Flow::flowing) (void)s.machine.fire(MEvent::flow_resumed);
    if (!s.machine.is(State::active) || now - s.last_write < every) continue;
    (void)s.machine.fire(MEvent::heartbeat);
    s.last_write = now;
    after_write(s, sink->write_frame(": keep-alive\n\n"));
  }
}

void SessionStreams::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& [id, s] : streams_) {
    const auto sink = sink_of(s);
    if (s.machine.is(State::active) || s.machine.is(State::paused)) {
      (void)s.machine.fire(MEvent::close);
      sink->end_stream();
    } else if (s.machine.is(State::opening) || s.machine.is(State::resuming)) {
      (void)s.machine.fire(MEvent::failed);
    }
  }
}

bool SessionStreams::any_attached() const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, s] : streams_)
    if (!s.sink.expired()) return true;
  return false;
}

std::optional<SessionStreams::State> SessionStreams::state(std::uint64_t stream) const {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream);
  if (it == streams_.end()) return std::nullopt;
  return it->second.machine.state();
}

std::shared_ptr<Outbound> SessionStreams::outbound(std::uint64_t stream) {
  return std::make_shared<StreamOutbound>(shared_from_this(), stream);
}

}  // namespace trellis::http_detail
