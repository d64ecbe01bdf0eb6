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

std::uint64_t SessionStreams::open_stream() {
  std::lock_guard lock(mutex_);
  // Forget finished, unattached streams whose events left the store: nothing can resume them.
  if (streams_.size() > 2 * max_events_ + 16) {
    std::erase_if(streams_, [](const auto& entry) {
      const auto& [id, st] = entry;
      return id != kStandalone && st.finished && st.stored == 0 && st.sink.expired();
    });
  }
  const auto id = next_stream_++;
  streams_[id];
  return id;
}

bool SessionStreams::attach(std::uint64_t stream, const std::shared_ptr<SseSink>& sink) {
  std::lock_guard lock(mutex_);
  auto& s = streams_[stream];
  if (s.sink.lock()) return false;
  s.sink = sink;
  s.last_write = std::chrono::steady_clock::now();
  sink->write_frame(frame(stream, next_seq_++, {}, true, retry_));
  if (s.finished) sink->end_stream();
  return true;
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
  if (it == streams_.end() || seq >= next_seq_) return std::nullopt;
  if (auto previous = it->second.sink.lock()) previous->abort_stream();  // the newest resume wins
  it->second.sink = sink;
  it->second.last_write = std::chrono::steady_clock::now();
  for (const auto& e : events_)
    if (e.stream == stream && e.seq > seq) sink->replay_frame(e.frame);
  if (it->second.finished) sink->end_stream();
  return stream;
}

void SessionStreams::detach(std::uint64_t stream, const SseSink* sink) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(stream);
  if (it != streams_.end() && it->second.sink.lock().get() == sink) it->second.sink.reset();
}

SessionStreams::~SessionStreams() {
  if (budget_) budget_->used.fetch_sub(stored_bytes_, std::memory_order_relaxed);
}

void SessionStreams::publish(std::uint64_t stream, std::string_view json) {
  std::lock_guard lock(mutex_);
  auto& s = streams_[stream];
  const std::uint64_t seq = next_seq_++;
  Event event{stream, seq, frame(stream, seq, json, false, retry_)};
  if (auto sink = s.sink.lock()) {
    sink->write_frame(event.frame);
    s.last_write = std::chrono::steady_clock::now();
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
  --streams_[events_.front().stream].stored;
  stored_bytes_ -= size;
  if (budget_) budget_->used.fetch_sub(size, std::memory_order_relaxed);
  events_.pop_front();
}

void SessionStreams::finish(std::uint64_t stream) {
  std::lock_guard lock(mutex_);
  auto& s = streams_[stream];
  s.finished = true;
  if (auto sink = s.sink.lock()) sink->end_stream();
}

void SessionStreams::cut(std::uint64_t stream) {
  std::lock_guard lock(mutex_);
  auto& s = streams_[stream];
  if (auto sink = s.sink.lock()) sink->abort_stream();
  s.sink.reset();
}

void SessionStreams::heartbeat(std::chrono::steady_clock::time_point now, std::chrono::seconds every) {
  std::lock_guard lock(mutex_);
  for (auto& [id, s] : streams_) {
    if (now - s.last_write < every) continue;
    if (auto sink = s.sink.lock()) {
      sink->write_frame(": keep-alive\n\n");
      s.last_write = now;
    }
  }
}

void SessionStreams::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& [id, s] : streams_)
    if (auto sink = s.sink.lock()) sink->end_stream();
}

bool SessionStreams::any_attached() const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, s] : streams_)
    if (!s.sink.expired()) return true;
  return false;
}

std::shared_ptr<Outbound> SessionStreams::outbound(std::uint64_t stream) {
  return std::make_shared<StreamOutbound>(shared_from_this(), stream);
}

}  // namespace trellis::http_detail
