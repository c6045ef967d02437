#pragma once
// Helpers for the net tests: a loop on its own thread, blocking client sockets, and the
// transport parameterization (every behavioural test runs on epoll and on io_uring; the
// io_uring instances skip, saying why, on a kernel that refuses it).

#include <khz/net/net.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/test_support.hpp"

namespace khz::test {

using namespace std::chrono_literals;

// An event_loop running on its own thread; stop() (or the destructor) stops and joins.
class loop_thread {
 public:
  explicit loop_thread(const loop_options& o = {}) : loop_(std::make_unique<event_loop>(o)) {}
  ~loop_thread() { stop(); }

  void start() {
    thread_ = std::thread([this] { loop_->run(); });
  }
  void stop() {
    loop_->stop();
    if (thread_.joinable()) thread_.join();
  }
  event_loop& loop() { return *loop_; }

  // Runs f on the loop thread and waits for its result.
  template <class F>
  auto call(F&& f) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    std::promise<R> done;
    auto future = done.get_future();
    loop_->post([&] {
      if constexpr (std::is_void_v<R>) {
        f();
        done.set_value();
      } else {
        done.set_value(f());
      }
    });
    return future.get();
  }

  loop_stats stats() {
    return call([this] { return loop_->stats(); });
  }

 private:
  std::unique_ptr<event_loop> loop_;
  std::thread thread_;
};

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

// A blocking client socket with 5 s send/receive timeouts (a hung test fails, not hangs).
inline int connect_to(const address& to) {
  int fd = ::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!test::connect_retrying(fd, to.data(), to.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads exactly n bytes (fewer on EOF, error or timeout).
inline std::string read_exact(int fd, std::size_t n) {
  std::string out;
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

// True when the next read sees EOF (0), false on data, error or timeout.
inline bool read_eof(int fd) {
  char c;
  ssize_t r;
  do {
    r = ::recv(fd, &c, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r == 0;
}

// Closes with RST instead of FIN.
inline void close_with_reset(int fd) {
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

// A handler that echoes everything (moving blocks, no copy) and records closes.
class echo_handler : public connection_handler {
 public:
  void on_open(connection& c) override {
    std::lock_guard lock(mutex);
    open.push_back(connection_ptr(&c));
  }
  void on_data(connection& c) override { c.output().append(std::move(c.input())); }
  void on_close(connection&, std::error_code reason) override {
    std::lock_guard lock(mutex);
    close_reasons.push_back(reason);
    ++closed;
  }
  std::size_t open_count() {
    std::lock_guard lock(mutex);
    return open.size();
  }
  std::vector<std::error_code> reasons() {
    std::lock_guard lock(mutex);
    return close_reasons;
  }

  std::mutex mutex;
  std::vector<connection_ptr> open;
  std::vector<std::error_code> close_reasons;
  std::atomic<int> closed{0};
};

// Parameterization over the backends (instantiate with KHZ_INSTANTIATE_TRANSPORTS).
class transport_test : public ::testing::TestWithParam<transport> {
 protected:
  loop_options options() const {
    loop_options o;
    o.kind = GetParam();
    return o;
  }
};

// A listener on 127.0.0.1:0 registered on `lt` (before it starts); returns the address.
inline address listen_local(loop_thread& lt, connection_handler& h, listen_options o = {},
                            const char* where = "127.0.0.1:0") {
  auto l = lt.loop().listen(*address::parse(where), h, o);
  EXPECT_TRUE(l.has_value()) << l.error().message();
  return l ? (*l)->local_address() : address{};
}

}  // namespace khz::test
