// The epoll backend: edge-triggered readiness, registered once per socket.
//
// Each socket is added with EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET and never modified:
//   - reading: on an EPOLLIN edge the connection reads until the socket is drained (a
//     short read, EAGAIN or EOF), at most 16 reads per turn (then it goes to the ready
//     list so other sockets get their turn). Read backpressure simply stops reading: the
//     edge is remembered (f_readable) and reading resumes from it when the application
//     consumed, while the kernel's receive window stops the peer. That is the effect of
//     removing EPOLLIN from the interest set, without an epoll_ctl per pause.
//   - writing: the loop's flush calls sendmsg over all output blocks once (send when
//     there is one block); if the kernel took less, the connection waits for the next
//     EPOLLOUT edge (no epoll_ctl either).

#include "net/loop_impl.hpp"
#include "net/sys_io.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <system_error>

KHZ_BEGIN_NAMESPACE
namespace detail {

class epoll_backend final : public backend {
 public:
  epoll_backend(loop_impl& loop, const loop_options& options) : loop_(loop) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    events_.resize(std::max(16u, options.max_events));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = tag_wake;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, loop.event_fd(), &ev) != 0) {
      int err = errno;
      ::close(epfd_);
      throw std::system_error(err, std::system_category(), "epoll_ctl(eventfd)");
    }
  }

  ~epoll_backend() override {
    for (connection* c : ready_) connection_release(c);
    ::close(epfd_);
  }

  transport kind() const noexcept override { return transport::epoll; }

  void poll(std::int64_t timeout_ns) override {
    int timeout_ms = -1;
    if (!ready_.empty()) {
      timeout_ms = 0;
    } else if (timeout_ns >= 0) {
      timeout_ms = static_cast<int>(std::min<std::int64_t>((timeout_ns + 999'999) / 1'000'000, INT_MAX));
    }
    int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
    ++loop_.stats().waits;
    loop_.update_now();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events_[static_cast<std::size_t>(i)].data.u64;
      const std::uint32_t ev = events_[static_cast<std::size_t>(i)].events;
      void* ptr = reinterpret_cast<void*>(data & ~std::uint64_t{7});
      switch (data & 7) {
        case tag_connection: on_connection_event(*static_cast<connection*>(ptr), ev); break;
        case tag_listener: accept_all(*static_cast<listener_state*>(ptr)); break;
        case tag_dial: loop_.connect_ready(*static_cast<dial_state*>(ptr)); break;
        case tag_wake: drain_eventfd(); break;
        default: break;
      }
    }
    if (!ready_.empty()) {
      ready_work_.swap(ready_);
      for (connection* c : ready_work_) {
        c->flags_ &= ~connection::f_in_ready;
        if (!(c->flags_ & connection::f_closed)) read(*c);
        connection_release(c);
      }
      ready_work_.clear();
    }
  }

  void wake() noexcept override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(loop_.event_fd(), &one, sizeof one);
  }

  result<void> add_connection(connection& c) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&c) | tag_connection;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd_, &ev) != 0) return system_error_code(errno);
    return {};
  }

  void read_state_changed(connection& c) override {
    // Resumed: if an edge arrived while paused, the socket still has bytes: read them in
    // this iteration. Paused: nothing to do (see the file comment).
    if (!(c.flags_ & connection::f_read_paused) && (c.flags_ & connection::f_readable)) make_ready(c);
  }

  void flush(connection& c) override {
    if (c.flags_ & connection::f_write_blocked) return;  // waiting for EPOLLOUT
    iovec iov[64];
    for (;;) {
      std::size_t count = c.output_.readable_iovecs(iov);
      if (count == 0) {
        if (c.output_.empty()) return;
        // A file region comes first: sendfile(2) straight from the page cache.
        const file_send_result r = loop_.send_file_region(c);
        if (r == file_send_result::progress) continue;
        if (r == file_send_result::failed) return;  // torn down
        break;                                      // would block
      }
      std::size_t total = 0;
      for (std::size_t i = 0; i < count; ++i) total += iov[i].iov_len;
      ssize_t n;
      if (count == 1) {
        n = sys::send(c.fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
      } else {
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = count;
        n = sys::sendmsg(c.fd_, &msg, MSG_NOSIGNAL);
      }
      ++loop_.stats().write_calls;
      if (n >= 0) {
        loop_.write_progress(c, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < total) break;  // the kernel buffer is full
        continue;  // more blocks than one sendmsg takes
      }
      if (n == -EINTR) continue;
      if (n == -EAGAIN) break;
      loop_.teardown(c, system_error_code(static_cast<int>(-n)));
      return;
    }
    c.flags_ |= connection::f_write_blocked | connection::f_drain_notify;
    ++loop_.stats().write_blocked;
  }

  void close_connection(connection& c) noexcept override {
    // Closing the descriptor removes it from the epoll set; events already fetched for
    // it are skipped (the connection is flagged closed and kept alive until the end of
    // the iteration). A ready-list entry holds its own reference.
    ::close(c.fd_);
  }

  result<void> add_listener(listener_state& l) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&l) | tag_listener;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, l.fd_, &ev) != 0) return system_error_code(errno);
    return {};
  }

  void resume_accept(listener_state& l) override { accept_all(l); }

  void close_listener(listener_state& l) noexcept override {
    ::close(l.fd_);
    l.fd_ = -1;
    loop_.listener_released(l);
  }

  result<void> watch_connect(dial_state& d) override {
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLET;
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&d) | tag_dial;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, d.fd, &ev) != 0) return system_error_code(errno);
    return {};
  }

  void unwatch_connect(dial_state& d) noexcept override {
    // Before the descriptor becomes a connection (registered again) or is closed.
    if (d.fd >= 0) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, d.fd, nullptr);
  }

 private:
  static constexpr std::uint64_t tag_connection = 0;
  static constexpr std::uint64_t tag_listener = 1;
  static constexpr std::uint64_t tag_dial = 2;
  static constexpr std::uint64_t tag_wake = 3;
  static constexpr int reads_per_turn = 16;

  void make_ready(connection& c) {
    if (c.flags_ & (connection::f_in_ready | connection::f_closed)) return;
    c.flags_ |= connection::f_in_ready;
    connection_add_ref(&c);
    ready_.push_back(&c);
  }

  void drain_eventfd() noexcept {
    std::uint64_t value;
    while (::read(loop_.event_fd(), &value, sizeof value) > 0) {
    }
    loop_.on_wake();
  }

  void on_connection_event(connection& c, std::uint32_t ev) {
    if (c.flags_ & connection::f_closed) return;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c.flags_ |= connection::f_peer_hup;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      c.flags_ |= connection::f_readable;
      if (!(c.flags_ & connection::f_read_paused)) {
        read(c);
        if (c.flags_ & connection::f_closed) return;
      } else if (ev & EPOLLERR) {
        // Reset while the application is not reading: nothing more will come.
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        loop_.teardown(c, system_error_code(err != 0 ? err : ECONNRESET));
        return;
      }
    }
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (c.flags_ & connection::f_write_blocked)) {
      c.flags_ &= ~connection::f_write_blocked;
      loop_.schedule_flush(c);
    }
  }

  void read(connection& c) {
    if (!loop_impl::wants_read(c)) {
      loop_.update_read_state(c);
      return;
    }
    // After FIN/RST was signalled, read to the end instead of stopping at a short read.
    const bool to_the_end = (c.flags_ & connection::f_peer_hup) != 0;
    bool got = false;
    bool eof = false;
    int error = 0;
    for (int turn = 0;; ++turn) {
      const std::size_t room = c.max_input_ - std::min(c.max_input_, c.input_.size());
      if (room == 0) break;  // backpressure: f_readable stays set
      if (turn == reads_per_turn) {
        make_ready(c);  // fairness: continue in the next iteration
        break;
      }
      std::span<char> span = c.input_.reserve(c.read_size_);
      const std::size_t len = std::min(span.size(), room);
      ssize_t n = sys::recv(c.fd_, span.data(), len, 0);  // recv, not read: no VFS/fsnotify layer
      ++loop_.stats().read_calls;
      if (n > 0) {
        const auto got_bytes = static_cast<std::size_t>(n);
        c.input_.commit(got_bytes);
        c.input_.flush();
        loop_.stats().bytes_read += got_bytes;
        c.last_read_ = loop_.now();
        got = true;
        if (got_bytes == len) {
          if (len == span.size() && c.read_size_ < c.max_read_size_) {
            c.read_size_ = std::min(c.read_size_ * 2, c.max_read_size_);
          }
          continue;
        }
        if (got_bytes < c.read_size_ / 4 && c.read_size_ > c.initial_read_size_) {
          c.read_size_ = std::max(c.read_size_ / 2, c.initial_read_size_);
        }
        if (to_the_end) continue;
        c.flags_ &= ~connection::f_readable;  // a short read drained the socket
        break;
      }
      if (n == 0) {
        eof = true;
        c.flags_ &= ~connection::f_readable;
        break;
      }
      if (n == -EINTR) continue;
      if (n == -EAGAIN) {
        c.flags_ &= ~connection::f_readable;
        break;
      }
      error = static_cast<int>(-n);
      c.flags_ &= ~connection::f_readable;
      break;
    }
    if (got) {
      loop_.deliver(c);
      if (c.flags_ & connection::f_closed) return;
      // Stopped at the input limit and the application consumed: the socket still has
      // bytes (no new edge will come), so read again in this iteration.
      if (error == 0 && !eof && (c.flags_ & connection::f_readable) && loop_impl::wants_read(c)) make_ready(c);
    } else {
      c.input_.release();  // give back a block reserved for a read that found nothing
    }
    if (error != 0) {
      c.flags_ |= connection::f_peer_hup;
      loop_.teardown(c, system_error_code(error));
      return;
    }
    if (eof) {
      loop_.peer_eof(c);
      return;
    }
    if (!got) loop_.update_read_state(c);
  }

  void accept_all(listener_state& l) {
    if (l.closed || l.backing_off) return;
    for (;;) {
      int fd = ::accept4(l.fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        loop_.on_accepted(l, fd);
        if (l.closed) return;
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN) return;
      loop_.accept_failed(l, errno);
      return;
    }
  }

  loop_impl& loop_;
  int epfd_ = -1;
  std::vector<epoll_event> events_;
  std::vector<connection*> ready_;
  std::vector<connection*> ready_work_;
};

std::unique_ptr<backend> make_epoll_backend(loop_impl& loop, const loop_options& options) {
  return std::make_unique<epoll_backend>(loop, options);
}

}  // namespace detail
KHZ_END_NAMESPACE
