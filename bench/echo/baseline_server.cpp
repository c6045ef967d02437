// khz-tcp-echo-baseline: the reference point of the TCP echo benchmark.
//
// A minimal, single-purpose epoll echo server written the straightforward way, so that
// the khz echo server can be compared with "what the kernel costs" rather than with
// another framework: one thread per --loops, each with its own SO_REUSEPORT listener and
// epoll set (no shared state, no locks), level-triggered, TCP_NODELAY, one fixed read
// buffer per thread, and whatever was read is written straight back. A partial write
// parks the remainder in a per-connection heap buffer and stops reading that connection
// until it drains (backpressure), so memory stays bounded by the peer's window.
//
// Idle connections cost no user-space memory beyond one pointer slot in the loop's
// fd-indexed table; that makes the baseline's idle-memory figure the floor.
//
// CLI (same contract as khz-tcp-echo-server):
//   khz-tcp-echo-baseline --port P [--host 127.0.0.1] [--loops N] [--transport X]
// --transport is accepted and ignored (the baseline is epoll only). Once every listener is
// bound it prints "ready epoll <port>" on stdout (flushed); --port 0 picks a free port and
// the printed one is the real one. SIGINT/SIGTERM stop it with exit status 0.

#include "echo_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* program = "khz-tcp-echo-baseline";
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr int max_events = 256;

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned loops = 1;
};

[[noreturn]] void usage(const std::string& why) {
  khz_echo::die(program, why + "\nusage: " + program +
                             " --port P [--host 127.0.0.1] [--loops N] [--transport X (ignored)]");
}

options parse_options(int argc, char** argv) {
  options opt;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage("help requested");
    if (i + 1 >= argc) usage(std::string("missing value after ") + argv[i]);
    const std::string_view value = argv[++i];
    unsigned long long n = 0;
    if (arg == "--port") {
      if (!khz_echo::parse_uint(value, 0, 65535, n)) usage("--port takes 0..65535");
      opt.port = static_cast<unsigned>(n);
      have_port = true;
    } else if (arg == "--host") {
      opt.host = std::string(value);
    } else if (arg == "--loops") {
      if (!khz_echo::parse_uint(value, 1, 256, n)) usage("--loops takes 1..256");
      opt.loops = static_cast<unsigned>(n);
    } else if (arg == "--transport") {
      // Accepted for CLI compatibility with khz-tcp-echo-server; the baseline is epoll only.
    } else {
      usage(std::string("unknown option ") + std::string(arg));
    }
  }
  if (!have_port) usage("--port is required (0 picks a free one)");
  return opt;
}

// Binds a non-blocking SO_REUSEPORT listener; returns the fd. Setup errors exit.
int make_listener(const options& opt, unsigned port) {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int family = AF_INET;
  if (opt.host.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, opt.host.c_str(), &a6->sin6_addr) != 1)
      usage("--host must be a numeric IPv4 or IPv6 address, got " + opt.host);
    addr_len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, opt.host.c_str(), &a4->sin_addr) != 1)
      usage("--host must be a numeric IPv4 or IPv6 address, got " + opt.host);
    addr_len = sizeof(sockaddr_in);
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) khz_echo::die_errno(program, "socket");
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    khz_echo::die_errno(program, "setsockopt(SO_REUSEADDR/SO_REUSEPORT)");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0)
    khz_echo::die_errno(program, "bind " + opt.host + ":" + std::to_string(port) +
                                     " (is the port in use? pick another --port)");
  if (::listen(fd, SOMAXCONN) != 0) khz_echo::die_errno(program, "listen");
  return fd;
}

unsigned bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    khz_echo::die_errno(program, "getsockname");
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// The unsent tail of an echo that the socket did not take in one go.
struct pending_write {
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
  std::size_t offset = 0;
};

// One event loop: owns its listener and every connection it accepts.
class echo_loop {
 public:
  echo_loop(int listen_fd, int stop_fd)
      : listen_fd_(listen_fd), stop_fd_(stop_fd), buffer_(new char[read_buffer_size]) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) khz_echo::die_errno(program, "epoll_create1");
    add(listen_fd_, EPOLLIN);
    add(stop_fd_, EPOLLIN);
  }
  echo_loop(const echo_loop&) = delete;
  echo_loop& operator=(const echo_loop&) = delete;

  ~echo_loop() {
    for (std::size_t fd = 0; fd < open_.size(); ++fd)
      if (open_[fd]) ::close(static_cast<int>(fd));
    ::close(epoll_fd_);
  }

  // Runs until the stop eventfd becomes readable.
  void run() {
    epoll_event events[max_events];
    for (;;) {
      const int n = ::epoll_wait(epoll_fd_, events, max_events, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        khz_echo::die_errno(program, "epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        const int fd = static_cast<int>(events[i].data.fd);
        if (fd == stop_fd_) return;
        if (fd == listen_fd_) {
          accept_all();
        } else if (pending_[static_cast<std::size_t>(fd)]) {
          on_writable(fd);
        } else {
          on_readable(fd);
        }
      }
    }
  }

 private:
  void add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      khz_echo::die_errno(program, "epoll_ctl(ADD)");
  }

  void modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) close_connection(fd);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          // EMFILE/ENFILE/ENOBUFS: leave the rest in the backlog; say so once.
          if (!accept_warned_) std::fprintf(stderr, "%s: accept4: %s\n", program, std::strerror(errno));
          accept_warned_ = true;
        }
        return;
      }
      const int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const auto index = static_cast<std::size_t>(fd);
      if (index >= pending_.size()) {
        pending_.resize(index + 1024);
        open_.resize(index + 1024, false);
      }
      open_[index] = true;
      add(fd, EPOLLIN);
    }
  }

  void on_readable(int fd) {
    for (;;) {
      const ssize_t n = ::recv(fd, buffer_.get(), read_buffer_size, 0);
      if (n > 0) {
        if (!write_all(fd, buffer_.get(), static_cast<std::size_t>(n))) return;
        if (static_cast<std::size_t>(n) < read_buffer_size) return;  // most likely drained
        continue;
      }
      if (n == 0) {
        close_connection(fd);
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_connection(fd);
      return;
    }
  }

  // Writes what it can; parks the rest and waits for EPOLLOUT. False when the connection
  // stopped reading (parked or closed).
  bool write_all(int fd, const char* data, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto parked = std::make_unique<pending_write>();
        parked->size = size - done;
        parked->data = std::make_unique<char[]>(parked->size);
        std::memcpy(parked->data.get(), data + done, parked->size);
        pending_[static_cast<std::size_t>(fd)] = std::move(parked);
        modify(fd, EPOLLOUT);
        return false;
      }
      close_connection(fd);
      return false;
    }
    return true;
  }

  void on_writable(int fd) {
    pending_write& p = *pending_[static_cast<std::size_t>(fd)];
    while (p.offset < p.size) {
      const ssize_t n = ::send(fd, p.data.get() + p.offset, p.size - p.offset, MSG_NOSIGNAL);
      if (n > 0) {
        p.offset += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_connection(fd);
      return;
    }
    pending_[static_cast<std::size_t>(fd)].reset();
    modify(fd, EPOLLIN);
  }

  void close_connection(int fd) {
    const auto index = static_cast<std::size_t>(fd);
    pending_[index].reset();
    open_[index] = false;
    ::close(fd);  // also removes it from the epoll set (never dup'ed)
  }

  int epoll_fd_ = -1;
  int listen_fd_;
  int stop_fd_;
  bool accept_warned_ = false;
  std::unique_ptr<char[]> buffer_;
  std::vector<std::unique_ptr<pending_write>> pending_;  // indexed by fd; null = not parked
  std::vector<bool> open_;                               // indexed by fd; for cleanup at exit
};

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  khz_echo::raise_nofile(1u << 17);

  // Block the stop signals in every thread (threads inherit the mask) and take them with
  // sigwait in main: no async-signal-safety concerns, and a clean exit status 0.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0)
    khz_echo::die(program, "pthread_sigmask failed");
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<int> listeners;
  listeners.push_back(make_listener(opt, opt.port));
  const unsigned port = bound_port(listeners.front());
  for (unsigned i = 1; i < opt.loops; ++i) listeners.push_back(make_listener(opt, port));

  // Level-triggered and never read: once written, every loop sees it and returns.
  const int stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) khz_echo::die_errno(program, "eventfd");

  std::vector<std::unique_ptr<echo_loop>> loops;
  for (const int listen_fd : listeners) loops.push_back(std::make_unique<echo_loop>(listen_fd, stop_fd));
  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });

  std::printf("ready epoll %u\n", port);
  std::fflush(stdout);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one))
    khz_echo::die_errno(program, "write(eventfd)");
  for (auto& t : threads) t.join();
  loops.clear();
  for (const int fd : listeners) ::close(fd);
  ::close(stop_fd);
  return 0;
}
