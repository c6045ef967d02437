// khz::server over real sockets on 127.0.0.1, for both transports: keep-alive,
// pipelining, async ordering, HEAD, 100-continue, bad input, timeouts, shutdown,
// cancellation, offload.
#include <gtest/gtest.h>
#include <khz/http/parser.hpp>
#include <khz/net/transport.hpp>
#include <khz/server/server.hpp>

#include "support/test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using khz::context;

// A blocking test client on a raw socket; every wait is bounded.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = khz::test::connect_retrying(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_client() { close(); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads more bytes into the buffer; false on EOF, error or timeout.
  bool read_some(std::chrono::milliseconds timeout = 5s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(std::string_view(buf, static_cast<std::size_t>(n)));
    in_.flush();
    return true;
  }
  // The next complete response (the parser is told the request method for HEAD).
  bool read_response(khz::response& out, khz::method m = khz::method::get,
                     std::chrono::milliseconds timeout = 5s) {
    parser_.set_request_method(m);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto st = parser_.parse(in_, out);
      if (st == khz::parse_status::message_complete) return true;
      if (st == khz::parse_status::error) return false;
      if (st == khz::parse_status::headers_complete) continue;
      if (st == khz::parse_status::closed) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(left)) {
        if (eof_ && parser_.eof() == khz::parse_status::message_complete) return true;
        return false;
      }
    }
  }
  // True when the server closed the connection (EOF) within the timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (!read_some(left) && !eof_) return false;
    }
    return true;
  }
  khz::link_buffer& input() { return in_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  khz::link_buffer in_;
  khz::response_parser parser_;
};

std::string body_of(khz::response& r) {
  std::string s(r.body().size(), '\0');
  r.body().copy_to({s.data(), s.size()});
  return s;
}

std::string get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

class server_test : public ::testing::TestWithParam<khz::transport> {
 protected:
  khz::server_options options() {
    return khz::server_options{}
        .with_address("127.0.0.1:0")
        .with_loops(1)
        .with_transport(GetParam())
        .with_worker_threads(2);
  }

  void start(khz::server& s) {
    s.start();
    ASSERT_FALSE(s.listen_addresses().empty());
    port_ = s.listen_addresses().front().port();
  }

  std::uint16_t port_ = 0;
  khz::test::fd_leak_guard leaks_;
};

TEST_P(server_test, get_and_keep_alive) {
  khz::server s(options());
  s.get("/hello/:name", [](context& c) { c.string(200, "Hello, {}!", c.param("name")); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/hello/khz")));
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_EQ(r.status_code(), 200u);
    EXPECT_EQ(body_of(r), "Hello, khz!");
    EXPECT_EQ(r.headers().get("Server"), "khz");
    EXPECT_FALSE(r.headers().get("Date").empty());
    EXPECT_TRUE(r.keep_alive());
  }
  s.shutdown(1s);
}

TEST_P(server_test, server_field_from_the_options_unless_the_handler_set_one) {
  {
    khz::server s(options());
    s.get("/own", [](context& c) {
      c.set_header("server", "mine");
      c.string(200, "own");
    });
    s.get("/default", [](context& c) { c.string(200, "default"); });
    start(s);
    raw_client c(port_);
    ASSERT_TRUE(c.send(get("/own") + get("/default")));
    khz::response own;
    ASSERT_TRUE(c.read_response(own));
    EXPECT_EQ(own.headers().count("Server"), 1u);
    EXPECT_EQ(own.headers().get("Server"), "mine");
    khz::response def;
    ASSERT_TRUE(c.read_response(def));
    EXPECT_EQ(def.headers().count("Server"), 1u);
    EXPECT_EQ(def.headers().get("Server"), "khz");
    s.shutdown(1s);
  }
  {
    khz::server s(options().with_server_name("").with_date_header(false));
    s.get("/", [](context& c) { c.string(200, "bare"); });
    start(s);
    raw_client c(port_);
    ASSERT_TRUE(c.send(get("/")));
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_EQ(body_of(r), "bare");
    EXPECT_FALSE(r.headers().contains("Server"));
    EXPECT_FALSE(r.headers().contains("Date"));
    s.shutdown(1s);
  }
  {
    // A server name that would inject a field is refused when the server starts (it is
    // checked once there, not per response).
    khz::server s(options().with_server_name("khz\r\nX-Injected: 1"));
    s.get("/", [](context& c) { c.string(200, "never"); });
    try {
      s.start();
      FAIL() << "start() must throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("server_name"), std::string::npos) << e.what();
    }
    khz::server t(options().with_server_name(std::string("khz\0", 4)));
    EXPECT_THROW(t.start(), std::invalid_argument);
  }
}

TEST_P(server_test, date_field_follows_the_clock_on_a_busy_connection) {
  khz::server s(options());
  s.get("/", [](context& c) { c.string(200, "tick"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/")));
  khz::response first;
  ASSERT_TRUE(c.read_response(first));
  const std::string first_date(first.headers().get("Date"));
  EXPECT_EQ(first_date.size(), 29u);  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(c.send(get("/") + get("/")));
  for (int i = 0; i < 2; ++i) {
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_NE(r.headers().get("Date"), first_date) << "a second later the Date field moved on";
  }
  s.shutdown(1s);
}

TEST_P(server_test, hundred_pipelined_requests_in_one_write) {
  khz::server s(options());
  s.get("/n/:i", [](context& c) { c.string(200, "{}", c.param("i")); });
  start(s);
  raw_client c(port_);
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += get("/n/" + std::to_string(i));
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 100; ++i) {
    khz::response r;
    ASSERT_TRUE(c.read_response(r)) << i;
    EXPECT_EQ(body_of(r), std::to_string(i));
  }
  s.shutdown(1s);
}

TEST_P(server_test, async_handlers_finish_out_of_order_but_answer_in_order) {
  khz::server s(options());
  std::vector<int> finish_order;
  s.get("/sleep/:ms", [&](context& c) -> khz::task<> {
    int ms = std::stoi(std::string(c.param("ms")));
    co_await c.sleep(std::chrono::milliseconds(ms));
    finish_order.push_back(ms);  // loop thread only
    c.string(200, "slept {}", ms);
  });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/sleep/120") + get("/sleep/60") + get("/sleep/1")));
  for (int ms : {120, 60, 1}) {
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_EQ(body_of(r), "slept " + std::to_string(ms));
  }
  s.shutdown(1s);
  EXPECT_EQ(finish_order, (std::vector<int>{1, 60, 120}))
      << "the handlers really did finish out of order";
}

TEST_P(server_test, head_gets_headers_without_body) {
  khz::server s(options());
  s.handle("HEAD", "/doc", [](context& c) { c.string(200, "twelve bytes"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send("HEAD /doc HTTP/1.1\r\nHost: t\r\n\r\n" + get("/doc")));
  khz::response r;
  ASSERT_TRUE(c.read_response(r, khz::method::head));
  EXPECT_EQ(r.status_code(), 200u);
  EXPECT_EQ(r.headers().get("Content-Length"), "12");
  EXPECT_EQ(r.body().size(), 0u);
  khz::response second;
  ASSERT_TRUE(c.read_response(second));
  EXPECT_EQ(second.status_code(), 404u) << "the next response starts right after the bodiless one";
  s.shutdown(1s);
}

TEST_P(server_test, expect_100_continue) {
  khz::server s(options());
  s.post("/up", [](context& c) { c.string(200, "got {}", c.body().size()); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(
      c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(c.read_some());
  EXPECT_EQ(c.input().peek(c.input().size()), "HTTP/1.1 100 Continue\r\n\r\n");
  c.input().skip(c.input().size());
  ASSERT_TRUE(c.send("hello"));
  khz::response r;
  ASSERT_TRUE(c.read_response(r, khz::method::post));
  EXPECT_EQ(body_of(r), "got 5");
  s.shutdown(1s);
}

TEST_P(server_test, expect_refused_by_hook_with_417_without_reading_the_body) {
  auto o = options();
  o.continue_handler = [](const context& c) -> unsigned {
    return c.request().content_length().value_or(0) > 10 ? 417 : 0;
  };
  khz::server s(o);
  s.post("/up", [](context& c) { c.string(200, "ok"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(
      "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"));
  khz::response r;
  ASSERT_TRUE(c.read_response(r, khz::method::post));
  EXPECT_EQ(r.status_code(), 417u);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(c.closed_by_peer());
  s.shutdown(1s);
}

struct bad_case {
  const char* name;
  std::string request;
  unsigned status;
};

TEST_P(server_test, bad_input_gets_its_answer_closes_and_spares_other_connections) {
  auto o = options();
  o.max_target_length = 100;
  o.max_header_bytes = 1024;
  o.max_request_body_size = 64;
  khz::server s(o);
  s.any("/*any", [](context& c) { c.string(200, "fine"); });
  start(s);
  const bad_case cases[] = {
      {"malformed", "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 400},
      {"no host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"cl and te",
       "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"long target", "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"big header", "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n",
       431},
      {"body over limit", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n", 413},
      {"chunked not last", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, br\r\n\r\n",
       400},
      {"unsupported coding",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"unknown method", "BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
  };
  raw_client bystander(port_);
  ASSERT_TRUE(bystander.send(get("/before")));
  khz::response before;
  ASSERT_TRUE(bystander.read_response(before));
  for (const auto& bc : cases) {
    SCOPED_TRACE(bc.name);
    raw_client c(port_);
    ASSERT_TRUE(c.send(bc.request));
    khz::response r;
    ASSERT_TRUE(c.read_response(r, khz::method::post));
    EXPECT_EQ(r.status_code(), bc.status);
    EXPECT_FALSE(r.keep_alive()) << "Connection: close";
    EXPECT_TRUE(c.closed_by_peer());
  }
  ASSERT_TRUE(bystander.send(get("/after")));
  khz::response after;
  ASSERT_TRUE(bystander.read_response(after));
  EXPECT_EQ(body_of(after), "fine") << "other connections are not affected";
  s.shutdown(1s);
}

TEST_P(server_test, good_requests_before_a_bad_one_are_answered_first) {
  khz::server s(options());
  s.get("/ok", [](context& c) { c.string(200, "ok"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/ok") + get("/ok") + "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"));
  khz::response a, b, bad;
  ASSERT_TRUE(c.read_response(a));
  ASSERT_TRUE(c.read_response(b));
  ASSERT_TRUE(c.read_response(bad));
  EXPECT_EQ(a.status_code(), 200u);
  EXPECT_EQ(b.status_code(), 200u);
  EXPECT_EQ(bad.status_code(), 400u);
  EXPECT_TRUE(c.closed_by_peer());
  s.shutdown(1s);
}

TEST_P(server_test, connection_close_and_http10) {
  khz::server s(options());
  s.get("/", [](context& c) { c.string(200, "x"); });
  start(s);
  {
    raw_client c(port_);
    ASSERT_TRUE(c.send(get("/", "Connection: close\r\n")));
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_FALSE(r.keep_alive());
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    raw_client c(port_);
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_TRUE(c.closed_by_peer()) << "HTTP/1.0 without keep-alive closes";
  }
  {
    raw_client c(port_);
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_TRUE(r.keep_alive());
    EXPECT_EQ(r.headers().get("Connection"), "keep-alive");
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(c.read_response(r));
  }
  s.shutdown(1s);
}

TEST_P(server_test, exception_becomes_500_and_the_connection_keeps_serving) {
  khz::server s(options());
  s.get("/boom", [](context&) { throw std::runtime_error("handler bug"); });
  s.get("/ok", [](context& c) { c.string(200, "ok"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/boom") + get("/ok")));
  khz::response a, b;
  ASSERT_TRUE(c.read_response(a));
  ASSERT_TRUE(c.read_response(b));
  EXPECT_EQ(a.status_code(), 500u);
  EXPECT_EQ(b.status_code(), 200u);
  s.shutdown(1s);
}

TEST_P(server_test, idle_timeout_closes_keep_alive_connections) {
  khz::server s(options().with_idle_timeout(150ms));
  s.get("/", [](context& c) { c.string(200, "x"); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/")));
  khz::response r;
  ASSERT_TRUE(c.read_response(r));
  EXPECT_TRUE(c.closed_by_peer(3s));
  s.shutdown(1s);
}

TEST_P(server_test, slowloris_is_closed_at_the_read_timeout_while_normal_clients_are_served) {
  constexpr int slow_count = 1000;  // the figure: both ends of each live in this process
  ASSERT_GE(khz::test::raise_fd_limit(3 * slow_count), 2u * slow_count + 100)
      << "RLIMIT_NOFILE cannot be raised to " << 3 * slow_count << " (a hard limit that low is not supported)";
  khz::server s(options().with_read_timeout(400ms).with_idle_timeout(0ms));
  s.get("/", [](context& c) { c.string(200, "served"); });
  start(s);
  std::vector<std::unique_ptr<raw_client>> slow;
  const std::string head = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < slow_count; ++i) {
    slow.push_back(std::make_unique<raw_client>(port_));
    ASSERT_TRUE(slow.back()->connected());
  }
  // One header byte per connection every 100 ms: never a whole request.
  auto start_time = std::chrono::steady_clock::now();
  std::size_t sent = 0;
  for (int tick = 0; tick < 12; ++tick) {
    for (auto& sc : slow) (void)sc->send(std::string_view(&head[sent % head.size()], 1));
    ++sent;
    if (tick == 3) {  // meanwhile a normal client is served
      raw_client normal(port_);
      ASSERT_TRUE(normal.send(get("/")));
      khz::response r;
      ASSERT_TRUE(normal.read_response(r));
      EXPECT_EQ(body_of(r), "served");
    }
    std::this_thread::sleep_for(100ms);
  }
  int closed = 0;
  for (auto& sc : slow) closed += sc->closed_by_peer(2s) ? 1 : 0;
  EXPECT_EQ(closed, slow_count) << "every slow connection is closed at the read timeout";
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 20s);
  slow.clear();
  s.shutdown(1s);
}

TEST_P(server_test, graceful_shutdown_finishes_in_flight_requests) {
  khz::server s(options());
  std::atomic<bool> hook_ran{false};
  s.on_shutdown([&] { hook_ran = true; });
  s.get("/slow", [](context& c) -> khz::task<> {
    co_await c.sleep(200ms);
    c.string(200, "finished");
  });
  s.get("/", [](context& c) { c.string(200, "x"); });
  start(s);
  raw_client idle(port_);
  ASSERT_TRUE(idle.send(get("/")));
  khz::response r0;
  ASSERT_TRUE(idle.read_response(r0));
  raw_client busy(port_);
  ASSERT_TRUE(busy.send(get("/slow")));
  std::this_thread::sleep_for(50ms);  // the request is in flight
  auto done = std::async(std::launch::async, [&] { s.shutdown(3s); });
  EXPECT_TRUE(idle.closed_by_peer(2s)) << "idle keep-alive connections are closed at once";
  khz::response r;
  ASSERT_TRUE(busy.read_response(r));
  EXPECT_EQ(body_of(r), "finished");
  EXPECT_FALSE(r.keep_alive()) << "answered with Connection: close";
  EXPECT_TRUE(busy.closed_by_peer());
  done.get();
  EXPECT_TRUE(hook_ran);
  EXPECT_FALSE(s.running());
  raw_client late(port_);
  EXPECT_FALSE(late.connected()) << "no longer accepting";
}

TEST_P(server_test, shutdown_stops_accepting_while_requests_finish_in_both_accept_modes) {
  // With reuse_port off (one listener handing connections out) the listener used to stay
  // open until the loops stopped: new connections were accepted, then closed.
  for (bool reuse_port : {true, false}) {
    SCOPED_TRACE(reuse_port ? "reuse_port" : "dispatch");
    khz::server s(options().with_loops(2).with_reuse_port(reuse_port));
    s.get("/slow", [](context& c) -> khz::task<> {
      co_await c.sleep(300ms);
      c.string(200, "finished");
    });
    start(s);
    raw_client busy(port_);
    ASSERT_TRUE(busy.send(get("/slow")));
    std::this_thread::sleep_for(50ms);  // the request is in flight
    auto done = std::async(std::launch::async, [&] { s.shutdown(3s); });
    std::this_thread::sleep_for(100ms);  // every loop has begun draining
    raw_client late(port_);
    EXPECT_FALSE(late.connected()) << "a draining server accepts nothing";
    khz::response r;
    ASSERT_TRUE(busy.read_response(r));
    EXPECT_EQ(body_of(r), "finished");
    done.get();
  }
}

TEST_P(server_test, shutdown_timeout_force_closes_stuck_requests) {
  khz::server s(options());
  s.get("/forever", [](context& c) -> khz::task<> { co_await c.sleep(1h); });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/forever")));
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  s.shutdown(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_P(server_test, client_gone_while_async_handler_runs_sees_cancellation) {
  khz::server s(options());
  std::promise<bool> seen;
  s.get("/wait", [&](context& c) -> khz::task<> {
    co_await c.sleep(150ms);
    seen.set_value(c.cancelled());
    c.string(200, "nobody reads this");
  });
  start(s);
  {
    raw_client c(port_);
    ASSERT_TRUE(c.send(get("/wait")));
    std::this_thread::sleep_for(30ms);
  }  // closed while the handler is suspended
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  s.shutdown(1s);
}

TEST_P(server_test, offload_runs_on_a_worker_and_resumes_on_the_loop) {
  khz::server s(options());
  s.get("/work", [](context& c) -> khz::task<> {
    auto loop_thread = std::this_thread::get_id();
    auto worker_thread = co_await c.offload([] { return std::this_thread::get_id(); });
    bool back_on_loop = std::this_thread::get_id() == loop_thread;
    int sum = co_await c.offload([] {
      int total = 0;
      for (int i = 1; i <= 100; ++i) total += i;
      return total;
    });
    c.string(200, "{} {} {}", worker_thread != loop_thread, back_on_loop, sum);
  });
  start(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(get("/work")));
  khz::response r;
  ASSERT_TRUE(c.read_response(r));
  EXPECT_EQ(body_of(r), "true true 5050");
  s.shutdown(1s);
}

TEST_P(server_test, post_body_echo_large) {
  khz::server s(options());
  s.post("/echo",
         [](context& c) { c.data(200, "application/octet-stream", std::move(c.body_buffer())); });
  start(s);
  raw_client c(port_);
  std::string body(300000, 'z');
  for (std::size_t i = 0; i < body.size(); i += 7) body[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  khz::response r;
  ASSERT_TRUE(c.read_response(r, khz::method::post));
  EXPECT_EQ(r.status_code(), 200u);
  EXPECT_TRUE(body_of(r) == body);
  s.shutdown(1s);
}

TEST_P(server_test, a_small_receive_ring_still_gets_every_byte) {
  // loop options reach the loops: 16 x 4 KiB on io_uring, far below what 8 clients sending
  // 300 KB bodies at once need, so receives are likely to find it empty and be re-armed
  // (tests/net/buffer_ring_test.cpp makes sure of that at the loop level).
  khz::loop_options lo;
  lo.uring_buffer_count = 16;
  lo.uring_buffer_size = 4096;
  khz::server s(options().with_loop_options(lo));
  s.post("/echo",
         [](context& c) { c.data(200, "application/octet-stream", std::move(c.body_buffer())); });
  start(s);
  std::vector<std::unique_ptr<raw_client>> clients;
  std::vector<std::string> bodies;
  for (int k = 0; k < 8; ++k) {
    clients.push_back(std::make_unique<raw_client>(port_));
    std::string body(300000, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 5 + k) % 26);
    bodies.push_back(std::move(body));
  }
  std::vector<std::thread> senders;
  for (int k = 0; k < 8; ++k)
    senders.emplace_back([&, k] {
      (void)clients[k]->send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                             std::to_string(bodies[k].size()) + "\r\n\r\n" + bodies[k]);
    });
  for (int k = 0; k < 8; ++k) {
    khz::response r;
    ASSERT_TRUE(clients[k]->read_response(r, khz::method::post)) << "client " << k;
    EXPECT_EQ(r.status_code(), 200u);
    EXPECT_TRUE(body_of(r) == bodies[k]) << "client " << k;
  }
  for (auto& t : senders) t.join();
  s.shutdown(1s);
}

KHZ_INSTANTIATE_TRANSPORTS(server_test);

TEST(server_setup, bad_address_is_reported_with_the_text) {
  khz::server s(khz::server_options{}.with_address("not-an-address"));
  try {
    s.start();
    FAIL() << "start() must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not-an-address"), std::string::npos) << e.what();
  }
}

TEST(server_setup, loop_options_reach_the_loops_and_transport_decides_the_backend) {
  khz::test::fd_leak_guard leaks;
  khz::loop_options lo;
  lo.refuse_io_uring = true;     // as if the kernel said no: auto falls back to epoll
  lo.kind = khz::transport::io_uring;  // ignored: `transport` decides
  khz::server s(khz::server_options{}.with_address("127.0.0.1:0").with_loops(1).with_loop_options(lo));
  s.start();
  EXPECT_EQ(s.transport_in_use(), khz::transport::epoll);
  s.shutdown(std::chrono::milliseconds(500));
}

TEST(server_setup, shutdown_right_after_start_leaks_no_listening_socket) {
  // Each loop's SO_REUSEPORT socket travels to it in a posted task; a shutdown that stops
  // the loops before those tasks ran used to leave the sockets open (and listening).
  khz::test::fd_leak_guard leaks;
  for (auto t : {khz::transport::epoll, khz::transport::auto_select}) {
    for (int i = 0; i < 20; ++i) {
      khz::server s(khz::server_options{}.with_address("127.0.0.1:0").with_loops(2).with_transport(t));
      s.start();
      s.shutdown(std::chrono::milliseconds(100));
    }
  }
}

TEST(server_setup, port_in_use_is_reported) {
  khz::test::fd_leak_guard leaks;
  khz::server a(
      khz::server_options{}.with_address("127.0.0.1:0").with_loops(1).with_reuse_port(false));
  a.start();
  auto port = a.listen_addresses().front().port();
  khz::server b(khz::server_options{}
                    .with_address("127.0.0.1:" + std::to_string(port))
                    .with_loops(1)
                    .with_reuse_port(false));
  EXPECT_THROW(b.start(), std::system_error);
  a.shutdown(std::chrono::milliseconds(500));
}

}  // namespace
