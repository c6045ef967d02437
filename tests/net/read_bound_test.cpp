// Read backpressure bound on both backends with the loop's default io_uring buffer ring
// (64 x 16 KiB): a peer writing as fast as it can to a connection that stops consuming
// never gets more than max_input_bytes into the input (io_uring used to take up to a
// whole ring more, because a multishot recv keeps completing after the pause).

#include "net/net_test_util.hpp"

namespace khz::test {
namespace {

class read_bound : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(read_bound);

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

// Consumes nothing until told to; records the largest input it was handed.
class hoarder : public connection_handler {
 public:
  void on_open(connection& c) override { conn = connection_ptr(&c); }
  void on_data(connection& c) override {
    max_seen = std::max(max_seen.load(), c.input().size());
    if (consuming) drain(c);
  }
  void drain(connection& c) {
    c.input().for_each_chunk([&](std::string_view chunk) {
      for (char ch : chunk) {
        if (ch != static_cast<char>('a' + received % 23)) ordered = false;
        ++received;
      }
    });
    c.input().skip(c.input().size());
  }
  connection_ptr conn;
  std::atomic<std::size_t> max_seen{0};
  std::atomic<std::size_t> received{0};
  std::atomic<bool> ordered{true};
  bool consuming = false;  // loop thread
};

void run_bound_test(const loop_options& lo, std::size_t limit, std::size_t slack = 0) {
  fd_leak_guard guard;
  constexpr std::size_t total = 32u << 20;
  hoarder handler;
  loop_thread lt(lo);
  listen_options o;
  o.connection.max_input_bytes = limit;
  address a = listen_local(lt, handler, o);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  std::atomic<std::size_t> sent{0};
  std::thread writer([&] {
    const std::string data = pattern(total);
    std::string_view rest = data;
    while (!rest.empty()) {
      ssize_t n = ::send(fd, rest.data(), std::min<std::size_t>(rest.size(), 1u << 20), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
      sent += static_cast<std::size_t>(n);
    }
  });
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return handler.conn && handler.conn->read_paused(); }); }));
  std::this_thread::sleep_for(200ms);  // the peer keeps pushing; the pause must hold
  const std::size_t held = lt.call([&] { return handler.conn->input().size(); });
  EXPECT_GE(held, limit);
  EXPECT_LE(held, limit + slack) << "buffered input exceeds max_input_bytes (+ the configured overshoot)";
  EXPECT_LE(handler.max_seen.load(), limit + slack);
  EXPECT_LT(sent.load(), total) << "the kernel's window stopped the peer";
  lt.call([&] {
    handler.consuming = true;
    handler.drain(*handler.conn);
    handler.conn->resume_read();
  });
  ASSERT_TRUE(wait_until([&] { return handler.received.load() == total; }, 30000ms)) << handler.received.load();
  writer.join();
  EXPECT_TRUE(handler.ordered.load()) << "every byte, in order, after the pause";
  EXPECT_LE(handler.max_seen.load(), limit + slack);
  ::close(fd);
}

TEST_P(read_bound, a_fast_writer_to_a_paused_connection_stays_within_max_input_bytes) {
  // Default ring (1 MiB of buffers) and a 100 KB limit: the case that overshot to ~1.1 MB
  // (with the 8 MiB ring of the time).
  run_bound_test(options(), 100 * 1000);
}

TEST_P(read_bound, the_bound_holds_when_the_limit_leaves_room_for_multishot_batches) {
  // A small ring (16 x 4 KiB) under a 1 MiB limit: the recv starts multishot (room for a
  // whole ring) and must turn bounded before the limit.
  loop_options lo = options();
  lo.uring_buffer_count = 16;
  lo.uring_buffer_size = 4096;
  run_bound_test(lo, 1u << 20);
}

TEST_P(read_bound, an_allowed_overshoot_buys_multishot_and_stays_within_it) {
  // uring_recv_overshoot >= the ring: always multishot (the pre-bound behaviour), the input
  // bounded by the limit plus the overshoot; epoll ignores the option.
  loop_options lo = options();
  lo.uring_recv_overshoot = std::size_t{lo.uring_buffer_count} * lo.uring_buffer_size;
  run_bound_test(lo, 100 * 1000, GetParam() == transport::io_uring ? lo.uring_recv_overshoot : 0);
}

}  // namespace
}  // namespace khz::test
