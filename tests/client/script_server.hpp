#pragma once
// A misbehaving HTTP server for client tests: a raw socket on 127.0.0.1 whose every
// accepted connection runs a per-test script on its own thread. Every wait is bounded
// (poll with timeouts); the destructor stops accepting, shuts the sockets down and joins.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace khz::test {

// One accepted connection, as the script sees it.
class peer {
 public:
  explicit peer(int fd) : fd_(fd) {}

  // Reads until a whole request head ("\r\n\r\n") is buffered, then its Content-Length body
  // (or its chunked body up to "0\r\n\r\n"). Returns the raw request (head + body) and
  // removes it from the buffer; empty on EOF or timeout.
  std::string read_request(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t head_end = in_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = in_.substr(0, head_end + 4);
        std::size_t total = head.size();
        std::string lower = head;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::size_t cl = lower.find("content-length:");
        bool chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
        bool complete = true;
        if (cl != std::string::npos) {
          total += std::stoul(lower.substr(cl + 15));
          complete = in_.size() >= total;
        } else if (chunked) {
          std::size_t end = in_.find("0\r\n\r\n", head_end + 4);
          complete = end != std::string::npos;
          if (complete) total = end + 5;
        }
        if (complete) {
          std::string req = in_.substr(0, total);
          in_.erase(0, total);
          return req;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(left)) return {};
    }
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits until the client closes (EOF) or the timeout passes; true on EOF.
  bool wait_eof(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (!read_some(left)) return eof_;
    }
  }

  // Waits without reading (the peer's bytes pile up in the kernel) until the peer hangs
  // up, the server shuts the socket down, or the timeout passes.
  void hold(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLRDHUP, 0};
    ::poll(&p, 1, static_cast<int>(timeout.count()));
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  const std::string& buffered() const { return in_; }

 private:
  bool read_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string in_;
  bool eof_ = false;
};

class script_server {
 public:
  // `script(peer&, index)` runs once per accepted connection (index counts from 0).
  using script = std::function<void(peer&, int)>;

  explicit script_server(script s, int rcvbuf = 0) : script_(std::move(s)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::listen(fd_, 64);
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~script_server() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);  // unblocks scripts still reading
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
    ::close(fd_);
  }

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int index = accepted_++;
      std::lock_guard lock(mutex_);
      open_.push_back(c);
      workers_.emplace_back([this, c, index] {
        peer p(c);
        script_(p, index);
        {
          std::lock_guard l(mutex_);
          std::erase(open_, c);
        }
        p.close();
      });
    }
  }

  script script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<int> open_;
};

// "HTTP/1.1 200 OK\r\nContent-Length: n\r\n\r\n<body>"
inline std::string ok_response(std::string_view body, std::string_view extra = {}) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" +
         std::string(body);
}

}  // namespace khz::test
