#pragma once
// Internals of event_loop shared by the two backends: the loop core (timers, posted
// tasks, connection state machine, flush batching) and the backend interface.

#include <khz/net/connection.hpp>
#include <khz/net/event_loop.hpp>
#include <khz/net/listener.hpp>

#include <unistd.h>

#include "base/unique_fd.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE
namespace detail {

class loop_impl;

struct listener_state final : listener {
  loop_impl* impl = nullptr;
  connection_handler* handler = nullptr;
  listen_options options;
  std::vector<event_loop*> dispatch;  // accept-and-dispatch targets (empty: keep here)
  std::size_t next_target = 0;
  timer_node backoff_timer;
  std::chrono::milliseconds backoff{0};
  bool backing_off = false;
  bool closed = false;
  bool tcp = true;
  bool unlink_path = false;
  int ops = 0;         // io_uring: operations in flight
  bool armed = false;  // io_uring: an accept is in flight

  friend class loop_impl;
  using listener::accepted_;
  using listener::fd_;
  using listener::local_;
  using listener::loop_;
};

struct dial_state {
  loop_impl* impl = nullptr;
  int fd = -1;
  bool tcp = true;
  bool done = false;
  int ops = 0;  // io_uring: operations in flight
  connection_handler* handler = nullptr;
  dial_callback callback;
  dial_options options;
  timer_node timer;
  dial_state* prev = nullptr;
  dial_state* next = nullptr;
};

// An I/O backend. Every call is made on the loop thread.
class backend {
 public:
  virtual ~backend() = default;
  virtual transport kind() const noexcept = 0;
  // At the start of run(), on the loop thread.
  virtual void start() {}
  // Waits for I/O up to timeout_ns (-1: no limit, 0: do not block) and dispatches it.
  virtual void poll(std::int64_t timeout_ns) = 0;
  // Wakes a poll() in progress. Thread-safe.
  virtual void wake() noexcept = 0;
  // Connection: start reading / reading interest changed (f_read_paused) / output is not
  // empty: write / the loop tore the connection down: stop its I/O and close the socket.
  virtual result<void> add_connection(connection& c) = 0;
  virtual void read_state_changed(connection& c) = 0;
  virtual void flush(connection& c) = 0;
  virtual void close_connection(connection& c) noexcept = 0;
  // Listener: start accepting / accept again after a back-off / stop and close.
  virtual result<void> add_listener(listener_state& l) = 0;
  virtual void resume_accept(listener_state& l) = 0;
  virtual void close_listener(listener_state& l) noexcept = 0;
  // Dial: wait for the connecting socket to become writable / stop waiting.
  virtual result<void> watch_connect(dial_state& d) = 0;
  virtual void unwatch_connect(dial_state& d) noexcept = 0;
  // Closes a descriptor whose operations were cancelled.
  virtual void close_fd(int fd) noexcept { ::close(fd); }
  // At the end of run(): wait until no operation is in flight.
  virtual void drain() noexcept {}
};

// Sends (part of) the file region at the front of c's output with one non-blocking
// sendfile(2): progress (bytes went out: call again), would_block (EAGAIN: wait for
// writability), failed (the connection was torn down: an error, or the file ended before
// the region did -- it shrank).
enum class file_send_result { progress, would_block, failed };

std::unique_ptr<backend> make_epoll_backend(loop_impl& loop, const loop_options& options);
#if KHZ_HAVE_IO_URING
// Throws std::system_error when the ring cannot be set up.
std::unique_ptr<backend> make_uring_backend(loop_impl& loop, const loop_options& options);
io_uring_support probe_io_uring_kernel();
#endif

class loop_impl {
 public:
  using flags_t = std::uint32_t;

  loop_impl(event_loop& owner, const loop_options& options);
  ~loop_impl();

  // ---------------------------------------------------------------- run / stop / post
  void run();
  void stop() noexcept;
  bool in_loop_thread() const noexcept {
    return owner_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }
  void post(loop_task task);
  void on_wake() noexcept { ++stats_.wakeups; }
  int event_fd() const noexcept { return event_fd_; }
  bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }

  // ---------------------------------------------------------------- time / timers
  std::int64_t now() const noexcept { return now_; }
  void update_now() noexcept;
  void schedule(timer_node& n, std::int64_t deadline);
  void cancel(timer_node& n) noexcept;
  timer_id run_after(std::int64_t delay_ns, loop_task task);
  bool cancel_timer(timer_id id) noexcept;

  // ---------------------------------------------------------------- connections
  result<connection_ptr> open_connection(int fd, connection_handler& h, const connection_options& o, bool tcp);
  static bool wants_read(const connection& c) noexcept {
    return (c.flags_ & (connection::f_closed | connection::f_closing | connection::f_abort |
                        connection::f_peer_eof | connection::f_app_paused)) == 0 &&
           c.input_.size() < c.max_input_;
  }
  void update_read_state(connection& c);
  void deliver(connection& c);          // on_data, then after_callback
  void after_callback(connection& c);   // release input, schedule flush, backpressure
  void peer_eof(connection& c);         // FIN after all data
  void teardown(connection& c, std::error_code reason);
  void write_progress(connection& c, std::size_t n) noexcept;
  void schedule_flush(connection& c);
  void maybe_finish(connection& c);     // output empty: drained callback, close, FIN
  void request_drain_check(connection& c);  // notify_drained(): check at a flush step
  file_send_result send_file_region(connection& c);  // see file_send_result
  void mask_sigpipe() noexcept;
  void take_sigpipe() noexcept;
  void unmask_sigpipe() noexcept;
  void arm_connection_timer(connection& c, std::int64_t at_most);
  static void connection_timer_fired(timer_node* n, loop_impl& loop);

  // ---------------------------------------------------------------- listeners / dials
  result<listener*> adopt_listener(int fd, connection_handler& h, const listen_options& o,
                                   std::vector<event_loop*> dispatch);
  void on_accepted(listener_state& l, int fd);
  void accept_failed(listener_state& l, int err);
  void close_listener(listener_state& l) noexcept;
  void listener_released(listener_state& l) noexcept;  // backend done with it
  void dial(const address& to, connection_handler& h, dial_callback cb, const dial_options& o);
  void connect_ready(dial_state& d);
  void finish_dial(dial_state& d, std::error_code ec);
  void maybe_free_dial(dial_state& d) noexcept;

  event_loop& owner() noexcept { return *owner_; }
  backend& io() noexcept { return *backend_; }
  loop_stats& stats() noexcept { return stats_; }
  std::size_t connection_count() const noexcept { return connection_count_; }
  transport kind() const noexcept { return kind_; }

 private:
  struct user_timer : timer_node {
    timer_id id = 0;
    loop_task task;
  };

  void iterate();
  void run_tasks();
  void run_timers();
  void flush_all();
  void flush_one(connection& c);
  void shutdown();
  void heap_up(std::size_t i) noexcept;
  void heap_down(std::size_t i) noexcept;
  void heap_remove(std::size_t i) noexcept;
  std::int64_t next_timeout() const noexcept;
  static void user_timer_fired(timer_node* n, loop_impl& loop);
  static void backoff_fired(timer_node* n, loop_impl& loop);
  static void dial_timer_fired(timer_node* n, loop_impl& loop);

  event_loop* owner_;
  loop_options options_;
  std::unique_ptr<backend> backend_;
  transport kind_ = transport::epoll;
  loop_stats stats_;
  std::int64_t now_ = 0;

  std::atomic<std::thread::id> owner_thread_;
  std::atomic<bool> stop_{false};
  bool ran_ = false;
  bool shut_down_ = false;

  int event_fd_ = -1;
  std::mutex task_mutex_;
  std::vector<loop_task> posted_;   // guarded by task_mutex_
  std::vector<loop_task> running_;  // loop thread only
  std::atomic<bool> wake_pending_{false};

  std::vector<timer_node*> heap_;
  std::uint64_t timer_sequence_ = 0;
  timer_id next_timer_id_ = 1;
  std::unordered_map<timer_id, user_timer*> user_timers_;

  connection* connections_ = nullptr;  // intrusive list of open connections
  std::size_t connection_count_ = 0;
  std::vector<connection*> flush_list_;
  std::vector<connection*> flush_work_;
  std::vector<connection*> drain_next_;  // notify_drained() during the flush step: next iteration
  bool flushing_ = false;
  bool sigpipe_masked_ = false;      // SIGPIPE blocked on the loop thread (sendfile)
  bool sigpipe_was_blocked_ = false; // ... already before: leave the mask as it was
  std::vector<connection*> graveyard_;  // loop references dropped at the end of the iteration

  std::vector<listener_state*> listeners_;
  std::vector<listener_state*> dead_listeners_;
  dial_state* dials_ = nullptr;
};

}  // namespace detail
KHZ_END_NAMESPACE
