// trellis/fsm.hpp — transition tables as data, and the runtime that enforces them.
//
// Every lifecycle in Trellis (client connection, server session, task, SSE stream, ...) is one
// `fsm::Machine`: a constexpr table of `{from, event, guard, to, action}` rows that reads top to
// bottom like the design document. The same table drives three things:
//   * the runtime: `fsm::Instance<kMachine>` refuses any state change that has no row (it is
//     logged, counted, and asserts in debug builds), cancels state timeouts when the state
//     changes, keeps an audit trail, and emits `trellis.fsm.transition` telemetry;
//   * the tests: `trellis/testing/fsm_rapidcheck.hpp` generates event sequences from the table;
//   * the docs: `trellis/fsm_export.hpp` renders Mermaid, DOT, JSON and Markdown from it.
//
//   enum class State : std::uint8_t { idle, busy };
//   enum class Event : std::uint8_t { start, done };
//   inline constexpr std::string_view kStates[] = {"idle", "busy"};
//   inline constexpr std::string_view kEvents[] = {"start", "done"};
//   inline constexpr fsm::Transition<State, Event> kRows[] = {
//       {State::idle, Event::start, "", State::busy, "begin work"},
//       {State::busy, Event::done, "", State::idle, "report"},
//   };
//   inline constexpr fsm::Machine<State, Event> kMachine{
//       .name = "worker", .title = "Worker", .source = "example",
//       .states = kStates, .events = kEvents, .initial = State::idle, .transitions = kRows};
//
//   fsm::Instance<kMachine> worker;          // starts in `idle`
//   worker.fire(Event::start);               // idle -> busy (the only row for `start`)
//   worker.fire(Event::start);               // no row: Error{kind=state}, logged and counted
//
// Guards are labels: the owning code evaluates the condition and names the target it chose with
// `fire(event, to)`; the runtime checks that a row `{state, event, to}` exists. Self-transitions
// (`to == from`, like gen_statem's keep_state) are checked too but are not state changes: they do
// not enter the audit trail, emit no telemetry and keep state timeouts armed.
//
// An Instance is owned by one actor and must be used from that actor only (its strand).
#pragma once

#include "trellis/error.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace trellis::telemetry {
class Counter;
}

namespace trellis::fsm {

// One row of a transition table. `guard` names the condition under which the row applies
// (empty: always); `action` says what the owner does on this edge (documentation only).
template <class S, class E>
struct Transition {
  S from;
  E event;
  std::string_view guard;
  S to;
  std::string_view action;
};

// A row that leaves the machine altogether (drawn as `state --> [*]`), e.g. a finished task
// whose result was consumed.
template <class S, class E>
struct Exit {
  S from;
  E event;
  std::string_view guard;
  std::string_view action;
};

// A whole machine. `states[i]` / `events[i]` name the enumerator with value i.
template <class S, class E>
struct Machine {
  static_assert(std::is_enum_v<S> && std::is_enum_v<E>, "states and events are enums");
  using State = S;
  using Event = E;

  std::string_view name;    // identifier used by the CLI, metrics and telemetry: "client_connection"
  std::string_view title;   // one line for humans
  std::string_view source;  // where the rows come from in the design documents
  std::span<const std::string_view> states;
  std::span<const std::string_view> events;
  S initial;
  std::span<const Transition<S, E>> transitions;
  std::span<const Exit<S, E>> exits = {};
};

// The type-erased form of a machine (states and events as indices), shared by the runtime,
// the exporters and the CLI. Built once per machine.
struct MachineView {
  struct Row {
    int from;
    int event;
    std::string_view guard;
    int to;  // kExitState for an Exit row
    std::string_view action;
  };
  static constexpr int kExitState = -1;

  std::string_view name;
  std::string_view title;
  std::string_view source;
  std::vector<std::string_view> states;
  std::vector<std::string_view> events;
  int initial = 0;
  std::vector<Row> rows;  // transitions first, then exits, in table order

  // The rows leaving `from` on `event`, in table order. Every message of every session fires
  // a transition, so this is an index (built once with the view), not a scan of the table.
  std::span<const std::uint32_t> rows_for(int from, int event) const noexcept {
    const std::size_t key = static_cast<std::size_t>(from) * events.size() + static_cast<std::size_t>(event);
    return {row_index_.data() + group_begin_[key], row_index_.data() + group_begin_[key + 1]};
  }
  // Terminal states: no row leads from them to a different state or out of the machine.
  bool is_terminal(int state) const noexcept;
  // Metrics for this machine, created once with the view.
  telemetry::Counter* transitions_total = nullptr;
  telemetry::Counter* illegal_total = nullptr;

  void register_metrics();
  // Builds the index behind rows_for(); make_view (the only maker of views) calls it once the
  // rows are in.
  void index_rows();

 private:
  std::vector<std::uint32_t> row_index_;    // row numbers grouped by (from, event)
  std::vector<std::uint32_t> group_begin_;  // per (from, event): where its group starts in row_index_
};

template <class S, class E>
MachineView make_view(const Machine<S, E>& m) {
  MachineView v;
  v.name = m.name;
  v.title = m.title;
  v.source = m.source;
  v.states.assign(m.states.begin(), m.states.end());
  v.events.assign(m.events.begin(), m.events.end());
  v.initial = static_cast<int>(m.initial);
  v.rows.reserve(m.transitions.size() + m.exits.size());
  for (const auto& t : m.transitions)
    v.rows.push_back({static_cast<int>(t.from), static_cast<int>(t.event), t.guard, static_cast<int>(t.to), t.action});
  for (const auto& x : m.exits)
    v.rows.push_back({static_cast<int>(x.from), static_cast<int>(x.event), x.guard, MachineView::kExitState, x.action});
  v.index_rows();
  v.register_metrics();
  return v;
}

// The one view of a machine declared as a constexpr global.
template <const auto& M>
const MachineView& view_of() {
  static const MachineView view = make_view(M);
  return view;
}

// Time and timers for state timeouts. Production code uses an Asio-backed scheduler
// (trellis/fsm_asio.hpp); tests use ManualScheduler to move time by hand.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  virtual ~Scheduler() = default;
  virtual Clock::time_point now() const = 0;
  // Runs `fn` once, `delay` from now, on the owner's executor. Returns an id for cancel().
  virtual TimerId schedule_after(Clock::duration delay, std::function<void()> fn) = 0;
  // Prevents a scheduled call from running; a no-op for unknown or already-run ids.
  virtual void cancel(TimerId id) noexcept = 0;
};

// A deterministic scheduler for tests: time moves only with advance().
class ManualScheduler final : public Scheduler {
 public:
  explicit ManualScheduler(Clock::time_point start = Clock::time_point{} + std::chrono::hours(1));
  ~ManualScheduler() override;
  Clock::time_point now() const override { return now_; }
  TimerId schedule_after(Clock::duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) noexcept override;
  // Moves time forward, running every timer that falls due, in deadline order.
  void advance(Clock::duration by);
  std::size_t pending() const noexcept;

 private:
  struct Timers;
  Clock::time_point now_;
  std::unique_ptr<Timers> timers_;
};

// The scheduler used when an Instance is given none: real monotonic time, no timers.
Scheduler& monotonic_clock() noexcept;

// Called after an illegal transition has been logged and counted. The default handler asserts
// in debug builds (a missing row is a bug in the owner) and does nothing in release builds.
// Tests that provoke illegal transitions install a handler of their own.
struct IllegalTransition {
  std::string_view machine;
  std::string_view instance;
  std::string_view state;
  std::string_view event;
  std::string_view wanted;  // the requested target state, or empty when the table was to pick
};
using IllegalTransitionHandler = std::function<void(const IllegalTransition&)>;
IllegalTransitionHandler set_illegal_transition_handler(IllegalTransitionHandler handler);

struct InstanceOptions {
  std::string id;                    // names this instance in logs, telemetry and debug_state
  std::size_t history_capacity = 64; // audit-trail ring size (0 disables the trail)
  Scheduler* scheduler = nullptr;    // nullptr: monotonic_clock() (no state timeouts possible)
};

// The untyped runtime behind Instance<M>; all table checks and bookkeeping happen here.
class InstanceCore {
 public:
  struct HistoryEntry {
    int from;
    int event;
    int to;
    Scheduler::Clock::time_point at;
  };

  InstanceCore(const MachineView& machine, InstanceOptions options);
  ~InstanceCore();
  InstanceCore(const InstanceCore&) = delete;
  InstanceCore& operator=(const InstanceCore&) = delete;

  const MachineView& machine() const noexcept { return *machine_; }
  int state() const noexcept { return state_; }
  bool finished() const noexcept { return finished_; }
  const std::string& id() const noexcept { return options_.id; }

  // The row that `event` would take from the current state towards `to` (any target when
  // nullopt, which must then be unique), or nullptr.
  const MachineView::Row* find(int event, std::optional<int> to) const noexcept;
  Result<int> fire(int event, std::optional<int> to);
  Result<void> finish(int event);

  void set_state_timeout(Scheduler::Clock::duration after, std::function<void()> on_timeout);
  void cancel_state_timeout() noexcept;
  bool state_timeout_armed() const noexcept { return timeout_id_ != 0; }

  std::chrono::milliseconds time_in_state() const;
  std::vector<HistoryEntry> history() const;  // oldest first
  boost::json::object debug_state(std::size_t pending) const;

 private:
  Error illegal(int event, std::optional<int> to) const;
  void enter(const MachineView::Row& row);
  void record(const HistoryEntry& entry);

  const MachineView* machine_;
  InstanceOptions options_;
  Scheduler* scheduler_;
  int state_;
  bool finished_ = false;
  Scheduler::Clock::time_point created_at_;
  Scheduler::Clock::time_point entered_at_;
  std::vector<HistoryEntry> ring_;
  std::size_t ring_next_ = 0;
  std::size_t ring_size_ = 0;
  Scheduler::TimerId timeout_id_ = 0;
  std::uint64_t epoch_ = 0;  // bumps on every state change; stale timeout callbacks compare it
};

// A typed instance of the machine declared as the constexpr global M.
template <const auto& M>
class Instance {
 public:
  using State = typename std::remove_cvref_t<decltype(M)>::State;
  using Event = typename std::remove_cvref_t<decltype(M)>::Event;

  explicit Instance(InstanceOptions options = {}) : core_(view_of<M>(), std::move(options)) {}

  State state() const noexcept { return static_cast<State>(core_.state()); }
  std::string_view state_name() const noexcept { return core_.machine().states[core_.state()]; }
  bool is(State s) const noexcept { return state() == s; }
  bool finished() const noexcept { return core_.finished(); }

  // Takes the only row for `event` from the current state.
  Result<State> fire(Event event) { return convert(core_.fire(static_cast<int>(event), std::nullopt)); }
  // Moves to `to`, which the owner chose by evaluating the guards; a row must allow it.
  Result<State> fire(Event event, State to) { return convert(core_.fire(static_cast<int>(event), static_cast<int>(to))); }
  // Leaves the machine through an Exit row.
  Result<void> finish(Event event) { return core_.finish(static_cast<int>(event)); }

  bool can_fire(Event event) const noexcept { return core_.find(static_cast<int>(event), std::nullopt) != nullptr; }
  bool can_fire(Event event, State to) const noexcept {
    return core_.find(static_cast<int>(event), static_cast<int>(to)) != nullptr;
  }

  // Arms a timer that runs `on_timeout` unless the state changes first (gen_statem's
  // state_timeout). Arming again replaces the previous timer.
  void set_state_timeout(Scheduler::Clock::duration after, std::function<void()> on_timeout) {
    core_.set_state_timeout(after, std::move(on_timeout));
  }
  void cancel_state_timeout() noexcept { core_.cancel_state_timeout(); }
  bool state_timeout_armed() const noexcept { return core_.state_timeout_armed(); }

  std::chrono::milliseconds time_in_state() const { return core_.time_in_state(); }
  std::vector<InstanceCore::HistoryEntry> history() const { return core_.history(); }
  // {machine, id, state, ms_in_state, history: [{from, event, to, at_ms}], pending}
  boost::json::object debug_state(std::size_t pending = 0) const { return core_.debug_state(pending); }

  const InstanceCore& core() const noexcept { return core_; }

 private:
  static Result<State> convert(Result<int> r) {
    if (!r) return r.error();
    return static_cast<State>(*r);
  }
  InstanceCore core_;
};

}  // namespace trellis::fsm
