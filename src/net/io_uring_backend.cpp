// The io_uring backend: completions instead of readiness.
//
//   - accept: one multishot accept per listener (re-armed when it ends, e.g. after
//     EMFILE once the back-off timer fired);
//   - receive: one multishot recv per connection with IOSQE_BUFFER_SELECT from a ring of
//     provided buffers, each a pooled block. The kernel picks a buffer only when data
//     arrives, so an idle connection holds none; a completed buffer is adopted by the
//     connection's input with link_buffer::append_block() (no copy) and its ring slot is
//     refilled with a fresh block from the pool. On kernels before 6.0 (no multishot
//     recv) the same recv is single-shot and re-armed after each completion;
//   - read backpressure: the recv is cancelled (and not re-armed) while the input is over
//     its limit. The recv is multishot only while the connection has room for a whole
//     ring of buffers; nearer the limit it is single-shot and asks for at most the room
//     left (see arm_recv), so the input stays within max_input_bytes;
//   - send: one send (one block) or sendmsg (several) per connection in flight, prepared
//     by the loop's flush; the kernel waits for writability itself;
//   - wake-ups: a read on the loop's eventfd;
//   - every SQE prepared during an iteration goes to the kernel in the single
//     io_uring_enter that also waits for the next completions (submit-and-wait).
//
// The ring is created with SINGLE_ISSUER | DEFER_TASKRUN | R_DISABLED where the kernel
// has them (6.1+): the thread that runs the loop enables it and is its only submitter.
//
// Closing a socket with operations in flight: an ASYNC_CANCEL by descriptor is prepared
// and the descriptor is closed only after that SQE was submitted, so the number cannot
// be reused by a new socket before the cancellation matched the old one's operations.
// Objects that operations point at (connection, listener, dial) stay alive until the
// last completion (connections through a reference held by each operation).

#include "net/loop_impl.hpp"

#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <thread>

KHZ_BEGIN_NAMESPACE
namespace detail {

namespace {

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0;
  int mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

std::string setup_error_reason(int err) {
  switch (err) {
    case EPERM:
      return "io_uring_setup failed with EPERM: io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked "
             "by a seccomp filter";
    case ENOSYS:
      return "io_uring_setup failed with ENOSYS: the kernel has no io_uring, or a seccomp filter hides it";
    case ENOMEM:
      return "io_uring_setup failed with ENOMEM: not enough locked memory (RLIMIT_MEMLOCK) for the ring";
    default:
      return std::string("io_uring_setup failed: ") + std::strerror(err);
  }
}

// Runs fn on a thread of its own and waits for it. The task that creates an io_uring is
// attached to it until that task exits, and closing the ring later makes the kernel's
// teardown (a kernel worker, some time after the close) interrupt every attached task
// with task work: that task's next interruptible sleep with a timeout, such as a
// blocking connect() or recv() under SO_SNDTIMEO / SO_RCVTIMEO, fails with EINTR though
// no signal was sent. Rings are therefore created on a thread that exits at once, not
// on the caller's (the user's) thread. If no thread can be started, fn runs here.
template <class F>
void on_scratch_thread(F fn) {
  std::exception_ptr error;
  auto body = [&fn, &error] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  };
  bool ran = false;
  try {
    std::thread t(body);
    t.join();
    ran = true;
  } catch (const std::system_error&) {
  }
  if (!ran) body();
  if (error) std::rethrow_exception(error);
}

// A page-aligned buffer ring registered as buffer group `bgid`.
io_uring_buf_ring* map_buf_ring(unsigned entries, std::size_t& bytes) {
  bytes = entries * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  return br;
}

int register_buf_ring(io_uring* ring, io_uring_buf_ring* br, unsigned entries, unsigned short bgid) {
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
  reg.ring_entries = entries;
  reg.bgid = bgid;
  return io_uring_register_buf_ring(ring, &reg, 0);
}

io_uring_support probe_on_this_thread() {
  io_uring_support s;
  io_uring ring{};
  int ret = io_uring_queue_init(8, &ring, 0);
  if (ret < 0) {
    s.error = system_error_code(-ret);
    s.reason = setup_error_reason(-ret);
    return s;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    s.error = make_error_code(errc::not_supported);
    s.reason = "the kernel cannot report its io_uring opcodes (IORING_REGISTER_PROBE, Linux 5.6+)";
  } else {
    const std::pair<int, const char*> needed[] = {
        {IORING_OP_ACCEPT, "ACCEPT"},       {IORING_OP_RECV, "RECV"},   {IORING_OP_SEND, "SEND"},
        {IORING_OP_SENDMSG, "SENDMSG"},     {IORING_OP_POLL_ADD, "POLL_ADD"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}, {IORING_OP_READ, "READ"}};
    for (auto [op, name] : needed) {
      if (!io_uring_opcode_supported(probe, op)) {
        s.error = make_error_code(errc::not_supported);
        s.reason = std::string("the kernel's io_uring lacks IORING_OP_") + name;
        break;
      }
    }
    io_uring_free_probe(probe);
  }
  if (!s.error) {
    std::size_t bytes = 0;
    io_uring_buf_ring* br = map_buf_ring(16, bytes);
    if (br == nullptr) {
      s.error = system_error_code(errno);
      s.reason = "mmap for a buffer ring failed";
    } else {
      ret = register_buf_ring(&ring, br, 16, 0);
      if (ret < 0) {
        s.error = system_error_code(-ret);
        s.reason = "the kernel lacks provided-buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19+)";
      } else {
        io_uring_unregister_buf_ring(&ring, 0);
      }
      ::munmap(br, bytes);
    }
  }
  io_uring_queue_exit(&ring);
  if (!s.error) {
    if (!kernel_at_least(5, 19)) {
      s.error = make_error_code(errc::not_supported);
      s.reason = "multishot accept needs Linux 5.19+";
    }
    s.multishot_recv = kernel_at_least(6, 0);
  }
  return s;
}

}  // namespace

io_uring_support probe_io_uring_kernel() {
  io_uring_support s;
  on_scratch_thread([&s] { s = probe_on_this_thread(); });
  return s;
}

class uring_backend final : public backend {
 public:
  uring_backend(loop_impl& loop, const loop_options& o) : loop_(loop) {
    multishot_recv_ = probe_io_uring().multishot_recv;
    const unsigned entries = std::bit_ceil(std::clamp(o.uring_entries, 64u, 32768u));
    struct attempt {
      unsigned flags;
      bool enable;
    };
    const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    const attempt attempts[] = {
        {base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED, true},
        {base | IORING_SETUP_COOP_TASKRUN, false},
        {IORING_SETUP_CQSIZE, false},
    };
    int ret = -EINVAL;
    on_scratch_thread([&] {  // see on_scratch_thread: not on the caller's thread
      for (const attempt& a : attempts) {
        io_uring_params p{};
        p.flags = a.flags;
        p.cq_entries = entries * 4;
        ret = io_uring_queue_init_params(entries, &ring_, &p);
        if (ret == 0) {
          needs_enable_ = a.enable;
          break;
        }
        if (ret != -EINVAL) break;
      }
    });
    if (ret < 0) throw std::system_error(system_error_code(-ret), setup_error_reason(-ret));

    buf_count_ = std::bit_ceil(std::clamp(o.uring_buffer_count, 16u, 32768u));
    buf_size_ = static_cast<unsigned>(std::clamp<std::size_t>(o.uring_buffer_size, 512, std::size_t{1} << 20));
    buf_mask_ = static_cast<unsigned>(io_uring_buf_ring_mask(buf_count_));
    ring_bytes_ = std::size_t{buf_count_} * buf_size_;
    // Multishot when room + overshoot >= ring, i.e. room >= multishot_room_.
    multishot_room_ = o.uring_recv_overshoot >= ring_bytes_ ? 0 : ring_bytes_ - o.uring_recv_overshoot;
    br_ = map_buf_ring(buf_count_, br_bytes_);
    if (br_ == nullptr) {
      int err = errno;
      io_uring_queue_exit(&ring_);
      throw std::system_error(err, std::system_category(), "mmap (io_uring buffer ring)");
    }
    ret = register_buf_ring(&ring_, br_, buf_count_, buffer_group);
    if (ret < 0) {
      ::munmap(br_, br_bytes_);
      io_uring_queue_exit(&ring_);
      throw std::system_error(system_error_code(-ret), "io_uring_register_buf_ring");
    }
    bufs_.resize(buf_count_);
    for (unsigned i = 0; i < buf_count_; ++i) {
      bufs_[i] = block_pool::local().allocate(buf_size_);
      io_uring_buf_ring_add(br_, bufs_[i]->data, buf_size_, static_cast<unsigned short>(i),
                            static_cast<int>(buf_mask_), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(br_, static_cast<int>(buf_count_));
    arm_wake();
  }

  ~uring_backend() override {
    io_uring_queue_exit(&ring_);
    for (block* b : bufs_) block_release(b);
    if (br_ != nullptr) ::munmap(br_, br_bytes_);
    while (free_sends_ != nullptr) delete std::exchange(free_sends_, free_sends_->next);
    for (int fd : deferred_close_) ::close(fd);
  }

  transport kind() const noexcept override { return transport::io_uring; }

  void start() override {
    if (started_) return;
    // liburing 2.3 declares io_uring_enable_rings() but does not export it: call the
    // register syscall directly.
    if (needs_enable_) ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    started_ = true;
  }

  void poll(std::int64_t timeout_ns) override {
    publish_buffers();
    if (timeout_ns == 0) {
      io_uring_submit_and_get_events(&ring_);
    } else if (timeout_ns < 0) {
      io_uring_submit_and_wait(&ring_, 1);
    } else {
      __kernel_timespec ts{};
      ts.tv_sec = timeout_ns / 1'000'000'000;
      ts.tv_nsec = timeout_ns % 1'000'000'000;
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    ++loop_.stats().waits;
    close_deferred();
    loop_.update_now();
    process_completions();
  }

  void wake() noexcept override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(loop_.event_fd(), &one, sizeof one);
  }

  result<void> add_connection(connection& c) override {
    arm_recv(c);
    return {};
  }

  void read_state_changed(connection& c) override {
    if (c.flags_ & connection::f_closed) return;
    if (!(c.flags_ & connection::f_read_paused)) {
      // A recv whose cancellation is still in flight is re-armed when it completes.
      if (!(c.flags_ & connection::f_recv_armed)) arm_recv(c);
    } else {
      cancel_recv(c);
    }
  }

  void cancel_recv(connection& c) {
    if (!(c.flags_ & connection::f_recv_armed) || (c.flags_ & connection::f_recv_cancel)) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(&c, tag_recv), 0);
    io_uring_sqe_set_data64(sqe, tag_ignore);
    c.flags_ |= connection::f_recv_cancel;
  }

  // Bytes the connection may still take before read backpressure stops it.
  static std::size_t input_room(const connection& c) noexcept {
    return c.max_input_ - std::min(c.max_input_, c.input_.size());
  }

  void flush(connection& c) override {
    // A send in flight continues when it completes; a sendfile waiting on POLLOUT when
    // the poll completes.
    if (c.flags_ & (connection::f_send_armed | connection::f_poll_out)) return;
    send_op* op = alloc_send();
    const std::size_t count = c.output_.readable_iovecs(op->iov);
    if (count == 0) {
      free_send(op);
      if (!c.output_.empty()) send_file(c);
      return;
    }
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += op->iov[i].iov_len;
    io_uring_sqe* sqe = get_sqe();
    if (count == 1) {
      io_uring_prep_send(sqe, c.fd_, op->iov[0].iov_base, op->iov[0].iov_len, MSG_NOSIGNAL);
    } else {
      op->msg = msghdr{};
      op->msg.msg_iov = op->iov;
      op->msg.msg_iovlen = count;
      io_uring_prep_sendmsg(sqe, c.fd_, &op->msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, tagged(op, tag_send));
    op->conn = &c;
    op->length = total;
    c.flags_ |= connection::f_send_armed;
    connection_add_ref(&c);
    ++in_flight_;
    ++loop_.stats().write_calls;
  }

  void close_connection(connection& c) noexcept override {
    if (c.flags_ & (connection::f_recv_armed | connection::f_send_armed | connection::f_poll_out)) {
      cancel_fd_then_close(c.fd_);
    } else {
      ::close(c.fd_);
    }
  }

  result<void> add_listener(listener_state& l) override {
    arm_accept(l);
    return {};
  }

  void resume_accept(listener_state& l) override { arm_accept(l); }

  void close_listener(listener_state& l) noexcept override {
    if (l.armed) {
      cancel_fd_then_close(l.fd_);  // released when the accept's last completion arrives
    } else {
      ::close(l.fd_);
      if (l.ops == 0) loop_.listener_released(l);
    }
    l.fd_ = -1;
  }

  result<void> watch_connect(dial_state& d) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, d.fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, tagged(&d, tag_dial));
    ++d.ops;
    ++in_flight_;
    return {};
  }

  void unwatch_connect(dial_state& d) noexcept override {
    if (d.ops == 0) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(&d, tag_dial), 0);
    io_uring_sqe_set_data64(sqe, tag_ignore);
  }

  void drain() noexcept override {
    draining_ = true;
    start();  // a loop destroyed without running: this thread becomes the submitter
    if (wake_armed_) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, tag_wake, 0);
      io_uring_sqe_set_data64(sqe, tag_ignore);
    }
    for (int round = 0; in_flight_ > 0 && round < 500; ++round) {
      publish_buffers();
      __kernel_timespec ts{};
      ts.tv_nsec = 10'000'000;
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      close_deferred();
      process_completions();
    }
    io_uring_submit(&ring_);
    close_deferred();
  }

 private:
  static constexpr std::uint64_t tag_ignore = 0;
  static constexpr std::uint64_t tag_recv = 1;
  static constexpr std::uint64_t tag_send = 2;
  static constexpr std::uint64_t tag_accept = 3;
  static constexpr std::uint64_t tag_wake = 4;
  static constexpr std::uint64_t tag_dial = 5;
  static constexpr std::uint64_t tag_poll_out = 6;
  static constexpr unsigned short buffer_group = 0;
  static constexpr std::size_t max_iov = 64;

  struct send_op {
    msghdr msg;
    iovec iov[max_iov];
    connection* conn;
    std::size_t length;
    send_op* next;
  };

  static std::uint64_t tagged(const void* p, std::uint64_t tag) noexcept {
    return reinterpret_cast<std::uint64_t>(p) | tag;
  }

  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr && started_) {
      io_uring_submit(&ring_);
      close_deferred();
      sqe = io_uring_get_sqe(&ring_);
    }
    if (sqe == nullptr) {
      throw std::system_error(make_error_code(errc::too_large),
                              "io_uring submission queue full (raise loop_options::uring_entries)");
    }
    return sqe;
  }

  send_op* alloc_send() {
    if (free_sends_ != nullptr) return std::exchange(free_sends_, free_sends_->next);
    return new send_op;
  }
  void free_send(send_op* op) noexcept {
    op->next = free_sends_;
    free_sends_ = op;
  }

  void cancel_fd_then_close(int fd) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, tag_ignore);
    deferred_close_.push_back(fd);
  }

  // Closes descriptors whose cancellation has been submitted (nothing left in the SQ).
  void close_deferred() noexcept {
    if (deferred_close_.empty() || io_uring_sq_ready(&ring_) != 0) return;
    for (int fd : deferred_close_) ::close(fd);
    deferred_close_.clear();
  }

  void publish_buffers() noexcept {
    if (buf_pending_ == 0) return;
    io_uring_buf_ring_advance(br_, static_cast<int>(buf_pending_));
    buf_pending_ = 0;
  }

  void give_buffer(unsigned bid, block* b) noexcept {
    bufs_[bid] = b;
    io_uring_buf_ring_add(br_, b->data, buf_size_, static_cast<unsigned short>(bid), static_cast<int>(buf_mask_),
                          static_cast<int>(buf_pending_++));
  }

  void arm_wake() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, loop_.event_fd(), &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, tag_wake);
    wake_armed_ = true;
    ++in_flight_;
  }

  // Read backpressure with provided buffers: once the kernel runs a multishot recv, it
  // fills as many ring buffers as the socket has data for before the loop sees a single
  // completion, so a pause (a cancellation) lands up to a whole ring late. The recv is
  // therefore multishot only while the connection has room for a whole ring
  // (max_input_bytes - input size >= buffer count x buffer size); nearer to the limit it
  // is a single-shot recv asking for at most the room left (and one buffer), re-armed per
  // completion, and a multishot recv whose completions left less room than a ring is
  // cancelled at once. The input thus never exceeds max_input_bytes when task work runs
  // only inside io_uring_enter (DEFER_TASKRUN, Linux 6.1+: a cancellation is submitted
  // before any further receive runs); on rings without it, by at most one ring.
  // loop_options::uring_recv_overshoot trades exactness for multishot: the room needed
  // shrinks by it, and the input may exceed the limit by as much.
  void arm_recv(connection& c) {
    const std::size_t room = input_room(c);
    const bool multishot = multishot_recv_ && room >= std::max<std::size_t>(multishot_room_, 1);
    io_uring_sqe* sqe = get_sqe();
    if (multishot) {
      io_uring_prep_recv_multishot(sqe, c.fd_, nullptr, 0, 0);
      c.flags_ |= connection::f_recv_multi;
    } else {
      const auto len = static_cast<unsigned>(std::clamp<std::size_t>(room, 1, buf_size_));
      io_uring_prep_recv(sqe, c.fd_, nullptr, len, 0);
      c.flags_ &= ~connection::f_recv_multi;
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, tagged(&c, tag_recv));
    c.flags_ |= connection::f_recv_armed;
    connection_add_ref(&c);
    ++in_flight_;
  }

  // A file region is at the front of the output (the memory before it has completed:
  // one send at a time keeps the order). io_uring has no sendfile op, so the loop calls
  // the non-blocking sendfile(2) itself, and when the socket is full waits for POLLOUT
  // with a one-shot POLL_ADD, then flushes again. (The alternative, SPLICE through a
  // per-connection pipe, costs two descriptors per connection and two linked SQEs per
  // chunk, and splits the backpressure between the pipe and the socket.)
  void send_file(connection& c) {
    for (;;) {
      const file_send_result r = loop_.send_file_region(c);
      if (r == file_send_result::failed) return;
      if (r == file_send_result::would_block) break;
      if (c.output_.empty()) {
        c.flags_ &= ~connection::f_write_blocked;
        return;  // the flush step's maybe_finish takes it from here
      }
      // Memory after the region goes out as a send SQE (flush() does not come back here
      // before that send completed).
      if (!c.output_.front_file().file) {
        flush(c);
        return;
      }
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, c.fd_, POLLOUT);
    io_uring_sqe_set_data64(sqe, tagged(&c, tag_poll_out));
    c.flags_ |= connection::f_poll_out | connection::f_write_blocked | connection::f_drain_notify;
    connection_add_ref(&c);
    ++in_flight_;
    ++loop_.stats().write_blocked;
  }

  void on_poll_out(connection& c, int res) {
    --in_flight_;
    c.flags_ &= ~connection::f_poll_out;
    if (!(c.flags_ & connection::f_closed) && res != -ECANCELED) loop_.schedule_flush(c);
    connection_release(&c);
  }

  void arm_accept(listener_state& l) {
    if (l.armed || l.closed || l.backing_off) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, l.fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tagged(&l, tag_accept));
    l.armed = true;
    ++l.ops;
    ++in_flight_;
  }

  void process_completions() {
    unsigned head;
    unsigned count = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++count;
      const std::uint64_t data = cqe->user_data;
      const int res = cqe->res;
      const unsigned flags = cqe->flags;
      if (data == LIBURING_UDATA_TIMEOUT) continue;
      void* ptr = reinterpret_cast<void*>(data & ~std::uint64_t{7});
      switch (data & 7) {
        case tag_recv: on_recv(*static_cast<connection*>(ptr), res, flags); break;
        case tag_send: on_send(static_cast<send_op*>(ptr), res); break;
        case tag_accept: on_accept(*static_cast<listener_state*>(ptr), res, flags); break;
        case tag_wake: on_wake(res); break;
        case tag_dial: on_dial(*static_cast<dial_state*>(ptr)); break;
        case tag_poll_out: on_poll_out(*static_cast<connection*>(ptr), res); break;
        default: break;
      }
    }
    io_uring_cq_advance(&ring_, count);
    publish_buffers();
  }

  void on_wake(int) {
    --in_flight_;
    wake_armed_ = false;
    loop_.on_wake();
    if (!draining_) arm_wake();
  }

  void on_recv(connection& c, int res, unsigned flags) {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    const bool open = !(c.flags_ & connection::f_closed);
    if (res > 0) {
      const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
      block* b = bufs_[bid];
      ++loop_.stats().read_calls;
      loop_.stats().bytes_read += static_cast<std::size_t>(res);
      if (open && !(c.flags_ & (connection::f_closing | connection::f_abort))) {
        give_buffer(bid, block_pool::local().allocate(buf_size_));
        c.input_.append_block(b, static_cast<std::size_t>(res));  // the ring's reference moves here
        c.input_.flush();
        c.last_read_ = loop_.now();
        loop_.deliver(c);
        // Too close to the limit for another batch of a whole ring: stop the multishot
        // recv now; its last completion re-arms a bounded single-shot one.
        if (more && (c.flags_ & connection::f_recv_multi) && !(c.flags_ & connection::f_closed) &&
            input_room(c) < multishot_room_) {
          cancel_recv(c);
        }
      } else {
        give_buffer(bid, b);  // nobody reads it: the same block goes back to the ring
      }
    } else if (res == 0) {
      if (open) loop_.peer_eof(c);
    } else if (res == -ENOBUFS) {
      ++loop_.stats().recv_no_buffer;  // every ring buffer is out: re-armed below
    } else if (res != -ECANCELED && open) {
      c.flags_ |= connection::f_peer_hup;
      loop_.teardown(c, system_error_code(-res));
    }
    if (!more) {
      c.flags_ &= ~(connection::f_recv_armed | connection::f_recv_cancel | connection::f_recv_multi);
      --in_flight_;
      if (!(c.flags_ & connection::f_closed) && !draining_ && loop_impl::wants_read(c)) arm_recv(c);
      connection_release(&c);
    }
  }

  void on_send(send_op* op, int res) {
    connection& c = *op->conn;
    const std::size_t length = op->length;
    free_send(op);
    --in_flight_;
    c.flags_ &= ~connection::f_send_armed;
    if (c.flags_ & connection::f_closed) {
      c.output_.clear();  // kept for the kernel until now
    } else if (res >= 0) {
      loop_.write_progress(c, static_cast<std::size_t>(res));
      if (static_cast<std::size_t>(res) < length) {
        c.flags_ |= connection::f_drain_notify | connection::f_write_blocked;
        ++loop_.stats().write_blocked;
      } else {
        c.flags_ &= ~connection::f_write_blocked;
      }
      if (!c.output_.empty() || c.output_.pending() != 0) {
        loop_.schedule_flush(c);
      } else {
        loop_.maybe_finish(c);
      }
    } else if (res == -EINTR || res == -EAGAIN) {
      loop_.schedule_flush(c);
    } else if (res != -ECANCELED) {
      c.flags_ |= connection::f_peer_hup;
      loop_.teardown(c, system_error_code(-res));
    }
    connection_release(&c);
  }

  void on_accept(listener_state& l, int res, unsigned flags) {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
      l.armed = false;
      --l.ops;
      --in_flight_;
    }
    if (res >= 0) {
      if (l.closed) {
        ::close(res);
      } else {
        loop_.on_accepted(l, res);
      }
    } else if (res != -ECANCELED && !l.closed && res != -EINTR && res != -EAGAIN && res != -ECONNABORTED) {
      loop_.accept_failed(l, -res);
    }
    if (!more) {
      if (l.closed) {
        if (l.ops == 0) loop_.listener_released(l);
      } else if (!draining_) {
        arm_accept(l);
      }
    }
  }

  void on_dial(dial_state& d) {
    --d.ops;
    --in_flight_;
    loop_.connect_ready(d);  // frees d when it was already finished
  }

  loop_impl& loop_;
  io_uring ring_{};
  bool needs_enable_ = false;
  bool started_ = false;
  bool draining_ = false;
  bool multishot_recv_ = true;
  bool wake_armed_ = false;
  std::uint64_t wake_value_ = 0;
  std::size_t in_flight_ = 0;

  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  unsigned buf_count_ = 0;
  unsigned buf_size_ = 0;
  unsigned buf_mask_ = 0;
  unsigned buf_pending_ = 0;
  std::size_t ring_bytes_ = 0;  // buf_count_ x buf_size_: what one multishot batch can fill
  std::size_t multishot_room_ = 0;  // room under the input limit needed for a multishot recv
  std::vector<block*> bufs_;

  send_op* free_sends_ = nullptr;
  std::vector<int> deferred_close_;
};

std::unique_ptr<backend> make_uring_backend(loop_impl& loop, const loop_options& options) {
  return std::make_unique<uring_backend>(loop, options);
}

}  // namespace detail
KHZ_END_NAMESPACE
