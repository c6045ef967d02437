// File regions in a connection's output (link_buffer::append_file), on both backends:
// sendfile(2) through a slow reader with memory before and after, several regions,
// drain notification after a region, a file that shrinks under a pending sendfile
// (a clean close with an error, no crash, no hang), descriptors not leaked.

#include "net/net_test_util.hpp"

#include <stdlib.h>

namespace khz::test {
namespace {

class sendfile_test : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(sendfile_test);

std::string pattern(std::size_t n, unsigned seed = 5) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 13 + seed) % 26);
  return s;
}

struct temp_file {
  explicit temp_file(const std::string& data) {
    char name[] = "/tmp/khz-sendfile-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path = name;
    std::string_view rest = data;
    while (!rest.empty()) {
      ssize_t n = ::write(fd, rest.data(), rest.size());
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ::close(fd);
  }
  ~temp_file() { ::unlink(path.c_str()); }
  std::string path;
};

// Writes what `fill` puts in the output as soon as the connection opens.
class file_writer : public connection_handler {
 public:
  std::function<void(connection&)> fill;
  void on_open(connection& c) override {
    conn = connection_ptr(&c);
    fill(c);
    c.notify_drained();
  }
  void on_data(connection& c) override { c.input().skip(c.input().size()); }
  void on_write_drained(connection& c) override {
    pending_at_drain = c.pending_output();
    ++drained;
  }
  void on_close(connection&, std::error_code r) override {
    reason = r;
    closed = true;
  }
  connection_ptr conn;
  std::atomic<int> drained{0};
  std::atomic<std::size_t> pending_at_drain{12345};
  std::atomic<bool> closed{false};
  std::error_code reason;  // read after `closed`
};

// Reads n bytes slowly: pauses first (the socket buffers fill, sendfile hits EAGAIN),
// then reads in small pieces with short sleeps for a while, then the rest at once.
std::string slow_read(int fd, std::size_t n) {
  std::this_thread::sleep_for(150ms);
  std::string out;
  out.reserve(n);
  char piece[16384];
  for (int i = 0; i < 40 && out.size() < n; ++i) {
    ssize_t r = ::recv(fd, piece, std::min(sizeof piece, n - out.size()), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    out.append(piece, static_cast<std::size_t>(r));
    std::this_thread::sleep_for(2ms);
  }
  out += read_exact(fd, n - out.size());
  return out;
}

TEST_P(sendfile_test, a_large_file_reaches_a_slow_reader_in_order_with_memory_before_and_after) {
  fd_leak_guard guard;
  constexpr std::size_t size = 6u << 20;
  const std::string data = pattern(size);
  temp_file tf(data);
  const std::string expected = "head:" + data.substr(10, size - 20) + ":middle:" + data.substr(0, 4096) + ":tail";
  file_writer h;
  h.fill = [&](connection& c) {
    auto f = file_ref::open(tf.path);
    ASSERT_TRUE(f.has_value());
    link_buffer& out = c.output();
    out.append("head:");
    out.append_file(*f, 10, size - 20);
    out.append(":middle:");
    out.append_file(*f, 0, 4096);  // a second region of the same file
    out.append(":tail");
    ASSERT_TRUE(c.flush().has_value());
  };
  loop_thread lt(options());
  address a = listen_local(lt, h);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  std::string got = slow_read(fd, expected.size());
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "bytes before a region go out before it, bytes after it after";
  ASSERT_TRUE(wait_until([&] { return h.drained.load() >= 1; }));
  EXPECT_EQ(h.pending_at_drain.load(), 0u);
  auto stats = lt.stats();
  EXPECT_GT(stats.write_blocked, 0u) << "the slow reader made sendfile wait for writability";
  EXPECT_GE(stats.bytes_written, expected.size());
  ::close(fd);
  ASSERT_TRUE(wait_until([&] { return h.closed.load(); }));
  lt.stop();
  // The file_ref (its descriptor) went with the output: fd_leak_guard checks it.
}

TEST_P(sendfile_test, a_region_written_with_write_of_a_link_buffer_keeps_its_place) {
  fd_leak_guard guard;
  const std::string data = pattern(300000);
  temp_file tf(data);
  file_writer h;
  h.fill = [&](connection& c) {
    auto f = file_ref::open(tf.path);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE(c.write(std::string_view("<")).has_value());
    link_buffer body;
    body.append_file(*f, 0, data.size());
    ASSERT_TRUE(c.write(std::move(body)).has_value());
    ASSERT_TRUE(c.write(std::string_view(">")).has_value());
  };
  loop_thread lt(options());
  address a = listen_local(lt, h);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  std::string got = read_exact(fd, data.size() + 2);
  EXPECT_TRUE(got == "<" + data + ">");
  ::close(fd);
  ASSERT_TRUE(wait_until([&] { return h.closed.load(); }));
}

TEST_P(sendfile_test, a_file_that_shrinks_under_a_pending_sendfile_closes_the_connection_with_an_error) {
  fd_leak_guard guard;
  constexpr std::size_t size = 16u << 20;  // far more than the socket buffers hold
  temp_file tf(pattern(size));
  file_writer h;
  h.fill = [&](connection& c) {
    auto f = file_ref::open(tf.path);
    ASSERT_TRUE(f.has_value());
    c.output().append_file(*f, 0, size);
    ASSERT_TRUE(c.flush().has_value());
  };
  loop_thread lt(options());
  address a = listen_local(lt, h);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return h.conn && h.conn->write_blocked(); }); }));
  std::size_t sent = lt.call([&] { return size - h.conn->pending_output(); });
  ASSERT_LT(sent, size);
  // Truncate to a little after what was sent: the rest of the region no longer exists.
  const std::size_t new_size = sent + 65536;
  ASSERT_EQ(::truncate(tf.path.c_str(), static_cast<off_t>(new_size)), 0);
  std::string got = read_exact(fd, size);  // ends at EOF or reset
  EXPECT_LE(got.size(), new_size);
  EXPECT_GE(got.size(), sent);
  ASSERT_TRUE(wait_until([&] { return h.closed.load(); })) << "no hang";
  EXPECT_EQ(h.reason, std::error_code(ENODATA, std::system_category()));
  EXPECT_EQ(h.drained.load(), 0) << "no drained callback for output that never left";
  ::close(fd);
}

TEST_P(sendfile_test, a_peer_reset_during_sendfile_closes_cleanly) {
  fd_leak_guard guard;
  constexpr std::size_t size = 16u << 20;
  temp_file tf(pattern(size));
  file_writer h;
  h.fill = [&](connection& c) {
    auto f = file_ref::open(tf.path);
    ASSERT_TRUE(f.has_value());
    c.output().append_file(*f, 0, size);
    ASSERT_TRUE(c.flush().has_value());
  };
  loop_thread lt(options());
  address a = listen_local(lt, h);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return h.conn && h.conn->write_blocked(); }); }));
  close_with_reset(fd);
  ASSERT_TRUE(wait_until([&] { return h.closed.load(); }));
  EXPECT_TRUE(h.reason) << "closed with the error";
  EXPECT_EQ(h.drained.load(), 0);
}

TEST_P(sendfile_test, a_peer_closing_mid_sendfile_raises_no_sigpipe) {
  // sendfile(2) has no MSG_NOSIGNAL: without the loop's SIGPIPE handling the test process
  // would die here (the default action of SIGPIPE).
  fd_leak_guard guard;
  constexpr std::size_t size = 16u << 20;
  temp_file tf(pattern(size));
  for (int round = 0; round < 3; ++round) {
    file_writer h;
    h.fill = [&](connection& c) {
      auto f = file_ref::open(tf.path);
      ASSERT_TRUE(f.has_value());
      c.output().append_file(*f, 0, size);
      ASSERT_TRUE(c.flush().has_value());
    };
    loop_thread lt(options());
    address a = listen_local(lt, h);
    lt.start();
    int fd = connect_to(a);
    ASSERT_GE(fd, 0);
    char buf[4096];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
    ::close(fd);  // unread bytes: the kernel answers further segments with RST, then EPIPE
    ASSERT_TRUE(wait_until([&] { return h.closed.load(); }));
    EXPECT_TRUE(h.reason);
    lt.stop();
  }
}

}  // namespace
}  // namespace khz::test
