// khz-http-limit: the "limit" reference of the HTTP echo benchmark.
//
// The least work a server can do and still answer the benchmark's requests correctly: no
// HTTP parser, no routing table, no framework. It exists so that a framework's CPU time per
// request can be compared with the floor set by the kernel (accept, recv, send, epoll) plus
// the few bytes of user-space work any HTTP/1.1 server must do. No framework can use less
// CPU per request than this without skipping work; see README.md for what it skips.
//
// Design (all choices favour fewer syscalls and copies, as a hand-tuned server would):
// * one thread per --loops, each with its own SO_REUSEPORT listener and level-triggered
//   epoll set: no shared state, no locks; TCP_NODELAY on every connection;
// * per readiness event, ONE recv and ONE writev: every complete request in the input is
//   answered, in order, and all the answers go out together (pipelining costs one syscall
//   pair per batch, not per request);
// * a per-loop 256 KiB read buffer; only the unfinished tail of a request (a body split
//   across reads) is kept per connection, in a buffer that grows to exactly the request's
//   size once Content-Length is known, and that later reads land in directly;
// * echoed bodies are never copied: the writev points into the input buffer; response heads
//   are built in a per-loop scratch area from prefixes that carry the Date header, rebuilt
//   once per second;
// * a partial write copies the unsent rest into a per-connection buffer and stops reading
//   that connection until it drains (backpressure: memory stays bounded).
//
// "Parsing": find "\r\n\r\n"; the request line must start with "GET / " or "POST /echo "
// (anything else is answered 404); Content-Length is found case-insensitively at a line
// start and its body is waited for. Transfer-Encoding is refused (501, then close), a body
// above --max-body gets 413 and a head above 64 KiB gets 431, both followed by a close.
// Connection: close from the client is not looked at (the benchmark's clients keep alive).
//
// CLI (same contract as khz-echo-server):
//   khz-http-limit --port P [--host 127.0.0.1] [--loops N] [--transport X] [--max-body BYTES]
// --transport is accepted and ignored (epoll only). Once every listener is bound it prints
// "ready epoll <port>" on stdout (flushed); --port 0 picks a free port and the printed one
// is the real one. SIGINT/SIGTERM stop it with exit status 0; setup errors exit 2.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* program = "khz-http-limit";
constexpr std::size_t read_buffer_size = 256 * 1024;
constexpr std::size_t max_head_size = 64 * 1024;
constexpr std::size_t scratch_size = 64 * 1024;
constexpr std::size_t max_head_reply = 512;  // room one response head may need in scratch
constexpr std::size_t max_pieces = 512;      // iovecs per writev (IOV_MAX is 1024)
constexpr std::size_t min_read_room = 16 * 1024;
constexpr int max_events = 256;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::exit(2);
}

[[noreturn]] void die_errno(const std::string& what) {
  const int saved = errno;
  die(what + ": " + std::strerror(saved));
}

struct options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned loops = 1;
  std::size_t max_body = 1024 * 1024;
};

[[noreturn]] void usage(const std::string& why) {
  die(why + "\nusage: " + program +
      " --port P [--host 127.0.0.1] [--loops N] [--transport X (ignored)] [--max-body BYTES]");
}

bool parse_uint(std::string_view text, unsigned long long lo, unsigned long long hi,
                unsigned long long& out) {
  unsigned long long v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || p != end || v < lo || v > hi) return false;
  out = v;
  return true;
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
      if (!parse_uint(value, 0, 65535, n)) usage("--port takes 0..65535");
      opt.port = static_cast<unsigned>(n);
      have_port = true;
    } else if (arg == "--host") {
      opt.host = std::string(value);
    } else if (arg == "--loops") {
      if (!parse_uint(value, 1, 256, n)) usage("--loops takes 1..256");
      opt.loops = static_cast<unsigned>(n);
    } else if (arg == "--transport") {
      // Accepted for CLI compatibility with khz-echo-server; the limit responder is epoll only.
    } else if (arg == "--max-body") {
      if (!parse_uint(value, 0, 1ull << 30, n)) usage("--max-body takes 0..1073741824 bytes");
      opt.max_body = static_cast<std::size_t>(n);
    } else {
      usage(std::string("unknown option ") + std::string(arg));
    }
  }
  if (!have_port) usage("--port is required (0 picks a free one)");
  return opt;
}

void raise_nofile() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == lim.rlim_max) return;
  lim.rlim_cur = lim.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &lim);
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
  if (fd < 0) die_errno("socket");
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    die_errno("setsockopt(SO_REUSEADDR/SO_REUSEPORT)");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0)
    die_errno("bind " + opt.host + ":" + std::to_string(port) +
              " (is the port in use? pick another --port)");
  if (::listen(fd, SOMAXCONN) != 0) die_errno("listen");
  return fd;
}

unsigned bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die_errno("getsockname");
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// A growable byte buffer without value-initialisation (std::vector<char> would zero what
// recv is about to overwrite).
struct byte_buffer {
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
  std::size_t capacity = 0;

  // Makes room for at least `room` more bytes, keeping the content.
  void reserve_more(std::size_t room) {
    if (capacity - size >= room) return;
    // Doubling for unknown sizes; exactly what is asked when that is more (a known body).
    std::size_t cap = capacity == 0 ? min_read_room : capacity * 2;
    if (cap < size + room) cap = size + room;
    auto bigger = std::unique_ptr<char[]>(new char[cap]);
    if (size != 0) std::memcpy(bigger.get(), data.get(), size);
    data = std::move(bigger);
    capacity = cap;
  }
  void release() {
    data.reset();
    size = capacity = 0;
  }
};

struct connection {
  byte_buffer in;    // the unfinished tail of the input (empty between whole requests)
  byte_buffer out;   // unsent response bytes after a partial write
  std::size_t out_offset = 0;
  std::size_t head_scanned = 0;   // bytes of `in` already known to hold no "\r\n\r\n"
  std::size_t request_size = 0;   // head + body of the request at the start of `in`, 0 = unknown
  bool close_after_write = false;  // an error answer is queued: close once it is sent
};

enum class method_target { get_root, post_echo, other };

// What one request at the start of the input looks like.
struct request_view {
  enum class state { incomplete, complete, bad } st = state::incomplete;
  method_target kind = method_target::other;
  std::size_t head_size = 0;  // up to and including "\r\n\r\n"
  std::size_t body_size = 0;
  int error_status = 0;       // for state::bad: 413, 431, 501 or 400
};

// Case-insensitive "does the line at p (n bytes long) start with `name`" (name lower-case).
bool line_starts_with(const char* p, std::size_t n, std::string_view name) {
  return n >= name.size() && ::strncasecmp(p, name.data(), name.size()) == 0;
}

// Looks at the bytes [p, p + n) from the start of one request. `scanned` is how far a
// previous call got without finding the end of the head (resumes the search there).
request_view look_at(const char* p, std::size_t n, std::size_t scanned, std::size_t max_body) {
  request_view v;
  const std::size_t from = scanned >= 3 ? scanned - 3 : 0;
  const void* end = n > from ? ::memmem(p + from, n - from, "\r\n\r\n", 4) : nullptr;
  if (end == nullptr) {
    if (n > max_head_size) {
      v.st = request_view::state::bad;
      v.error_status = 431;
    }
    return v;
  }
  v.head_size = static_cast<std::size_t>(static_cast<const char*>(end) - p) + 4;
  if (v.head_size > max_head_size) {
    v.st = request_view::state::bad;
    v.error_status = 431;
    return v;
  }
  const std::string_view head(p, v.head_size);
  if (head.starts_with("GET / "))
    v.kind = method_target::get_root;
  else if (head.starts_with("POST /echo "))
    v.kind = method_target::post_echo;

  // Header lines: each starts after a "\n"; the last one is the empty line.
  std::size_t line = head.find('\n');
  bool have_length = false;
  while (line != std::string_view::npos && line + 1 < v.head_size) {
    const std::size_t start = line + 1;
    const std::size_t next = head.find('\n', start);
    const std::size_t len = (next == std::string_view::npos ? v.head_size : next) - start;
    const char* l = p + start;
    if (line_starts_with(l, len, "content-length:")) {
      std::size_t i = 15;
      while (i < len && (l[i] == ' ' || l[i] == '\t')) ++i;
      std::size_t j = i;
      unsigned long long value = 0;
      while (j < len && l[j] >= '0' && l[j] <= '9' && value < (1ull << 40)) {
        value = value * 10 + static_cast<unsigned>(l[j] - '0');
        ++j;
      }
      while (j < len && (l[j] == ' ' || l[j] == '\t' || l[j] == '\r')) ++j;
      if (j == i || j != len || have_length) {  // not a number, or a second one
        v.st = request_view::state::bad;
        v.error_status = 400;
        return v;
      }
      have_length = true;
      v.body_size = static_cast<std::size_t>(value);
    } else if (line_starts_with(l, len, "transfer-encoding:")) {
      v.st = request_view::state::bad;
      v.error_status = 501;
      return v;
    }
    line = next;
  }
  if (v.body_size > max_body) {
    v.st = request_view::state::bad;
    v.error_status = 413;
    return v;
  }
  if (n - v.head_size >= v.body_size) v.st = request_view::state::complete;
  return v;
}

// One event loop: owns its listener and every connection it accepts.
class limit_loop {
 public:
  limit_loop(int listen_fd, int stop_fd, std::size_t max_body)
      : listen_fd_(listen_fd),
        stop_fd_(stop_fd),
        max_body_(max_body),
        read_buffer_(new char[read_buffer_size]),
        scratch_(new char[scratch_size]) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die_errno("epoll_create1");
    add(listen_fd_, EPOLLIN);
    add(stop_fd_, EPOLLIN);
    refresh_date(true);
  }
  limit_loop(const limit_loop&) = delete;
  limit_loop& operator=(const limit_loop&) = delete;

  ~limit_loop() {
    for (std::size_t fd = 0; fd < connections_.size(); ++fd)
      if (connections_[fd]) ::close(static_cast<int>(fd));
    ::close(epoll_fd_);
  }

  // Runs until the stop eventfd becomes readable.
  void run() {
    epoll_event events[max_events];
    for (;;) {
      const int n = ::epoll_wait(epoll_fd_, events, max_events, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        die_errno("epoll_wait");
      }
      refresh_date(false);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_fd_) return;
        if (fd == listen_fd_) {
          accept_all();
          continue;
        }
        connection* c = connections_[static_cast<std::size_t>(fd)].get();
        if (c == nullptr) continue;  // closed earlier in this batch
        if (c->out.size != 0)
          on_writable(fd, *c);
        else
          on_readable(fd, *c);
      }
    }
  }

 private:
  // ------------------------------------------------------------------ canned answers
  // The Date value changes once per second; the prefixes embedding it are rebuilt then.
  void refresh_date(bool force) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (!force && now.tv_sec == date_second_) return;
    date_second_ = now.tv_sec;
    tm parts{};
    ::gmtime_r(&now.tv_sec, &parts);
    char date[64];
    const std::size_t date_len = std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &parts);
    const std::string common = std::string("Server: khz-limit\r\nDate: ") + std::string(date, date_len) + "\r\n";
    hello_ = "HTTP/1.1 200 OK\r\n" + common +
             "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
    not_found_ = "HTTP/1.1 404 Not Found\r\n" + common +
                 "Content-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found";
    echo_prefix_ = "HTTP/1.1 200 OK\r\n" + common + "Content-Type: application/octet-stream\r\nContent-Length: ";
    error_common_ = common;
  }

  // ------------------------------------------------------------------ batching
  // The answers of one readiness event: heads in scratch_, echoed bodies in place.
  void add_piece(const char* p, std::size_t n) {
    if (n == 0) return;
    if (pieces_ != 0) {
      iovec& last = iov_[pieces_ - 1];
      if (static_cast<const char*>(last.iov_base) + last.iov_len == p) {  // contiguous: merge
        last.iov_len += n;
        return;
      }
    }
    iov_[pieces_].iov_base = const_cast<char*>(p);
    iov_[pieces_].iov_len = n;
    ++pieces_;
  }
  void add_scratch(std::string_view text) {
    char* at = scratch_.get() + scratch_used_;
    std::memcpy(at, text.data(), text.size());
    scratch_used_ += text.size();
    add_piece(at, text.size());
  }
  bool batch_full() const {
    return pieces_ + 2 > max_pieces || scratch_size - scratch_used_ < max_head_reply;
  }

  // Sends the batch with one writev. False when the connection stopped being writable
  // for now (the rest was parked in c.out) or was closed.
  bool flush(int fd, connection& c) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < pieces_; ++i) total += iov_[i].iov_len;
    std::size_t sent = 0;
    while (sent < total) {
      // Skip the pieces already sent (only after a short write, which is rare).
      std::size_t first = 0;
      std::size_t skip = sent;
      while (skip >= iov_[first].iov_len) skip -= iov_[first++].iov_len;
      iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + skip;
      iov_[first].iov_len -= skip;
      const ssize_t n = ::writev(fd, iov_ + first, static_cast<int>(pieces_ - first));
      iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) - skip;
      iov_[first].iov_len += skip;
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        park(c, sent);
        reset_batch();
        modify(fd, EPOLLOUT);
        return false;
      }
      reset_batch();
      close_connection(fd);
      return false;
    }
    reset_batch();
    if (c.close_after_write) {
      close_connection(fd);
      return false;
    }
    return true;
  }

  // Copies the batch from byte `sent` on into c.out (the input it points into will move).
  void park(connection& c, std::size_t sent) {
    std::size_t rest = 0;
    for (std::size_t i = 0; i < pieces_; ++i) rest += iov_[i].iov_len;
    rest -= sent;
    c.out.size = 0;
    c.out.reserve_more(rest);
    for (std::size_t i = 0; i < pieces_; ++i) {
      const char* p = static_cast<const char*>(iov_[i].iov_base);
      std::size_t n = iov_[i].iov_len;
      if (sent >= n) {
        sent -= n;
        continue;
      }
      p += sent;
      n -= sent;
      sent = 0;
      std::memcpy(c.out.data.get() + c.out.size, p, n);
      c.out.size += n;
    }
    c.out_offset = 0;
  }

  void reset_batch() {
    pieces_ = 0;
    scratch_used_ = 0;
  }

  void queue_error(connection& c, int status) {
    const char* reason = status == 413   ? "413 Content Too Large"
                         : status == 431 ? "431 Request Header Fields Too Large"
                         : status == 501 ? "501 Not Implemented"
                                         : "400 Bad Request";
    std::string head = std::string("HTTP/1.1 ") + reason + "\r\n" + error_common_ +
                       "Connection: close\r\nContent-Length: 0\r\n\r\n";
    add_scratch(head);
    c.close_after_write = true;
  }

  // Answers every complete request in [data, data + size), flushing as batches fill.
  // Returns the bytes consumed; `alive` is false when the connection was closed or parked
  // (then nothing past the returned count was answered).
  std::size_t serve(int fd, connection& c, const char* data, std::size_t size, bool& alive) {
    std::size_t pos = 0;
    alive = true;
    while (pos < size) {
      const request_view v = look_at(data + pos, size - pos, pos == 0 ? c.head_scanned : 0, max_body_);
      if (v.st == request_view::state::incomplete) {
        // Resume the search for the head's end where this one stopped (or right at the
        // end already found, when only the body is missing).
        c.head_scanned = v.head_size == 0 ? size - pos : v.head_size - 1;
        c.request_size = v.head_size == 0 ? 0 : v.head_size + v.body_size;
        break;
      }
      c.head_scanned = 0;
      c.request_size = 0;
      if (v.st == request_view::state::bad) {
        queue_error(c, v.error_status);
        alive = flush(fd, c);
        return size;  // the connection is closing: the rest of the input is dropped
      }
      switch (v.kind) {
        case method_target::get_root:
          add_scratch(hello_);
          break;
        case method_target::post_echo: {
          char* at = scratch_.get() + scratch_used_;
          std::memcpy(at, echo_prefix_.data(), echo_prefix_.size());
          char* digits = at + echo_prefix_.size();
          char* end = std::to_chars(digits, digits + 24, v.body_size).ptr;
          std::memcpy(end, "\r\n\r\n", 4);
          const auto head_len = static_cast<std::size_t>(end + 4 - at);
          scratch_used_ += head_len;
          add_piece(at, head_len);
          add_piece(data + pos + v.head_size, v.body_size);
          break;
        }
        case method_target::other:
          add_scratch(not_found_);
          break;
      }
      pos += v.head_size + v.body_size;
      if (batch_full() && !flush(fd, c)) {
        alive = false;
        return pos;
      }
    }
    if (pieces_ != 0 && !flush(fd, c)) alive = false;
    return pos;
  }

  // ------------------------------------------------------------------ events
  void on_readable(int fd, connection& c) {
    char* target;
    std::size_t room;
    if (c.in.size == 0) {
      target = read_buffer_.get();
      room = read_buffer_size;
    } else {
      // A request is in progress: read straight behind it, sized for the whole request
      // when its length is known.
      const std::size_t want = c.request_size > c.in.size ? c.request_size - c.in.size : min_read_room;
      c.in.reserve_more(want < min_read_room ? min_read_room : want);
      target = c.in.data.get() + c.in.size;
      room = c.in.capacity - c.in.size;
    }
    ssize_t n;
    do {
      n = ::recv(fd, target, room, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close_connection(fd);
      return;
    }
    const char* data;
    std::size_t size;
    if (c.in.size == 0) {
      data = read_buffer_.get();
      size = static_cast<std::size_t>(n);
    } else {
      c.in.size += static_cast<std::size_t>(n);
      data = c.in.data.get();
      size = c.in.size;
    }
    bool alive = true;
    const std::size_t used = serve(fd, c, data, size, alive);
    if (!alive && connections_[static_cast<std::size_t>(fd)] == nullptr) return;  // closed
    keep_tail(c, data, size, used);
  }

  // Keeps input bytes [used, size) (an unfinished request, or unanswered requests when
  // the connection was parked) at the start of c.in.
  void keep_tail(connection& c, const char* data, std::size_t size, std::size_t used) {
    const std::size_t rest = size - used;
    if (data == c.in.data.get()) {
      if (rest != 0 && used != 0) std::memmove(c.in.data.get(), data + used, rest);
      c.in.size = rest;
      // A buffer grown for a large body is given back once it is empty, so idle
      // connections hold no input memory.
      if (rest == 0) c.in.release();
      return;
    }
    if (rest == 0) return;
    c.in.size = 0;
    c.in.reserve_more(c.request_size > rest ? c.request_size : rest);
    std::memcpy(c.in.data.get(), data + used, rest);
    c.in.size = rest;
  }

  void on_writable(int fd, connection& c) {
    while (c.out_offset < c.out.size) {
      const ssize_t n = ::send(fd, c.out.data.get() + c.out_offset, c.out.size - c.out_offset, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_offset += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_connection(fd);
      return;
    }
    c.out.release();
    c.out_offset = 0;
    if (c.close_after_write) {
      close_connection(fd);
      return;
    }
    // Requests that arrived while parked are answered before reading more.
    if (c.in.size != 0) {
      bool alive = true;
      const std::size_t used = serve(fd, c, c.in.data.get(), c.in.size, alive);
      if (!alive && connections_[static_cast<std::size_t>(fd)] == nullptr) return;
      keep_tail(c, c.in.data.get(), c.in.size, used);
      if (!alive) return;  // parked again; still waiting for EPOLLOUT
    }
    modify(fd, EPOLLIN);
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
      if (index >= connections_.size()) connections_.resize(index + 1024);
      connections_[index] = std::make_unique<connection>();
      add(fd, EPOLLIN);
    }
  }

  void add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) die_errno("epoll_ctl(ADD)");
  }

  void modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) close_connection(fd);
  }

  void close_connection(int fd) {
    connections_[static_cast<std::size_t>(fd)].reset();
    ::close(fd);  // also removes it from the epoll set (never dup'ed)
  }

  int epoll_fd_ = -1;
  int listen_fd_;
  int stop_fd_;
  std::size_t max_body_;
  bool accept_warned_ = false;
  std::unique_ptr<char[]> read_buffer_;
  std::unique_ptr<char[]> scratch_;
  std::size_t scratch_used_ = 0;
  iovec iov_[max_pieces];
  std::size_t pieces_ = 0;
  std::time_t date_second_ = 0;
  std::string hello_;
  std::string not_found_;
  std::string echo_prefix_;
  std::string error_common_;
  std::vector<std::unique_ptr<connection>> connections_;  // indexed by fd; null = not open
};

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  raise_nofile();

  // Block the stop signals in every thread (threads inherit the mask) and take them with
  // sigwait in main: no async-signal-safety concerns, and a clean exit status 0.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) die("pthread_sigmask failed");
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<int> listeners;
  listeners.push_back(make_listener(opt, opt.port));
  const unsigned port = bound_port(listeners.front());
  for (unsigned i = 1; i < opt.loops; ++i) listeners.push_back(make_listener(opt, port));

  // Level-triggered and never read: once written, every loop sees it and returns.
  const int stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) die_errno("eventfd");

  std::vector<std::unique_ptr<limit_loop>> loops;
  for (const int listen_fd : listeners)
    loops.push_back(std::make_unique<limit_loop>(listen_fd, stop_fd, opt.max_body));
  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });

  std::printf("ready epoll %u\n", port);
  std::fflush(stdout);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) die_errno("write(eventfd)");
  for (auto& t : threads) t.join();
  loops.clear();
  for (const int fd : listeners) ::close(fd);
  ::close(stop_fd);
  return 0;
}
