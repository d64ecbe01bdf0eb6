// trellis/fsm_asio.hpp — state timeouts on real time: an fsm::Scheduler backed by Asio timers.
//
//   boost::asio::io_context io;
//   auto strand = boost::asio::make_strand(io);
//   fsm::AsioScheduler scheduler(strand);      // timers run on the actor's strand
//   fsm::Instance<kMachine> machine({.scheduler = &scheduler});
//   machine.set_state_timeout(5s, [&] { machine.fire(Event::timeout); });
//
// Not thread-safe: use it from the executor it was given (the owning actor's strand).
#pragma once

#include "trellis/fsm.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace trellis::fsm {

class AsioScheduler final : public Scheduler {
 public:
  explicit AsioScheduler(boost::asio::any_io_executor executor);
  ~AsioScheduler() override;  // cancels every pending timer; none of their callbacks runs afterwards

  Clock::time_point now() const override { return Clock::now(); }
  TimerId schedule_after(Clock::duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) noexcept override;
  std::size_t pending() const noexcept;

 private:
  struct Timers;
  std::shared_ptr<Timers> timers_;
};

}  // namespace trellis::fsm
