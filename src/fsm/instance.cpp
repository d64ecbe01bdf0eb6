// The state-machine runtime: table checks, audit trail, state timeouts, telemetry.
#include "trellis/fsm.hpp"

#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/log.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <cassert>
#include <mutex>
#include <utility>

namespace trellis::fsm {
namespace {

constexpr std::string_view kTransitionEvent = "trellis.fsm.transition";
constexpr std::string_view kIllegalEvent = "trellis.fsm.illegal_transition";

void default_illegal_handler([[maybe_unused]] const IllegalTransition& illegal) {
  assert(false && "illegal state transition: the machine's table has no row for it");
}

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}

IllegalTransitionHandler& handler_slot() {
  static IllegalTransitionHandler handler = default_illegal_handler;
  return handler;
}

long long ms_between(Scheduler::Clock::time_point from, Scheduler::Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

IllegalTransitionHandler set_illegal_transition_handler(IllegalTransitionHandler handler) {
  std::lock_guard lock(handler_mutex());
  if (!handler) handler = default_illegal_handler;
  return std::exchange(handler_slot(), std::move(handler));
}

bool MachineView::is_terminal(int state) const noexcept {
  // A state is terminal when nothing leads on to another state; leaving through an exit row ends the instance.
  for (const Row& row : rows)
    if (row.from == state && row.to != state && row.to != kExitState) return false;
  return true;
}

void MachineView::index_rows() {
  auto group_of = [&](const Row& row) { return static_cast<std::size_t>(row.from) * events.size() + static_cast<std::size_t>(row.event); };
  // A counting sort of the row numbers by group: stable, so each group keeps the table's order.
  group_begin_.assign(states.size() * events.size() + 1, 0);
  for (const Row& row : rows) ++group_begin_[group_of(row) + 1];
  for (std::size_t g = 1; g < group_begin_.size(); ++g) group_begin_[g] += group_begin_[g - 1];
  std::vector<std::uint32_t> next(group_begin_.begin(), group_begin_.end() - 1);
  row_index_.resize(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) row_index_[next[group_of(rows[r])]++] = static_cast<std::uint32_t>(r);
}

void MachineView::register_metrics() {
  auto& registry = telemetry::Registry::global();
  const telemetry::Labels labels{{"machine", std::string(name)}};
  transitions_total = &registry.counter("trellis_fsm_transitions_total",
                                        "State changes made by Trellis state machines.", labels);
  illegal_total = &registry.counter("trellis_fsm_illegal_transitions_total",
                                    "State changes refused because the transition table has no row for them.",
                                    labels);
}

InstanceCore::InstanceCore(const MachineView& machine, InstanceOptions options)
    : machine_(&machine),
      options_(std::move(options)),
      scheduler_(options_.scheduler ? options_.scheduler : &monotonic_clock()),
      state_(machine.initial),
      created_at_(scheduler_->now()),
      entered_at_(created_at_),
      ring_(options_.history_capacity) {}

InstanceCore::~InstanceCore() { cancel_state_timeout(); }

const MachineView::Row* InstanceCore::find(int event, std::optional<int> to) const noexcept {
  if (finished_) return nullptr;
  const MachineView::Row* match = nullptr;
  for (const std::uint32_t r : machine_->rows_for(state_, event)) {
    const MachineView::Row& row = machine_->rows[r];
    if (row.to == MachineView::kExitState) continue;
    if (to) {
      if (row.to == *to) return &row;
    } else if (match && match->to != row.to) {
      return nullptr;  // guarded alternatives: the owner must say which target its guard chose
    } else {
      match = &row;
    }
  }
  return match;
}

Result<int> InstanceCore::fire(int event, std::optional<int> to) {
  const MachineView::Row* row = find(event, to);
  if (!row) return illegal(event, to);
  if (row->to != state_) enter(*row);
  return state_;
}

Result<void> InstanceCore::finish(int event) {
  for (const std::uint32_t r : machine_->rows_for(state_, event)) {
    const MachineView::Row& row = machine_->rows[r];
    if (finished_ || row.to != MachineView::kExitState) continue;
    cancel_state_timeout();
    finished_ = true;
    record({state_, event, MachineView::kExitState, scheduler_->now()});
    return {};
  }
  return illegal(event, MachineView::kExitState);
}

Error InstanceCore::illegal(int event, std::optional<int> to) const {
  const auto& m = *machine_;
  const std::string_view state = m.states[state_];
  const std::string_view event_name = m.events[event];
  const std::string_view wanted = !to ? std::string_view{} : *to == MachineView::kExitState ? "[*]" : m.states[*to];
  m.illegal_total->inc();

  boost::json::object data{{"machine", m.name}, {"state", state}, {"event", event_name}};
  if (!wanted.empty()) data["to"] = wanted;
  if (!options_.id.empty()) data["instance"] = options_.id;
  if (finished_) data["finished"] = true;

  auto& log = telemetry::Logger::global();
  if (log.enabled(telemetry::Level::warn)) log.log(telemetry::Level::warn, "fsm.illegal_transition", data);
  auto& events = telemetry::Dispatcher::global();
  if (events.has_subscribers(kIllegalEvent)) events.emit(kIllegalEvent, {}, data);

  IllegalTransitionHandler handler;
  {
    std::lock_guard lock(handler_mutex());
    handler = handler_slot();
  }
  handler(IllegalTransition{m.name, options_.id, state, event_name, wanted});

  std::string message = "illegal transition in ";
  message.append(m.name).append(": no row for event '").append(event_name).append("' in state '").append(state);
  message += '\'';
  if (!wanted.empty()) message.append(" towards '").append(wanted) += '\'';
  return make_error(ErrorKind::state, std::move(message), std::move(data));
}

void InstanceCore::enter(const MachineView::Row& row) {
  const auto now = scheduler_->now();
  const auto ms_in_previous = ms_between(entered_at_, now);
  cancel_state_timeout();
  ++epoch_;
  record({state_, row.event, row.to, now});
  const int from = state_;
  state_ = row.to;
  entered_at_ = now;
  machine_->transitions_total->inc();

  auto& events = telemetry::Dispatcher::global();
  auto& log = telemetry::Logger::global();
  const bool emit = events.has_subscribers(kTransitionEvent);
  const bool debug = log.enabled(telemetry::Level::debug);
  if (!emit && !debug) return;
  const auto& m = *machine_;
  boost::json::object meta{{"machine", m.name}, {"from", m.states[from]}, {"event", m.events[row.event]},
                           {"to", m.states[row.to]}};
  if (!row.guard.empty()) meta["guard"] = row.guard;
  if (!options_.id.empty()) meta["instance"] = options_.id;
  if (emit) events.emit(kTransitionEvent, {{"ms_in_previous_state", ms_in_previous}}, meta);
  if (debug) log.log(telemetry::Level::debug, "fsm.transition", std::move(meta));
}

void InstanceCore::record(const HistoryEntry& entry) {
  if (ring_.empty()) return;
  ring_[ring_next_] = entry;
  ring_next_ = (ring_next_ + 1) % ring_.size();
  if (ring_size_ < ring_.size()) ++ring_size_;
}

void InstanceCore::set_state_timeout(Scheduler::Clock::duration after, std::function<void()> on_timeout) {
  cancel_state_timeout();
  const std::uint64_t armed_epoch = epoch_;
  timeout_id_ = scheduler_->schedule_after(after, [this, armed_epoch, fn = std::move(on_timeout)] {
    // A timer that fired after a state change (its cancel raced with expiry) is stale.
    if (armed_epoch != epoch_) return;
    timeout_id_ = 0;
    fn();
  });
}

void InstanceCore::cancel_state_timeout() noexcept {
  if (timeout_id_ == 0) return;
  scheduler_->cancel(timeout_id_);
  timeout_id_ = 0;
}

std::chrono::milliseconds InstanceCore::time_in_state() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(scheduler_->now() - entered_at_);
}

std::vector<InstanceCore::HistoryEntry> InstanceCore::history() const {
  std::vector<HistoryEntry> out;
  out.reserve(ring_size_);
  const std::size_t start = (ring_next_ + ring_.size() - ring_size_) % (ring_.empty() ? 1 : ring_.size());
  for (std::size_t i = 0; i < ring_size_; ++i) out.push_back(ring_[(start + i) % ring_.size()]);
  return out;
}

boost::json::object InstanceCore::debug_state(std::size_t pending) const {
  const auto& m = *machine_;
  boost::json::array trail;
  for (const auto& h : history()) {
    trail.push_back({{"from", m.states[h.from]},
                     {"event", m.events[h.event]},
                     {"to", h.to == MachineView::kExitState ? std::string_view("[*]") : m.states[h.to]},
                     {"at_ms", ms_between(created_at_, h.at)}});
  }
  boost::json::object out{{"machine", m.name}, {"state", m.states[state_]},
                          {"ms_in_state", time_in_state().count()}, {"history", std::move(trail)},
                          {"pending", pending}};
  if (!options_.id.empty()) out["id"] = options_.id;
  if (finished_) out["finished"] = true;
  return out;
}

}  // namespace trellis::fsm
