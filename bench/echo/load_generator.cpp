// khz-tcp-echo-load: the closed-loop load generator of the TCP echo benchmark.
//
// Closed loop: each of C connections sends one B-byte message, waits for the whole echo,
// checks it byte for byte, records the round-trip latency and sends the next message.
// Each message carries its sequence number in its first bytes, so an echo that is stale,
// duplicated, truncated or reordered fails the comparison. Latencies go into a fixed
// log-linear histogram (no allocation per message). All connections of a thread share
// one non-blocking, level-triggered epoll set: on a 2-core machine the generator competes
// with the server for CPU, so it does one recv and one send per message when it can.
//
//   khz-tcp-echo-load -c CONNECTIONS -b BYTES -d SECONDS [--warmup SECONDS] [--threads T]
//                     [--host 127.0.0.1] --port P
//
// Timeline: connect all, then warm-up (messages not counted), then the measured window;
// "window=start" is printed (flushed) when the measured window opens so that a driver can
// sample the server's CPU time, then one result line when it closes:
//   messages=... seconds=... msgs_per_sec=... mean_us=... p50_us=... p99_us=... p999_us=...
//   max_us=... errors=... connections=... bytes=... warmup_messages=... load_cpu_s=...
// (load_cpu_s: the generator's own CPU seconds in the window, to tell when it is the limit)
// A message counts in the window when its echo completes inside it. Exit status 0 when
// no error occurred, 1 otherwise (the result line is printed either way), 2 on setup error.
//
// Idle mode (server memory per idle connection):
//   khz-tcp-echo-load --idle N [--hold SECONDS] [--pause SECONDS] [-b BYTES] [--host H] --port P
// 1. opens one warm-up connection and echoes a few messages on it (so that the server's
//    lazily allocated per-loop state exists), prints "warmup=done" and waits for SIGUSR1
//    or --pause seconds (default 0) so that a driver can read the server's baseline RSS;
// 2. opens N more connections, echoes one B-byte message (default 32) on each, so each is
//    known to be accepted and serviced, prints "connected=N";
// 3. holds them all idle until SIGUSR1 or --hold seconds, watching for any the server
//    closes, prints "idle_done closed_by_server=K held_seconds=S", closes everything.

#include "echo_common.hpp"
#include "latency_histogram.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* program = "khz-tcp-echo-load";
constexpr std::size_t scratch_size = 64 * 1024;
constexpr int max_events = 256;

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  bool have_port = false;
  unsigned connections = 100;
  std::size_t bytes = 0;  // 0 = not given
  double duration = 10.0;
  double warmup = 0.0;
  unsigned threads = 1;
  unsigned idle = 0;
  double hold = 30.0;
  double pause = 0.0;
  double connect_timeout = 30.0;
};

[[noreturn]] void usage(const std::string& why) {
  khz_echo::die(program,
                why + "\nusage: " + program +
                    " -c CONNECTIONS -b BYTES -d SECONDS [--warmup SECONDS] [--threads T]"
                    " [--host 127.0.0.1] --port P\n"
                    "       " + program + " --idle N [--hold SECONDS] [--pause SECONDS] [-b BYTES] [--host H] --port P");
}

options parse_options(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage("help requested");
    if (i + 1 >= argc) usage(std::string("missing value after ") + argv[i]);
    const std::string_view value = argv[++i];
    unsigned long long n = 0;
    if (arg == "--port" || arg == "-p") {
      if (!khz_echo::parse_uint(value, 1, 65535, n)) usage("--port takes 1..65535");
      opt.port = static_cast<unsigned>(n);
      opt.have_port = true;
    } else if (arg == "--host") {
      opt.host = std::string(value);
    } else if (arg == "-c" || arg == "--connections") {
      if (!khz_echo::parse_uint(value, 1, 100000, n)) usage("-c takes 1..100000");
      opt.connections = static_cast<unsigned>(n);
    } else if (arg == "-b" || arg == "--bytes") {
      if (!khz_echo::parse_uint(value, 1, 64ull << 20, n)) usage("-b takes 1..67108864");
      opt.bytes = static_cast<std::size_t>(n);
    } else if (arg == "-d" || arg == "--duration") {
      if (!khz_echo::parse_seconds(value, opt.duration) || opt.duration <= 0) usage("-d takes seconds > 0");
    } else if (arg == "--warmup") {
      if (!khz_echo::parse_seconds(value, opt.warmup)) usage("--warmup takes seconds >= 0");
    } else if (arg == "--threads") {
      if (!khz_echo::parse_uint(value, 1, 64, n)) usage("--threads takes 1..64");
      opt.threads = static_cast<unsigned>(n);
    } else if (arg == "--idle") {
      if (!khz_echo::parse_uint(value, 1, 1000000, n)) usage("--idle takes 1..1000000");
      opt.idle = static_cast<unsigned>(n);
    } else if (arg == "--hold") {
      if (!khz_echo::parse_seconds(value, opt.hold)) usage("--hold takes seconds >= 0");
    } else if (arg == "--pause") {
      if (!khz_echo::parse_seconds(value, opt.pause)) usage("--pause takes seconds >= 0");
    } else if (arg == "--connect-timeout") {
      if (!khz_echo::parse_seconds(value, opt.connect_timeout) || opt.connect_timeout <= 0)
        usage("--connect-timeout takes seconds > 0");
    } else {
      usage(std::string("unknown option ") + std::string(arg));
    }
  }
  if (!opt.have_port) usage("--port is required");
  if (opt.idle == 0 && opt.bytes == 0) usage("-b BYTES is required");
  if (opt.idle != 0 && opt.bytes == 0) opt.bytes = 32;
  if (opt.threads > opt.connections) opt.threads = opt.connections;
  return opt;
}

std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int ms_until(std::int64_t deadline, std::int64_t now) noexcept {
  if (deadline <= now) return 0;
  const std::int64_t ms = (deadline - now + 999'999) / 1'000'000;
  return static_cast<int>(std::min<std::int64_t>(ms, 1000));
}

std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(s * 1e9); }

// CPU seconds (user + system) used so far by this whole process, all threads.
double process_cpu_seconds() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

struct endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

endpoint resolve(const options& opt) {
  endpoint ep;
  if (opt.host.find(':') != std::string::npos) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(opt.port));
    if (::inet_pton(AF_INET6, opt.host.c_str(), &a6->sin6_addr) != 1)
      usage("--host must be a numeric IPv4 or IPv6 address, got " + opt.host);
    ep.len = sizeof(sockaddr_in6);
    ep.family = AF_INET6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(opt.port));
    if (::inet_pton(AF_INET, opt.host.c_str(), &a4->sin_addr) != 1)
      usage("--host must be a numeric IPv4 or IPv6 address, got " + opt.host);
    ep.len = sizeof(sockaddr_in);
  }
  return ep;
}

// Opens `count` non-blocking TCP_NODELAY connections, at most `in_flight` handshakes at a
// time (so that a small listen backlog does not turn into SYN retransmission delays).
// Setup errors (refused, out of ports, timeout) exit with a message.
std::vector<int> open_connections(const endpoint& ep, unsigned count, double timeout_s) {
  constexpr unsigned in_flight = 256;
  std::vector<int> fds;
  fds.reserve(count);
  const int ep_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_fd < 0) khz_echo::die_errno(program, "epoll_create1");
  const std::int64_t deadline = now_ns() + seconds_to_ns(timeout_s);
  unsigned started = 0;
  unsigned pending = 0;
  epoll_event events[max_events];
  while (fds.size() < count) {
    while (pending < in_flight && started < count) {
      const int fd = ::socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) khz_echo::die_errno(program, "socket (raise the descriptor limit?)");
      const int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++started;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) == 0) {
        fds.push_back(fd);
        continue;
      }
      if (errno != EINPROGRESS) khz_echo::die_errno(program, "connect");
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.fd = fd;
      if (::epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
      ++pending;
    }
    if (pending == 0) continue;
    const std::int64_t now = now_ns();
    if (now >= deadline)
      khz_echo::die(program, "timed out connecting: " + std::to_string(fds.size()) + " of " +
                                 std::to_string(count) + " connections up");
    const int n = ::epoll_wait(ep_fd, events, max_events, ms_until(deadline, now));
    if (n < 0 && errno != EINTR) khz_echo::die_errno(program, "epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        errno = err;
        khz_echo::die_errno(program, "connect to port " +
                                         std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_port)));
      }
      (void)::epoll_ctl(ep_fd, EPOLL_CTL_DEL, fd, nullptr);
      --pending;
      fds.push_back(fd);
    }
  }
  ::close(ep_fd);
  return fds;
}

// Deterministic per-connection message content; bytes [0, 8) are overwritten with the
// message's sequence number before each send.
void fill_pattern(unsigned char* data, std::size_t size, unsigned connection_id) {
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<unsigned char>((i * 131u + connection_id * 7u + 1u) & 0xffu);
}

void stamp_sequence(unsigned char* data, std::size_t size, std::uint64_t seq) {
  std::memcpy(data, &seq, std::min(size, sizeof seq));
}

// ------------------------------------------------------------------ closed loop

struct connection {
  int fd = -1;
  unsigned id = 0;
  std::unique_ptr<unsigned char[]> message;
  std::size_t sent = 0;
  std::size_t received = 0;
  std::uint64_t seq = 0;
  std::int64_t started_ns = 0;
  bool want_write = false;
};

struct worker_result {
  khz_echo::latency_histogram histogram;
  std::uint64_t warmup_messages = 0;
  std::uint64_t errors = 0;
  std::int64_t ended_ns = 0;  // when the worker stopped (early if all connections failed)
};

class closed_loop_worker {
 public:
  closed_loop_worker(std::vector<int> fds, unsigned first_id, std::size_t bytes)
      : bytes_(bytes), scratch_(new unsigned char[scratch_size]) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) khz_echo::die_errno(program, "epoll_create1");
    connections_.resize(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) {
      connection& c = connections_[i];
      c.fd = fds[i];
      c.id = first_id + static_cast<unsigned>(i);
      c.message = std::make_unique<unsigned char[]>(bytes_);
      fill_pattern(c.message.get(), bytes_, c.id);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
    }
    alive_ = connections_.size();
  }
  closed_loop_worker(const closed_loop_worker&) = delete;
  closed_loop_worker& operator=(const closed_loop_worker&) = delete;
  ~closed_loop_worker() {
    for (auto& c : connections_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(epoll_fd_);
  }

  // Runs the closed loop from `begin` to `end`; messages completing in [measure, end)
  // are recorded.
  void run(std::int64_t begin, std::int64_t measure, std::int64_t end) {
    measure_ns_ = measure;
    end_ns_ = end;
    for (auto& c : connections_) start_message(c, begin);
    epoll_event events[max_events];
    std::int64_t now = now_ns();
    while (now < end_ns_ && alive_ > 0) {
      const int n = ::epoll_wait(epoll_fd_, events, max_events, ms_until(end_ns_, now));
      if (n < 0 && errno != EINTR) khz_echo::die_errno(program, "epoll_wait");
      for (int i = 0; i < n; ++i) {
        auto& c = *static_cast<connection*>(events[i].data.ptr);
        if (c.fd < 0) continue;
        if ((events[i].events & EPOLLOUT) && c.sent < bytes_) send_some(c);
        if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) receive_some(c);
      }
      now = now_ns();
    }
    result_.ended_ns = std::min(now, end_ns_);
  }

  [[nodiscard]] const worker_result& result() const noexcept { return result_; }

 private:
  void start_message(connection& c, std::int64_t now) {
    stamp_sequence(c.message.get(), bytes_, ++c.seq);
    c.sent = 0;
    c.received = 0;
    c.started_ns = now;
    send_some(c);
  }

  void send_some(connection& c) {
    while (c.sent < bytes_) {
      const ssize_t n = ::send(c.fd, c.message.get() + c.sent, bytes_ - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.want_write) set_interest(c, EPOLLIN | EPOLLOUT);
        return;
      }
      fail(c, "send");
      return;
    }
    if (c.want_write) set_interest(c, EPOLLIN);
  }

  void receive_some(connection& c) {
    const std::size_t want = bytes_ - c.received;
    if (want == 0) {
      fail(c, "bytes received with no message outstanding");
      return;
    }
    ssize_t n = 0;
    do {
      n = ::recv(c.fd, scratch_.get(), std::min(want, scratch_size), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) fail(c, "recv");
      return;
    }
    if (n == 0) {
      fail(c, "connection closed by the server");
      return;
    }
    const auto got = static_cast<std::size_t>(n);
    if (c.received + got > c.sent || std::memcmp(scratch_.get(), c.message.get() + c.received, got) != 0) {
      fail(c, "echoed bytes differ from the bytes sent");
      return;
    }
    c.received += got;
    if (c.received < bytes_) return;  // level-triggered: the rest comes with a later event
    const std::int64_t now = now_ns();
    if (now >= measure_ns_) {
      if (now < end_ns_) result_.histogram.record(static_cast<std::uint64_t>(now - c.started_ns));
    } else {
      ++result_.warmup_messages;
    }
    start_message(c, now);
  }

  void set_interest(connection& c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
      fail(c, "epoll_ctl(MOD)");
      return;
    }
    c.want_write = (events & EPOLLOUT) != 0;
  }

  void fail(connection& c, const char* what) {
    const int saved = errno;
    if (result_.errors < 5) {
      std::fprintf(stderr, "%s: connection %u, message %llu: %s", program, c.id,
                   static_cast<unsigned long long>(c.seq), what);
      if (std::strcmp(what, "send") == 0 || std::strcmp(what, "recv") == 0)
        std::fprintf(stderr, ": %s", std::strerror(saved));
      std::fputc('\n', stderr);
    }
    ++result_.errors;
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    --alive_;
  }

  std::size_t bytes_;
  int epoll_fd_ = -1;
  std::unique_ptr<unsigned char[]> scratch_;
  std::vector<connection> connections_;  // never resized after construction: epoll holds pointers
  std::size_t alive_ = 0;
  std::int64_t measure_ns_ = 0;
  std::int64_t end_ns_ = 0;
  worker_result result_;
};

int run_closed_loop(const options& opt) {
  khz_echo::raise_nofile(opt.connections + 64);
  const endpoint ep = resolve(opt);
  std::vector<int> fds = open_connections(ep, opt.connections, opt.connect_timeout);

  // Connection i goes to worker i % T.
  std::vector<std::unique_ptr<closed_loop_worker>> workers;
  for (unsigned t = 0; t < opt.threads; ++t) {
    std::vector<int> mine;
    for (std::size_t i = t; i < fds.size(); i += opt.threads) mine.push_back(fds[i]);
    workers.push_back(std::make_unique<closed_loop_worker>(std::move(mine), t * 1000003u, opt.bytes));
  }

  const std::int64_t begin = now_ns();
  const std::int64_t measure = begin + seconds_to_ns(opt.warmup);
  const std::int64_t end = measure + seconds_to_ns(opt.duration);
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < opt.threads; ++t)
    threads.emplace_back([&, t] { workers[t]->run(begin, measure, end); });
  // The driver samples the server's CPU time when "window=start" appears.
  std::atomic<double> cpu_at_measure{0.0};
  const auto announce = [&cpu_at_measure] {
    cpu_at_measure.store(process_cpu_seconds());
    std::printf("window=start\n");
    std::fflush(stdout);
  };
  std::thread announcer;
  if (measure > begin) {
    announcer = std::thread([measure, &announce] {
      std::int64_t now = now_ns();
      while (now < measure) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(measure - now));
        now = now_ns();
      }
      announce();
    });
  } else {
    announce();
  }
  workers[0]->run(begin, measure, end);
  for (auto& t : threads) t.join();
  if (announcer.joinable()) announcer.join();
  const double load_cpu_s = process_cpu_seconds() - cpu_at_measure.load();

  khz_echo::latency_histogram all;
  std::uint64_t warmup_messages = 0;
  std::uint64_t errors = 0;
  std::int64_t ended = measure;
  for (const auto& w : workers) {
    all.merge(w->result().histogram);
    warmup_messages += w->result().warmup_messages;
    errors += w->result().errors;
    ended = std::max(ended, w->result().ended_ns);
  }
  const double seconds = static_cast<double>(ended - measure) / 1e9;
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "messages=%llu seconds=%.3f msgs_per_sec=%.1f mean_us=%.1f p50_us=%.1f p99_us=%.1f "
      "p999_us=%.1f max_us=%.1f errors=%llu connections=%u bytes=%zu warmup_messages=%llu "
      "load_cpu_s=%.3f\n",
      static_cast<unsigned long long>(all.count()), seconds,
      seconds > 0 ? static_cast<double>(all.count()) / seconds : 0.0, all.mean() / 1000.0,
      us(all.quantile(0.50)), us(all.quantile(0.99)), us(all.quantile(0.999)), us(all.max()),
      static_cast<unsigned long long>(errors), opt.connections, opt.bytes,
      static_cast<unsigned long long>(warmup_messages), load_cpu_s);
  std::fflush(stdout);
  workers.clear();  // closes the connections
  return errors == 0 && all.count() > 0 ? 0 : 1;
}

// ------------------------------------------------------------------ idle mode

// Echoes one message on every connection in `fds` and waits for all echoes; returns the
// number that failed (those are closed and set to -1).
unsigned echo_once_each(std::vector<int>& fds, std::size_t bytes, std::int64_t deadline) {
  const int ep_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_fd < 0) khz_echo::die_errno(program, "epoll_create1");
  std::vector<unsigned char> message(bytes);
  fill_pattern(message.data(), bytes, 0);
  std::vector<std::size_t> received(fds.size(), 0);
  std::unique_ptr<unsigned char[]> scratch(new unsigned char[scratch_size]);
  unsigned failed = 0;
  std::size_t outstanding = 0;
  const auto drop = [&](std::size_t i) {
    ::close(fds[i]);
    fds[i] = -1;
    ++failed;
    --outstanding;
  };
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0) continue;
    ++outstanding;
    // A small message into an empty socket buffer is taken whole; anything else is a failure.
    if (::send(fds[i], message.data(), bytes, MSG_NOSIGNAL) != static_cast<ssize_t>(bytes)) {
      drop(i);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep_fd, EPOLL_CTL_ADD, fds[i], &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
  }
  epoll_event events[max_events];
  while (outstanding > 0) {
    const std::int64_t now = now_ns();
    if (now >= deadline) break;
    const int n = ::epoll_wait(ep_fd, events, max_events, ms_until(deadline, now));
    if (n < 0 && errno != EINTR) khz_echo::die_errno(program, "epoll_wait");
    for (int e = 0; e < n; ++e) {
      const std::size_t i = events[e].data.u64;
      const ssize_t got = ::recv(fds[i], scratch.get(), std::min(bytes - received[i], scratch_size), 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0 || std::memcmp(scratch.get(), message.data() + received[i], static_cast<std::size_t>(got)) != 0) {
        drop(i);
        continue;
      }
      received[i] += static_cast<std::size_t>(got);
      if (received[i] == bytes) {
        (void)::epoll_ctl(ep_fd, EPOLL_CTL_DEL, fds[i], nullptr);
        --outstanding;
      }
    }
  }
  // Whatever is still outstanding at the deadline failed.
  for (std::size_t i = 0; i < fds.size(); ++i)
    if (fds[i] >= 0 && received[i] != bytes) {
      ::close(fds[i]);
      fds[i] = -1;
      ++failed;
    }
  ::close(ep_fd);
  return failed;
}

// Waits until SIGUSR1 arrives on `signal_fd` or `seconds` pass; true if signalled.
bool wait_for_go(int signal_fd, double seconds) {
  const int ep_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_fd < 0) khz_echo::die_errno(program, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (::epoll_ctl(ep_fd, EPOLL_CTL_ADD, signal_fd, &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
  const std::int64_t deadline = now_ns() + seconds_to_ns(seconds);
  bool signalled = false;
  for (std::int64_t now = now_ns(); now < deadline && !signalled; now = now_ns()) {
    epoll_event out{};
    const int n = ::epoll_wait(ep_fd, &out, 1, ms_until(deadline, now));
    if (n == 1) {
      signalfd_siginfo info{};
      signalled = ::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info);
    }
  }
  ::close(ep_fd);
  return signalled;
}

int run_idle(const options& opt) {
  khz_echo::raise_nofile(std::uint64_t{opt.idle} + 256);
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &go, nullptr) != 0) khz_echo::die_errno(program, "sigprocmask");
  const int signal_fd = ::signalfd(-1, &go, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) khz_echo::die_errno(program, "signalfd");
  const endpoint ep = resolve(opt);
  const std::int64_t setup_deadline_ns = seconds_to_ns(opt.connect_timeout);

  // 1. Warm-up connection: a few round trips so that lazily created server state exists.
  std::vector<int> warm = open_connections(ep, 1, opt.connect_timeout);
  for (int round = 0; round < 10; ++round)
    if (echo_once_each(warm, opt.bytes, now_ns() + setup_deadline_ns) != 0)
      khz_echo::die(program, "the warm-up connection's echo failed");
  std::printf("warmup=done\n");
  std::fflush(stdout);
  if (opt.pause > 0) (void)wait_for_go(signal_fd, opt.pause);

  // 2. The idle connections, each serviced once.
  std::vector<int> fds = open_connections(ep, opt.idle, opt.connect_timeout);
  const unsigned failed = echo_once_each(fds, opt.bytes, now_ns() + setup_deadline_ns);
  std::printf("connected=%u failed=%u\n", opt.idle - failed, failed);
  std::fflush(stdout);

  // 3. Hold, counting connections the server closes meanwhile.
  const int ep_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_fd < 0) khz_echo::die_errno(program, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = ~std::uint64_t{0};
  if (::epoll_ctl(ep_fd, EPOLL_CTL_ADD, signal_fd, &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0) continue;
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    if (::epoll_ctl(ep_fd, EPOLL_CTL_ADD, fds[i], &ev) != 0) khz_echo::die_errno(program, "epoll_ctl");
  }
  unsigned closed_by_server = 0;
  const std::int64_t hold_begin = now_ns();
  const std::int64_t hold_end = hold_begin + seconds_to_ns(opt.hold);
  bool signalled = false;
  epoll_event events[max_events];
  for (std::int64_t now = hold_begin; now < hold_end && !signalled; now = now_ns()) {
    const int n = ::epoll_wait(ep_fd, events, max_events, ms_until(hold_end, now));
    if (n < 0 && errno != EINTR) khz_echo::die_errno(program, "epoll_wait");
    for (int e = 0; e < n; ++e) {
      const std::uint64_t i = events[e].data.u64;
      if (i == ~std::uint64_t{0}) {
        signalled = true;
        continue;
      }
      // An idle server must not send anything: data or EOF both mean the connection ended.
      ::close(fds[i]);
      fds[i] = -1;
      ++closed_by_server;
    }
  }
  std::printf("idle_done closed_by_server=%u held_seconds=%.3f\n", closed_by_server,
              static_cast<double>(now_ns() - hold_begin) / 1e9);
  std::fflush(stdout);
  for (const int fd : fds)
    if (fd >= 0) ::close(fd);
  for (const int fd : warm)
    if (fd >= 0) ::close(fd);
  ::close(ep_fd);
  ::close(signal_fd);
  return failed == 0 && closed_by_server == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  return opt.idle != 0 ? run_idle(opt) : run_closed_loop(opt);
}
