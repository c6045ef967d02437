#pragma once
// Timers of an event_loop.
//
// The loop keeps one binary min-heap of intrusive timer nodes ordered by (deadline,
// sequence): timers with the same deadline fire in the order they were scheduled. A
// connection embeds its own node, so arming or moving its timeouts never allocates;
// timeouts are checked lazily (the node fires at the earliest possible deadline and the
// connection re-computes its real deadlines from its activity timestamps), so a read or
// a write only stores a timestamp.
//
// User timers (event_loop::run_after) allocate one node holding the callback and are
// identified by a timer_id, which cancel_timer() accepts until the timer fires.

#include <khz/base/config.hpp>

#include <cstdint>

KHZ_BEGIN_NAMESPACE

using timer_id = std::uint64_t;  // 0 is never a valid id

namespace detail {

class loop_impl;

struct timer_node {
  static constexpr std::uint32_t not_queued = 0xffffffffu;

  std::int64_t deadline = 0;   // steady_clock nanoseconds
  std::uint64_t sequence = 0;  // tie-break: FIFO among equal deadlines
  std::uint32_t index = not_queued;  // position in the heap
  void (*fire)(timer_node* self, loop_impl& loop) = nullptr;

  bool queued() const noexcept { return index != not_queued; }
};

}  // namespace detail

KHZ_END_NAMESPACE
