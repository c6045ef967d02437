#pragma once
// event_loop: one reactor per thread (Netpoll's poller + its goroutine, as one object).
//
// A loop owns an I/O backend (epoll or io_uring, see transport.hpp), the connections and
// listeners registered with it, a timer heap and a queue of tasks posted from other
// threads. One iteration of run():
//   1. wait for I/O (epoll_wait, or io_uring submit-and-wait: every SQE prepared in the
//      previous iteration goes to the kernel in this one submission) until the next timer;
//   2. dispatch: accept, read into input buffers and call on_data, note writability;
//   3. run posted tasks, then expired timers;
//   4. flush: every connection written to in this iteration gets ONE write syscall
//      (sendmsg over all its output blocks) or ONE io_uring send; finish graceful closes.
//
// Threading: run() is called by exactly one thread, which becomes the loop's thread.
// Everything that touches the loop's connections, listeners and timers happens on it
// (callbacks do; other threads post()). Before run() starts, the thread that constructed
// the loop may set it up (listen, dial, run_after). post() and stop() are thread-safe.
//
// Stop: stop() (any thread) makes run() finish its iteration, close every listener,
// abort every connection (on_close with errc::cancelled), fail pending dials, cancel
// timers, and return. A loop runs once; tasks posted after it stopped are destroyed
// without running when the loop is destroyed.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/net/address.hpp>
#include <khz/net/connection.hpp>
#include <khz/net/dialer.hpp>
#include <khz/net/listener.hpp>
#include <khz/net/move_function.hpp>
#include <khz/net/timer.hpp>
#include <khz/net/transport.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

KHZ_BEGIN_NAMESPACE

using loop_task = detail::move_function<void()>;

struct loop_options {
  transport kind = transport::auto_select;
  // Probe as if the kernel refused io_uring (tests of the fallback); see transport.hpp.
  bool refuse_io_uring = false;
  // epoll: events fetched per epoll_wait.
  unsigned max_events = 256;
  // io_uring: submission queue entries (the completion queue is 4x), and the ring of
  // provided receive buffers (count must be a power of two; each is one pooled block).
  // The default ring, 64 x 16 KiB = 1 MiB, is no larger than the default max_input_bytes
  // (1 MiB), so a connection whose input is empty gets a multishot recv (see
  // uring_recv_overshoot); a ring larger than a connection's max_input_bytes means
  // single-shot recvs only. When every buffer is out, a recv completes with ENOBUFS and is
  // re-armed (loop_stats::recv_no_buffer counts them; no byte is lost): raise the count
  // when that counter grows fast.
  unsigned uring_entries = 1024;
  unsigned uring_buffer_count = 64;
  std::size_t uring_buffer_size = 16 * 1024;
  // io_uring: how far a connection's input may exceed its max_input_bytes, in exchange for
  // multishot receives. A recv is multishot only while (room under the limit + this) is at
  // least the whole buffer ring (count x size), because one multishot batch can fill that
  // much before the loop sees it; otherwise it is a single-shot recv of at most the room
  // left. 0 (default): the limit is exact. A value >= count x size: always multishot, the
  // input may exceed the limit by up to that much. Multishot saved about 4-18% of server
  // CPU per 1 KiB echo message in one noisy measurement (docs/net.md).
  std::size_t uring_recv_overshoot = 0;
};

// Counters of one loop, read on the loop thread (or after run() returned).
struct loop_stats {
  std::uint64_t iterations = 0;
  std::uint64_t waits = 0;          // epoll_wait / io_uring_enter calls
  std::uint64_t read_calls = 0;     // read syscalls (epoll) or recv completions (io_uring)
  std::uint64_t recv_no_buffer = 0; // io_uring: recvs that found the buffer ring empty (re-armed)
  std::uint64_t write_calls = 0;    // send/sendmsg syscalls (epoll) or send SQEs (io_uring)
  std::uint64_t write_blocked = 0;  // flushes that left bytes waiting for writability
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t accepted = 0;
  std::uint64_t accept_errors = 0;  // EMFILE & co. (each starts a back-off)
  std::uint64_t opened = 0;         // connections registered (accepted, dialed, adopted)
  std::uint64_t closed = 0;
  std::uint64_t read_pauses = 0;    // times read backpressure stopped reading
  std::uint64_t tasks_run = 0;
  std::uint64_t timers_fired = 0;
  std::uint64_t wakeups = 0;        // cross-thread wake-ups received
};

class event_loop {
 public:
  // Throws std::system_error when the backend cannot be created (io_uring requested
  // explicitly but refused: errc::not_supported, with the reason in what()).
  explicit event_loop(const loop_options& options = {});
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // The same, as a result instead of an exception.
  static result<std::unique_ptr<event_loop>> create(const loop_options& options = {});

  // Runs until stop(). Call once, from the thread that will own the loop.
  void run();
  // Thread-safe; idempotent. May be called before run() (run() then returns at once).
  void stop() noexcept;
  bool stopped() const noexcept;
  bool in_loop_thread() const noexcept;
  // The loop whose run() is executing on the calling thread, or nullptr (a thread that runs
  // no loop, or a loop's thread before run() started / after it returned).
  static event_loop* current() noexcept;

  // Thread-safe: runs `task` on the loop thread, in posting order per thread.
  void post(loop_task task);
  // Runs `task` now when called on the loop thread, else post()s it.
  void dispatch(loop_task task);

  // On the loop thread: runs `task` once after `delay`. Timers with the same deadline fire
  // in scheduling order.
  timer_id run_after(std::chrono::nanoseconds delay, loop_task task);
  // True when the timer was pending and is now cancelled.
  bool cancel_timer(timer_id id) noexcept;

  // Listens on `addr` (see listener.hpp). On the loop thread (or before run()).
  result<listener*> listen(const address& addr, connection_handler& handler, const listen_options& options = {});
  // Registers an already listening socket (ownership of `fd` passes to the loop, even on error).
  result<listener*> adopt_listener(int fd, connection_handler& handler, const listen_options& options = {});

  // Connects (see dialer.hpp).
  void dial(const address& to, connection_handler& handler, dial_callback done, const dial_options& options = {});

  // Registers a connected socket (ownership of `fd` passes to the loop, even on error).
  result<connection_ptr> adopt(int fd, connection_handler& handler, const connection_options& options = {});

  transport kind() const noexcept;  // the backend in use (never auto_select)
  const loop_stats& stats() const noexcept;
  std::size_t connection_count() const noexcept;
  // The loop's clock, refreshed once per iteration (cheap; for timeouts and dates).
  std::chrono::steady_clock::time_point now() const noexcept;

  detail::loop_impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<detail::loop_impl> impl_;
};

KHZ_END_NAMESPACE
