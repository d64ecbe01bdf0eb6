// The SSE streams of one Streamable HTTP session: event ids, the bounded event store used for
// resumption, and which HTTP connection (if any) is writing each stream right now.
//
// Each stream's lifecycle is an instance of the sse_stream machine (trellis/machines/
// sse_stream.hpp): every operation below fires the row its table gives, so a change the table
// lacks is refused, logged and counted like any machine's. A stream has a connection attached in
// the states active, paused and closing, and in no other.
//
// Stream 0 is the standalone GET stream; every POST answered with SSE gets the next number. An
// event id is "<stream>_<seq>" with seq counting across the whole session, so ids are unique per
// session and name their stream; resuming with Last-Event-ID replays the stored events of that
// stream after that seq, in order, then keeps delivering new ones to the resuming connection.
#pragma once

#include "trellis/machines/sse_stream.hpp"
#include "trellis/server_session.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace trellis::http_detail {

// How much of what a stream was sent live waits in its connection for the client to read, against
// HttpServerOptions::max_unsent_sse_bytes.
enum class Flow : std::uint8_t {
  flowing,    // at most half of it: a paused stream flows again
  filling,    // between half and 80 %: no change
  backed_up,  // over 80 %: the stream pauses
  overrun,    // the frame found all of it taken and was refused: the connection cuts itself
};

// An HTTP connection currently writing one SSE stream.
class SseSink {
 public:
  virtual ~SseSink() = default;
  virtual Flow write_frame(std::string frame) = 0;  // one formatted SSE event or comment
  virtual Flow flow() const = 0;                    // the same measure, without writing
  // A stored event resent on resume. What a resume replays is bounded by the store, so it does
  // not count against the bound a connection keeps on the events it is sent live.
  virtual void replay_frame(std::string frame) = 0;
  virtual void end_stream() = 0;                    // the stream is complete: finish the response
  virtual void abort_stream() = 0;                  // the server cuts the stream: close the connection
};

// The bytes the event stores of all of one server's sessions hold, and the most they may hold
// together (HttpServerOptions::max_total_stored_event_bytes).
struct StoreBudget {
  explicit StoreBudget(std::size_t most) : limit(most) {}
  const std::size_t limit;
  std::atomic<std::size_t> used{0};
  std::atomic<bool> exhausted{false};  // logged once each time the stores fill it
};

class SessionStreams : public std::enable_shared_from_this<SessionStreams> {
 public:
  static constexpr std::uint64_t kStandalone = 0;

  // The store keeps at most `max_events` events and `max_bytes` bytes of them, dropping the oldest
  // first; the newest event is kept whatever its size, so that a large response can be resumed.
  // While the stores sharing `budget` hold more than its limit together, this one stores nothing
  // more: it drops its oldest events, the newest too, until they fit again (or it is empty).
  // `session` names the streams' machine instances in logs and telemetry ("<session>/<stream>").
  SessionStreams(std::size_t max_events, std::size_t max_bytes, std::chrono::milliseconds retry,
                 std::shared_ptr<StoreBudget> budget = nullptr, std::string session = {})
      : max_events_(max_events),
        max_bytes_(max_bytes),
        retry_(retry),
        budget_(std::move(budget)),
        session_(std::move(session)) {}
  ~SessionStreams();
  SessionStreams(const SessionStreams&) = delete;
  SessionStreams& operator=(const SessionStreams&) = delete;

  using State = machines::sse_stream::State;
  enum class Attach : std::uint8_t { attached, taken, closed };

  std::uint64_t open_stream();
  // Attaches `sink` to `stream` and writes a priming event (an id, `retry`, empty data). `taken`
  // when another sink writes it (a second GET stream: 409), `closed` when it has ended.
  Attach attach(std::uint64_t stream, const std::shared_ptr<SseSink>& sink);
  // Resumes the stream named by `last_event_id`: replays what follows it, then attaches `sink`
  // (or ends the response, when the stream has ended). Returns the stream; nullopt when the id
  // names no event this session sent.
  std::optional<std::uint64_t> resume(std::string_view last_event_id, const std::shared_ptr<SseSink>& sink);
  // `sink` stops writing `stream`: its response `ended` after the stream's last event, or the
  // connection was lost before that.
  void detach(std::uint64_t stream, const SseSink* sink, bool ended);

  void publish(std::uint64_t stream, std::string_view json);
  void finish(std::uint64_t stream);  // the last message of a POST stream was published
  void cut(std::uint64_t stream);     // close the connection now; the client resumes later
  void heartbeat(std::chrono::steady_clock::time_point now, std::chrono::seconds every);
  void close_all();  // the session closed
  bool any_attached() const;
  std::optional<State> state(std::uint64_t stream) const;

  // An Outbound that publishes into one stream (SSE responses and the standalone stream).
  std::shared_ptr<Outbound> outbound(std::uint64_t stream);

 private:
  using Machine = fsm::Instance<machines::sse_stream::kMachine>;
  using MEvent = machines::sse_stream::Event;
  // The audit trail each stream keeps: a few entries, since an idle session holds one stream.
  static constexpr std::size_t kHistory = 8;

  struct StoredEvent {
    std::uint64_t stream;
    std::uint64_t seq;
    std::string frame;
  };
  struct Stream {
    explicit Stream(fsm::InstanceOptions options) : machine(std::move(options)) {}
    Machine machine;
    std::weak_ptr<SseSink> sink;  // set exactly in the states active, paused and closing
    bool finished = false;        // its last message was published
    std::size_t stored = 0;       // its events in events_ (what a resume could still replay)
    std::chrono::steady_clock::time_point last_write{};
  };
  static std::string frame(std::uint64_t stream, std::uint64_t seq, std::string_view data, bool priming,
                           std::chrono::milliseconds retry);
  static bool attached(const Stream& s) noexcept;
  Stream& stream_at(std::uint64_t id);
  std::shared_ptr<SseSink> sink_of(Stream& s);
  void lose(Stream& s);
  void after_write(Stream& s, Flow flow);
  void end_if_finished(Stream& s, SseSink& sink);
  void drop_oldest();

  mutable std::mutex mutex_;
  std::size_t max_events_;
  std::size_t max_bytes_;
  std::chrono::milliseconds retry_;
  std::shared_ptr<StoreBudget> budget_;  // null: no bound across sessions
  const std::string session_;
  std::deque<StoredEvent> events_;
  std::size_t stored_bytes_ = 0;  // the frames in events_
  std::map<std::uint64_t, Stream> streams_;
  std::uint64_t next_stream_ = 1;
  std::uint64_t next_seq_ = 1;
};

}  // namespace trellis::http_detail
