#pragma once
// connection: one non-blocking stream socket (TCP or Unix) owned by one event_loop.
//
// Threading: a connection lives on the loop that accepted or dialed it, for life. Every
// member function except the reference counting of connection_ptr must be called on that
// loop's thread (other threads use event_loop::post()). Handler callbacks run there too.
//
// Ownership and lifetime: the loop holds a reference while the socket is open; a
// connection_ptr (an intrusive, atomic reference count: one per connection, not per
// request) keeps the object alive after it closed, so an async upper layer may hold one
// across loop iterations. Operations on a closed connection fail cleanly with
// errc::closed (write, flush, shutdown_write) or do nothing (close, abort, pause/resume):
// never a crash. The last connection_ptr may be dropped on any thread.
//
// Data flow: the loop reads into input() and calls handler.on_data(); the handler
// consumes what it can (skip/next/slice) and writes replies into output() as many times
// as it likes. Output is flushed once per loop iteration with one writev-style syscall
// (sendmsg) or one io_uring send: many writes, one syscall. After every on_data the loop
// calls input().release(), so views into input() end when on_data returns (use slice()
// to keep bytes). A connection whose input and output are empty holds no memory block.
//
// Backpressure, both ways:
//   read:  when input().size() reaches max_input_bytes the loop stops reading the socket
//          (the kernel's window then stops the peer) until the application consumes: the
//          loop re-checks after on_data returns, and resume_read() re-checks after input
//          consumed outside on_data. Memory is bounded by configuration, not by the peer.
//   write: when the kernel's send buffer is full, bytes wait in output() and
//          pending_output() reports them; the loop writes again when the socket is
//          writable. A write timeout closes a peer that stops reading.
//
// Liveness without a syscall: is_active() turns false as soon as the loop sees the peer's
// FIN or RST (or the connection is closed or closing locally), so a pooled client
// connection knows it died without probing the socket.
//
// Half-close: when the peer shuts down its sending side, on_peer_shutdown() runs after
// every byte before the FIN was delivered; by default it calls close(), which still
// flushes the output first. A handler that overrides it may keep writing, then close().

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>
#include <khz/base/result.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/net/address.hpp>
#include <khz/net/timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <utility>

KHZ_BEGIN_NAMESPACE

class connection;
class event_loop;

namespace detail {
class loop_impl;
class epoll_backend;
class uring_backend;
}  // namespace detail

// Per-connection limits and timeouts. A timeout of zero is off.
struct connection_options {
  std::size_t max_input_bytes = std::size_t{1} << 20;  // read backpressure threshold
  std::size_t initial_read_size = 4096;                // adaptive read size: start ...
  std::size_t max_read_size = 64 * 1024;               // ... and grow up to this
  std::chrono::milliseconds read_timeout{0};   // no byte received for this long (while reading)
  std::chrono::milliseconds write_timeout{60'000};  // output pending without progress for this long
  std::chrono::milliseconds idle_timeout{0};   // nothing received or sent for this long
  bool tcp_nodelay = true;
};

// The callbacks of a connection. One handler may serve many connections (it is not
// owned by them); it must outlive them or be replaced before it dies. on_close is the
// last call a connection makes into its handler.
class connection_handler {
 public:
  virtual ~connection_handler() = default;

  // The connection was accepted or dialed and is registered with its loop.
  virtual void on_open(connection& c);

  // New bytes are in c.input(). Consume what you can; unconsumed bytes stay for the next
  // call (with more bytes appended) and count against max_input_bytes.
  virtual void on_data(connection& c) = 0;

  // The peer sent FIN (after every byte before it went through on_data). Default: close().
  virtual void on_peer_shutdown(connection& c);

  // The output is fully written (every byte handed to the kernel; on io_uring every send
  // completion has arrived). Called once after a write had to wait for writability, and
  // once per connection::notify_drained() request (the two coalesce into one call when
  // they are pending together). Never called after on_close.
  virtual void on_write_drained(connection& c);

  // The socket was closed. `reason` is empty for an orderly close (local close() or the
  // peer's FIN followed by close()), errc::timeout, errc::cancelled (loop stopping or
  // abort()), or the system error (ECONNRESET, EPIPE...).
  virtual void on_close(connection& c, std::error_code reason);
};

class connection {
 public:
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // ------------------------------------------------------------ state (no syscall)

  // Usable for a new exchange: open, not closing, and the peer has not sent FIN or RST.
  bool is_active() const noexcept { return (flags_ & inactive_mask) == 0; }
  // The socket is still held (it may be half-closed or closing).
  bool is_open() const noexcept { return (flags_ & f_closed) == 0; }
  // The peer has shut down its sending side (FIN seen) or reset the connection.
  bool peer_closed() const noexcept { return (flags_ & (f_peer_eof | f_peer_hup)) != 0; }
  // Reading is stopped, by read backpressure or pause_read().
  bool read_paused() const noexcept { return (flags_ & f_read_paused) != 0; }
  bool is_tcp() const noexcept { return (flags_ & f_tcp) != 0; }

  // ------------------------------------------------------------ buffers

  link_buffer& input() noexcept { return input_; }
  link_buffer& output() noexcept { return output_; }

  // Bytes written by the application and not yet accepted by the kernel (on io_uring this
  // includes the bytes of a send still in flight; file regions count by their length).
  std::size_t pending_output() const noexcept { return output_.size() + output_.pending(); }

  // True while the last write could not take everything and the loop waits for the socket
  // to become writable again (epoll: a short send/sendmsg/sendfile or EAGAIN; io_uring: a
  // send completed short, or a sendfile is waiting on POLLOUT). Cleared when a write
  // completes fully. A send merely in flight on io_uring is not "blocked".
  bool write_blocked() const noexcept { return (flags_ & f_write_blocked) != 0; }

  // ------------------------------------------------------------ writing

  // Appends to output() and schedules the flush at the end of this loop iteration.
  result<void> write(std::string_view bytes);
  result<void> write(link_buffer&& bytes);  // links the blocks, no copy

  // Schedules a flush of whatever was written into output() directly. No syscall here:
  // the loop writes once per iteration. (After on_data the loop flushes by itself.)
  result<void> flush();

  // Sends FIN once the output is written (the peer may keep sending to us).
  result<void> shutdown_write();

  // Drain notification ("tell me when my output has left"). After this call the handler's
  // on_write_drained(c) runs exactly once, on the loop thread, at the first loop flush
  // step at which pending_output() is 0 and no send is in flight:
  //   - bytes written before or after the call and before the callback are included (the
  //     callback means "everything written so far has been taken by the kernel");
  //   - if the output is already empty it still runs, at the end of the current loop
  //     iteration (or of the next one when called from inside the flush step, e.g. from
  //     on_write_drained itself) -- never re-entrantly inside notify_drained();
  //   - the write path flushes what was written without waiting for on_data to return,
  //     so a caller need not also call flush();
  //   - several calls before the callback coalesce into one callback; call again from
  //     on_write_drained for the next notification;
  //   - never after close: if the connection is torn down first (abort, reset, timeout,
  //     close with output the peer never took) only on_close runs. After close()
  //     (graceful), the callback runs if the output drains, before on_close.
  // No-op on a closed connection. No syscall, no allocation.
  void notify_drained() noexcept;

  // Graceful: stop reading, write what is pending, then close the socket (on_close with
  // an empty reason). The write timeout still applies. No-op if already closed/closing.
  void close() noexcept;

  // Immediate: drop pending output and close now. on_close gets `reason`
  // (errc::cancelled when empty). Takes effect at the end of the current callback.
  void abort(std::error_code reason = {}) noexcept;

  // ------------------------------------------------------------ reading

  // Stops reading until resume_read() (independent of the backpressure limit).
  void pause_read() noexcept;
  // Clears pause_read() and re-checks backpressure: call it after consuming input
  // outside on_data (from a timer, a posted task, a coroutine).
  void resume_read() noexcept;

  // ------------------------------------------------------------ settings

  void set_read_timeout(std::chrono::milliseconds t) noexcept;
  void set_write_timeout(std::chrono::milliseconds t) noexcept;
  void set_idle_timeout(std::chrono::milliseconds t) noexcept;
  void set_max_input_bytes(std::size_t bytes) noexcept;
  std::size_t max_input_bytes() const noexcept { return max_input_; }

  connection_handler* handler() const noexcept { return handler_; }
  void set_handler(connection_handler& h) noexcept { handler_ = &h; }
  void* user_data() const noexcept { return user_data_; }
  void set_user_data(void* p) noexcept { user_data_ = p; }

  event_loop& loop() const noexcept;
  int native_handle() const noexcept { return fd_; }  // -1 once closed

  // getsockname / getpeername (syscalls; errc::closed once closed).
  result<address> local_address() const;
  result<address> peer_address() const;

 private:
  friend class detail::loop_impl;
  friend class detail::epoll_backend;
  friend class detail::uring_backend;
  friend class connection_ptr;
  friend void connection_add_ref(connection* c) noexcept;
  friend void connection_release(connection* c) noexcept;

  connection(detail::loop_impl& loop, int fd, connection_handler& h, const connection_options& o, bool tcp);
  ~connection();

  enum : std::uint32_t {
    f_closed = 1u << 0,         // torn down: fd closed, on_close called
    f_closing = 1u << 1,        // close(): flush then close
    f_abort = 1u << 2,          // abort(): close at the next loop checkpoint
    f_peer_eof = 1u << 3,       // read returned 0
    f_peer_hup = 1u << 4,       // RDHUP/HUP/RST seen (peer gone or going)
    f_app_paused = 1u << 5,     // pause_read()
    f_read_paused = 1u << 6,    // reading is off (backpressure or app pause)
    f_in_flush = 1u << 7,       // queued on the loop's flush list
    f_write_blocked = 1u << 8,  // a write could not complete; waiting for writability
    f_readable = 1u << 9,       // epoll: edge seen, socket not drained yet
    f_in_ready = 1u << 10,      // epoll: queued for a read in this iteration
    f_shutdown_wr = 1u << 11,   // shutdown_write() requested
    f_shutdown_done = 1u << 12, // FIN sent
    f_recv_armed = 1u << 13,    // io_uring: a recv is in flight
    f_recv_cancel = 1u << 14,   // io_uring: its cancellation is in flight
    f_send_armed = 1u << 15,    // io_uring: a send is in flight
    f_tcp = 1u << 16,
    f_drain_notify = 1u << 17,  // call on_write_drained when the output empties
    f_poll_out = 1u << 18,      // io_uring: a POLL_ADD(POLLOUT) is in flight (sendfile wait)
    f_recv_multi = 1u << 19,    // io_uring: the recv in flight is multishot
  };
  static constexpr std::uint32_t inactive_mask = f_closed | f_closing | f_abort | f_peer_eof | f_peer_hup;

  std::atomic<std::uint32_t> refs_{1};  // the loop's reference while open
  std::uint32_t flags_ = 0;
  int fd_ = -1;
  std::uint32_t read_size_ = 0;      // adaptive read size (epoll)
  std::uint32_t max_read_size_ = 0;
  std::uint32_t initial_read_size_ = 0;
  std::uint32_t read_timeout_ms_ = 0;
  std::uint32_t write_timeout_ms_ = 0;
  std::uint32_t idle_timeout_ms_ = 0;
  std::int32_t abort_reason_ = 0;          // errc or errno, see abort_category_
  std::size_t max_input_ = 0;
  detail::loop_impl* loop_ = nullptr;
  connection_handler* handler_ = nullptr;
  void* user_data_ = nullptr;
  const std::error_category* abort_category_ = nullptr;
  connection* prev_ = nullptr;  // the loop's list of open connections
  connection* next_ = nullptr;
  std::int64_t last_read_ = 0;   // steady_clock ns of the last byte received
  std::int64_t last_write_ = 0;  // ... of the last write progress (or output becoming non-empty)
  detail::timer_node timer_;
  link_buffer input_;
  link_buffer output_;
};

void connection_add_ref(connection* c) noexcept;
void connection_release(connection* c) noexcept;

// A counted handle to a connection (see "Ownership and lifetime" above).
class connection_ptr {
 public:
  connection_ptr() noexcept = default;
  connection_ptr(std::nullptr_t) noexcept {}
  // Takes a new reference to c.
  explicit connection_ptr(connection* c) noexcept : c_(c) {
    if (c_ != nullptr) connection_add_ref(c_);
  }
  connection_ptr(const connection_ptr& o) noexcept : connection_ptr(o.c_) {}
  connection_ptr(connection_ptr&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  connection_ptr& operator=(const connection_ptr& o) noexcept {
    connection_ptr(o).swap(*this);
    return *this;
  }
  connection_ptr& operator=(connection_ptr&& o) noexcept {
    connection_ptr(std::move(o)).swap(*this);
    return *this;
  }
  ~connection_ptr() { reset(); }

  void reset() noexcept {
    if (c_ != nullptr) connection_release(std::exchange(c_, nullptr));
  }
  void swap(connection_ptr& o) noexcept { std::swap(c_, o.c_); }

  connection* get() const noexcept { return c_; }
  connection& operator*() const noexcept { return *c_; }
  connection* operator->() const noexcept { return c_; }
  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const connection_ptr& a, const connection_ptr& b) noexcept { return a.c_ == b.c_; }

 private:
  connection* c_ = nullptr;
};

KHZ_END_NAMESPACE
