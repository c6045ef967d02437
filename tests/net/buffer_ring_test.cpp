// The io_uring ring of provided receive buffers running dry: a recv that finds no buffer
// completes with ENOBUFS and is re-armed; no byte is lost or reordered, and the loop
// counts it (loop_stats::recv_no_buffer). The same traffic on epoll, which has no ring,
// counts none. Also checks the default ring against the default read bound, since
// multishot recvs depend on it.

#include "net/net_test_util.hpp"

namespace khz::test {
namespace {

class buffer_ring : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(buffer_ring);

// Echoes, but the first on_data blocks the loop thread for a while: the peers' bytes
// meanwhile wait in the sockets, and the next wait hands all of them to the loop at
// once, far more than the ring holds.
class stalling_echo : public echo_handler {
 public:
  void on_data(connection& c) override {
    if (!stalled.exchange(true)) {
      stalling = true;
      std::this_thread::sleep_for(300ms);
    }
    echo_handler::on_data(c);
  }
  std::atomic<bool> stalled{false};
  std::atomic<bool> stalling{false};
};

std::string client_pattern(std::size_t client, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 7 + client) % 53);
  return s;
}

TEST_P(buffer_ring, an_exhausted_ring_loses_no_byte_and_is_counted) {
  fd_leak_guard guard;
  constexpr std::size_t clients = 32;
  constexpr std::size_t per_client = 32 * 1024;  // 1 MiB in all against a 64 KiB ring
  loop_options lo = options();
  lo.uring_buffer_count = 16;
  lo.uring_buffer_size = 4096;
  stalling_echo handler;
  loop_thread lt(lo);
  address a = listen_local(lt, handler);
  lt.start();
  std::vector<int> fds;
  for (std::size_t i = 0; i < clients; ++i) {
    int fd = connect_to(a);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(wait_until([&] { return handler.open_count() == clients; }));
  ASSERT_TRUE(write_all(fds[0], "!"));
  ASSERT_TRUE(wait_until([&] { return handler.stalling.load(); }));
  for (std::size_t i = 0; i < clients; ++i) ASSERT_TRUE(write_all(fds[i], client_pattern(i, per_client)));
  for (std::size_t i = 0; i < clients; ++i) {
    const std::string expected = (i == 0 ? "!" : "") + client_pattern(i, per_client);
    const std::string got = read_exact(fds[i], expected.size());
    ASSERT_EQ(got.size(), expected.size()) << "client " << i;
    EXPECT_TRUE(got == expected) << "client " << i << ": bytes lost or reordered";
  }
  const loop_stats st = lt.stats();
  if (GetParam() == transport::io_uring) {
    EXPECT_GT(st.recv_no_buffer, 0u) << "the ring never ran dry: the test did not test it";
  } else {
    EXPECT_EQ(st.recv_no_buffer, 0u);
  }
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load() == static_cast<int>(clients); }));
}

TEST(buffer_ring_defaults, the_default_ring_fits_under_the_default_read_bound) {
  // Otherwise every io_uring recv of a default server is single-shot (docs/net.md).
  const loop_options lo;
  const connection_options co;
  EXPECT_LE(std::size_t{lo.uring_buffer_count} * lo.uring_buffer_size, co.max_input_bytes);
}

}  // namespace
}  // namespace khz::test
