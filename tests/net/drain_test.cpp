// connection::notify_drained(): on_write_drained exactly once when the output has left
// (already empty, fast peer, a peer that stops reading then resumes), never inside the
// call, never after close; write_blocked() and pending_output() along the way.

#include "net/net_test_util.hpp"

namespace khz::test {
namespace {

class drain : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(drain);

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

// Records drained callbacks; everything it touches runs on the loop thread except the
// atomics the test thread polls.
class drain_handler : public connection_handler {
 public:
  void on_open(connection& c) override { conn = connection_ptr(&c); }
  void on_data(connection& c) override { c.input().skip(c.input().size()); }
  void on_write_drained(connection& c) override {
    if (inside_call) reentrant = true;
    pending_at_callback = c.pending_output();
    blocked_at_callback = c.write_blocked();
    iteration_at_callback.push_back(c.loop().stats().iterations);
    ++drained;
    if (rearm > 0) {
      --rearm;
      c.notify_drained();
    }
  }
  void on_close(connection&, std::error_code r) override {
    reason = r;
    if (drained_after_close_check) closed_drained = drained.load();
    closed = true;
  }
  // notify_drained() with a marker so a re-entrant callback is caught.
  void ask(connection& c) {
    inside_call = true;
    c.notify_drained();
    inside_call = false;
  }

  connection_ptr conn;
  bool inside_call = false;
  bool reentrant = false;
  int rearm = 0;
  std::size_t pending_at_callback = 12345;
  bool blocked_at_callback = true;
  std::vector<std::uint64_t> iteration_at_callback;
  std::atomic<int> drained{0};
  std::atomic<bool> closed{false};
  bool drained_after_close_check = true;
  int closed_drained = -1;
  std::error_code reason;
};

struct fixture {
  explicit fixture(const loop_options& o) : lt(o) {
    a = listen_local(lt, h);
    lt.start();
    fd = connect_to(a);
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(wait_until([&] { return lt.call([&] { return static_cast<bool>(h.conn); }); }));
  }
  ~fixture() {
    if (fd >= 0) ::close(fd);
    lt.stop();
  }
  drain_handler h;
  loop_thread lt;
  address a;
  int fd = -1;
};

TEST_P(drain, an_already_empty_output_notifies_once_at_the_next_flush_step_not_inside_the_call) {
  fd_leak_guard guard;
  fixture f(options());
  f.lt.call([&] {
    EXPECT_EQ(f.h.conn->pending_output(), 0u);
    EXPECT_FALSE(f.h.conn->write_blocked());
    f.h.ask(*f.h.conn);
    f.h.ask(*f.h.conn);  // coalesces with the first
    EXPECT_EQ(f.h.drained.load(), 0) << "never inside notify_drained()";
  });
  ASSERT_TRUE(wait_until([&] { return f.h.drained.load() == 1; }));
  std::this_thread::sleep_for(50ms);
  f.lt.call([] {});  // one more iteration at least
  EXPECT_EQ(f.h.drained.load(), 1) << "exactly once";
  EXPECT_FALSE(f.h.reentrant);
  EXPECT_EQ(f.h.pending_at_callback, 0u);
}

TEST_P(drain, a_request_from_the_callback_is_answered_at_a_later_iteration) {
  fd_leak_guard guard;
  fixture f(options());
  f.lt.call([&] {
    f.h.rearm = 3;
    f.h.ask(*f.h.conn);
  });
  ASSERT_TRUE(wait_until([&] { return f.h.drained.load() == 4; }));
  auto iterations = f.lt.call([&] { return f.h.iteration_at_callback; });
  ASSERT_EQ(iterations.size(), 4u);
  for (std::size_t i = 1; i < iterations.size(); ++i) {
    EXPECT_GT(iterations[i], iterations[i - 1]) << "no spin inside one flush step";
  }
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.h.drained.load(), 4);
}

TEST_P(drain, a_fast_peer_gets_everything_and_the_callback_sees_an_empty_output) {
  fd_leak_guard guard;
  fixture f(options());
  constexpr std::size_t total = 4u << 20;
  const std::string data = pattern(total);
  std::thread reader([&] {
    std::string got = read_exact(f.fd, total);
    EXPECT_TRUE(got == data);
  });
  f.lt.call([&] {
    EXPECT_TRUE(f.h.conn->write(data).has_value());
    f.h.ask(*f.h.conn);
    EXPECT_GT(f.h.conn->pending_output(), 0u);
  });
  reader.join();
  ASSERT_TRUE(wait_until([&] { return f.h.drained.load() >= 1; }));
  std::this_thread::sleep_for(30ms);
  f.lt.call([&] {
    EXPECT_EQ(f.h.drained.load(), 1);
    EXPECT_EQ(f.h.pending_at_callback, 0u);
    EXPECT_FALSE(f.h.blocked_at_callback);
    EXPECT_EQ(f.h.conn->pending_output(), 0u);
  });
}

TEST_P(drain, a_peer_that_stops_reading_delays_the_callback_until_it_resumes) {
  fd_leak_guard guard;
  fixture f(options());
  constexpr std::size_t total = 16u << 20;  // more than loopback socket buffers hold
  const std::string data = pattern(total);
  f.lt.call([&] {
    EXPECT_TRUE(f.h.conn->write(data).has_value());
    f.h.ask(*f.h.conn);
  });
  ASSERT_TRUE(wait_until([&] { return f.lt.call([&] { return f.h.conn->write_blocked(); }); }));
  std::this_thread::sleep_for(100ms);
  f.lt.call([&] {
    EXPECT_TRUE(f.h.conn->write_blocked());
    EXPECT_GT(f.h.conn->pending_output(), 0u);
    EXPECT_EQ(f.h.drained.load(), 0) << "the output has not left";
    EXPECT_TRUE(f.h.conn->write(std::string_view("tail")).has_value());  // written before the callback: included
  });
  std::string got = read_exact(f.fd, total + 4);
  ASSERT_EQ(got.size(), total + 4);
  EXPECT_TRUE(got.compare(0, total, data) == 0);
  EXPECT_EQ(got.substr(total), "tail");
  ASSERT_TRUE(wait_until([&] { return f.h.drained.load() >= 1; }));
  std::this_thread::sleep_for(30ms);
  f.lt.call([&] {
    EXPECT_EQ(f.h.drained.load(), 1);
    EXPECT_EQ(f.h.pending_at_callback, 0u);
    EXPECT_FALSE(f.h.conn->write_blocked());
  });
}

TEST_P(drain, no_callback_after_close) {
  fd_leak_guard guard;
  fixture f(options());
  constexpr std::size_t total = 16u << 20;
  f.lt.call([&] {
    EXPECT_TRUE(f.h.conn->write(pattern(total)).has_value());
    f.h.ask(*f.h.conn);
  });
  ASSERT_TRUE(wait_until([&] { return f.lt.call([&] { return f.h.conn->write_blocked(); }); }));
  f.lt.call([&] { f.h.conn->abort(); });
  ASSERT_TRUE(wait_until([&] { return f.h.closed.load(); }));
  std::this_thread::sleep_for(30ms);
  f.lt.call([&] {
    EXPECT_EQ(f.h.drained.load(), 0);
    EXPECT_EQ(f.h.closed_drained, 0);
    // On a closed connection the request does nothing.
    f.h.ask(*f.h.conn);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(f.h.drained.load(), 0);

  // Asked and aborted within the same callback: on_close only.
  drain_handler h2;
  loop_thread lt2(options());
  address a2 = listen_local(lt2, h2);
  lt2.start();
  int fd2 = connect_to(a2);
  ASSERT_GE(fd2, 0);
  ASSERT_TRUE(wait_until([&] { return lt2.call([&] { return static_cast<bool>(h2.conn); }); }));
  lt2.call([&] {
    h2.ask(*h2.conn);
    h2.conn->abort();
  });
  ASSERT_TRUE(wait_until([&] { return h2.closed.load(); }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(h2.drained.load(), 0);
  ::close(fd2);
}

}  // namespace
}  // namespace khz::test
