// Connections over real sockets, on both backends: echo, batching, backpressure both
// ways, liveness, half-close, resets, timeouts, lifetime after close.

#include "net/net_test_util.hpp"

#include <cstring>

namespace khz::test {
namespace {

class conn : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(conn);

std::string pattern(std::size_t n, std::size_t offset = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (offset + i) % 23);
  return s;
}

TEST_P(conn, echo_round_trips_over_ipv4_ipv6_and_unix_sockets) {
  fd_leak_guard guard;
  echo_handler handler;
  loop_thread lt(options());
  const std::string unix_path = "/tmp/khz-net-test-" + std::to_string(::getpid()) + ".sock";
  std::vector<address> addrs;
  addrs.push_back(listen_local(lt, handler, {}, "127.0.0.1:0"));
  addrs.push_back(listen_local(lt, handler, {}, "[::1]:0"));
  addrs.push_back(listen_local(lt, handler, {}, ("unix:" + unix_path).c_str()));
  lt.start();
  for (const address& a : addrs) {
    SCOPED_TRACE(a.to_string());
    int fd = connect_to(a);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    for (std::size_t size : {1u, 100u, 5000u, 300000u}) {
      std::string msg = pattern(size, size);
      std::thread writer([&] { EXPECT_TRUE(write_all(fd, msg)); });
      std::string got = read_exact(fd, msg.size());
      EXPECT_EQ(got.size(), msg.size());
      EXPECT_TRUE(got == msg) << "size " << size;
      writer.join();
    }
    ::close(fd);
  }
  ASSERT_TRUE(wait_until([&] { return handler.closed.load() == 3; }));
  for (auto reason : handler.reasons()) EXPECT_FALSE(reason) << reason.message();
  lt.stop();
  EXPECT_NE(::access(unix_path.c_str(), F_OK), 0) << "the listener removes its socket file";
}

// Many writes into one connection's output during one callback leave in ONE syscall.
class burst_handler : public connection_handler {
 public:
  void on_data(connection& c) override {
    c.input().skip(c.input().size());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.write("w"));
    for (int i = 0; i < 100; ++i) c.output().append("o");  // direct, flushed after on_data
  }
};

TEST_P(conn, many_writes_in_one_iteration_are_flushed_with_one_syscall) {
  fd_leak_guard guard;
  burst_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  for (int round = 0; round < 3; ++round) {
    // No write is in flight between rounds: the reply was fully read.
    std::uint64_t before = lt.stats().write_calls;
    ASSERT_TRUE(write_all(fd, "go"));
    EXPECT_EQ(read_exact(fd, 200), std::string(100, 'w') + std::string(100, 'o'));
    ASSERT_TRUE(wait_until([&] { return lt.stats().bytes_written >= 200u * (round + 1); }));
    EXPECT_EQ(lt.stats().write_calls - before, 1u) << "round " << round;
  }
  ::close(fd);
}

TEST_P(conn, an_idle_connection_holds_no_buffer_block) {
  fd_leak_guard guard;
  echo_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return handler.open_count() == 1; }));
  connection_ptr c = handler.open[0];
  auto blocks = [&] {
    return lt.call([&] { return c->input().block_count() + c->output().block_count(); });
  };
  EXPECT_EQ(blocks(), 0u) << "a fresh connection";
  for (std::size_t size : {10u, 70000u}) {
    std::string msg = pattern(size);
    std::thread writer([&] { EXPECT_TRUE(write_all(fd, msg)); });
    EXPECT_TRUE(read_exact(fd, msg.size()) == msg);
    writer.join();
    EXPECT_TRUE(wait_until([&] { return blocks() == 0; })) << "between messages, after " << size << " bytes";
  }
  std::printf("[ info ] sizeof(khz::connection) = %zu bytes\n", sizeof(connection));
  EXPECT_LE(sizeof(connection), 320u);
  ::close(fd);
}

// Writes `total` bytes on open and records what the write path reports.
class bulk_writer : public connection_handler {
 public:
  explicit bulk_writer(std::size_t total) : total_(total) {}
  void on_open(connection& c) override {
    conn = connection_ptr(&c);
    std::size_t chunk = 256 * 1024;
    for (std::size_t off = 0; off < total_; off += chunk) {
      ASSERT_TRUE(c.write(pattern(std::min(chunk, total_ - off), off)));
    }
  }
  void on_data(connection& c) override { c.input().skip(c.input().size()); }
  void on_write_drained(connection&) override { ++drained; }
  void on_close(connection&, std::error_code r) override {
    reason = r;
    closed = true;
  }
  connection_ptr conn;
  std::atomic<int> drained{0};
  std::atomic<bool> closed{false};
  std::error_code reason;  // read after `closed`

 private:
  std::size_t total_;
};

TEST_P(conn, a_large_transfer_waits_for_a_slow_reader_and_arrives_intact) {
  fd_leak_guard guard;
  constexpr std::size_t total = 32u << 20;
  bulk_writer handler(total);
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return handler.conn && handler.conn->pending_output() > 0; }); }));
  std::this_thread::sleep_for(100ms);  // the reader is slow: the kernel buffers fill up
  std::size_t pending = lt.call([&] { return handler.conn->pending_output(); });
  EXPECT_GT(pending, 0u) << "bytes wait in the output while the peer does not read";
  EXPECT_LT(pending, total);
  EXPECT_GT(lt.stats().write_blocked, 0u);
  std::string got = read_exact(fd, total);
  ASSERT_EQ(got.size(), total);
  EXPECT_TRUE(got == pattern(total)) << "bytes arrive in order";
  ASSERT_TRUE(wait_until([&] { return handler.drained.load() >= 1; }));
  EXPECT_EQ(lt.call([&] { return handler.conn->pending_output(); }), 0u);
  ::close(fd);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
}

// Does not consume until told to; then consumes and checks the byte order.
class slow_consumer : public connection_handler {
 public:
  void on_open(connection& c) override { conn = connection_ptr(&c); }
  void on_data(connection& c) override {
    max_seen = std::max(max_seen.load(), c.input().size());
    if (consuming) consume(c);
  }
  void consume(connection& c) {
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
  bool consuming = false;  // loop thread only
};

TEST_P(conn, read_backpressure_bounds_the_input_until_the_application_consumes) {
  fd_leak_guard guard;
  constexpr std::size_t limit = 64 * 1024;
  constexpr std::size_t total = 24u << 20;
  slow_consumer handler;
  loop_options lo = options();
  lo.uring_buffer_count = 16;  // the io_uring bound is limit + what the ring holds
  lo.uring_buffer_size = 4096;
  const std::size_t slack = GetParam() == transport::io_uring ? 16 * 4096 : 0;
  loop_thread lt(lo);
  listen_options o;
  o.connection.max_input_bytes = limit;
  address a = listen_local(lt, handler, o);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  std::atomic<std::size_t> sent{0};
  std::thread writer([&] {
    std::string data = pattern(total);
    std::string_view rest = data;
    while (!rest.empty()) {
      ssize_t n = ::send(fd, rest.data(), std::min<std::size_t>(rest.size(), 65536), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
      sent += static_cast<std::size_t>(n);
    }
  });
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return handler.conn && handler.conn->read_paused(); }); }));
  std::this_thread::sleep_for(200ms);
  std::size_t held = lt.call([&] { return handler.conn->input().size(); });
  EXPECT_GE(held, limit);
  EXPECT_LE(held, limit + slack) << "the input is bounded by configuration, not by the peer";
  EXPECT_LT(sent.load(), total) << "the peer is stopped by the kernel's window";
  EXPECT_GE(lt.stats().read_pauses, 1u);
  // The application consumes: reading resumes and every byte arrives, in order.
  lt.call([&] {
    handler.consuming = true;
    handler.consume(*handler.conn);
    handler.conn->resume_read();
  });
  ASSERT_TRUE(wait_until([&] { return handler.received.load() == total; }, 20000ms)) << handler.received.load();
  writer.join();
  EXPECT_TRUE(handler.ordered.load());
  EXPECT_LE(handler.max_seen.load(), limit + slack);
  ::close(fd);
}

// Keeps the connection after the peer's FIN (half-close) and writes a last word.
class half_close_handler : public connection_handler {
 public:
  void on_open(connection& c) override { conn = connection_ptr(&c); }
  void on_data(connection& c) override { got += c.input().read_string(c.input().size()); }
  void on_peer_shutdown(connection&) override { fin = true; }
  void on_close(connection&, std::error_code r) override {
    reason = r;
    closed = true;
  }
  connection_ptr conn;
  std::string got;  // loop thread
  std::atomic<bool> fin{false};
  std::atomic<bool> closed{false};
  std::error_code reason;
};

TEST_P(conn, is_active_turns_false_on_the_peers_fin_and_the_half_open_side_still_writes) {
  fd_leak_guard guard;
  half_close_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, "request"));
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return handler.got == "request"; }); }));
  EXPECT_TRUE(lt.call([&] { return handler.conn->is_active(); }));
  ::shutdown(fd, SHUT_WR);
  ASSERT_TRUE(wait_until([&] { return handler.fin.load(); }));
  lt.call([&] {
    connection& c = *handler.conn;
    EXPECT_FALSE(c.is_active());
    EXPECT_TRUE(c.peer_closed());
    EXPECT_TRUE(c.is_open());
    EXPECT_TRUE(c.write("response after your FIN"));
    c.close();
  });
  EXPECT_EQ(read_exact(fd, 23), "response after your FIN");
  EXPECT_TRUE(read_eof(fd));
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
  EXPECT_FALSE(handler.reason);
  ::close(fd);
}

TEST_P(conn, default_half_close_echoes_what_came_before_the_fin_then_closes) {
  fd_leak_guard guard;
  echo_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  std::string msg = pattern(200000);
  ASSERT_TRUE(write_all(fd, msg));
  ::shutdown(fd, SHUT_WR);
  EXPECT_TRUE(read_exact(fd, msg.size()) == msg);
  EXPECT_TRUE(read_eof(fd));
  ASSERT_TRUE(wait_until([&] { return handler.closed.load() == 1; }));
  EXPECT_FALSE(handler.reasons()[0]);
  ::close(fd);
}

TEST_P(conn, is_active_turns_false_on_a_reset_and_on_close_reports_it) {
  fd_leak_guard guard;
  half_close_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, "x"));
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return handler.got == "x"; }); }));
  close_with_reset(fd);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
  EXPECT_EQ(handler.reason, std::errc::connection_reset) << handler.reason.message();
  lt.call([&] {
    EXPECT_FALSE(handler.conn->is_active());
    EXPECT_FALSE(handler.conn->is_open());
  });
}

TEST_P(conn, a_reset_in_the_middle_of_a_read_stream_closes_with_the_error) {
  fd_leak_guard guard;
  half_close_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, pattern(1u << 20)));
  close_with_reset(fd);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
  EXPECT_EQ(handler.reason, std::errc::connection_reset) << handler.reason.message();
}

TEST_P(conn, a_reset_while_output_is_stuck_closes_with_the_error) {
  fd_leak_guard guard;
  bulk_writer handler(32u << 20);
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return lt.stats().write_blocked > 0; }));
  close_with_reset(fd);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
  EXPECT_TRUE(handler.reason == std::errc::connection_reset || handler.reason == std::errc::broken_pipe)
      << handler.reason.message();
  EXPECT_EQ(lt.call([&] { return handler.conn->pending_output(); }), 0u) << "output released";
}

TEST_P(conn, a_write_timeout_closes_a_peer_that_stops_reading) {
  fd_leak_guard guard;
  bulk_writer handler(32u << 20);
  loop_thread lt(options());
  listen_options o;
  o.connection.write_timeout = 150ms;
  address a = listen_local(lt, handler, o);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms);
  EXPECT_EQ(handler.reason, errc::timeout) << handler.reason.message();
  ::close(fd);
}

TEST_P(conn, idle_and_read_timeouts_close_quiet_connections) {
  fd_leak_guard guard;
  for (int which = 0; which < 2; ++which) {
    echo_handler handler;
    loop_thread lt(options());
    listen_options o;
    // Generous against the 50 ms activity below: a loaded CI machine must not close early.
    (which == 0 ? o.connection.idle_timeout : o.connection.read_timeout) = 400ms;
    address a = listen_local(lt, handler, o);
    lt.start();
    int fd = connect_to(a);
    ASSERT_GE(fd, 0);
    // Activity keeps it open...
    for (int i = 0; i < 4; ++i) {
      std::this_thread::sleep_for(50ms);
      ASSERT_TRUE(write_all(fd, "k"));
      EXPECT_EQ(read_exact(fd, 1), "k");
    }
    EXPECT_EQ(handler.closed.load(), 0);
    // ...silence closes it.
    EXPECT_TRUE(read_eof(fd));
    ASSERT_TRUE(wait_until([&] { return handler.closed.load() == 1; }));
    EXPECT_EQ(handler.reasons()[0], errc::timeout);
    ::close(fd);
  }
}

TEST_P(conn, close_flushes_pending_output_first_and_abort_drops_it) {
  fd_leak_guard guard;
  class closer : public connection_handler {
   public:
    void on_open(connection& c) override {
      ASSERT_TRUE(c.write(pattern(1u << 20)));
      if (abort_it) {
        c.abort();
      } else {
        c.close();
      }
      EXPECT_FALSE(c.is_active());
      EXPECT_EQ(c.write("late").error(), errc::closed);
    }
    void on_data(connection&) override {}
    void on_close(connection&, std::error_code r) override {
      reason = r;
      closed = true;
    }
    bool abort_it = false;
    std::atomic<bool> closed{false};
    std::error_code reason;
  };
  for (bool abort_it : {false, true}) {
    closer handler;
    handler.abort_it = abort_it;
    loop_thread lt(options());
    address a = listen_local(lt, handler);
    lt.start();
    int fd = connect_to(a);
    ASSERT_GE(fd, 0);
    if (!abort_it) {
      EXPECT_TRUE(read_exact(fd, 1u << 20) == pattern(1u << 20));
      EXPECT_TRUE(read_eof(fd));
    }
    ASSERT_TRUE(wait_until([&] { return handler.closed.load(); }));
    if (abort_it) {
      EXPECT_EQ(handler.reason, errc::cancelled);
    } else {
      EXPECT_FALSE(handler.reason);
    }
    ::close(fd);
  }
}

TEST_P(conn, a_handle_outlives_the_connection_and_its_loop_and_fails_cleanly) {
  fd_leak_guard guard;
  echo_handler handler;
  connection_ptr kept;
  {
    loop_thread lt(options());
    address a = listen_local(lt, handler);
    lt.start();
    int fd = connect_to(a);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(wait_until([&] { return handler.open_count() == 1; }));
    kept = handler.open[0];
    ::close(fd);
    ASSERT_TRUE(wait_until([&] { return handler.closed.load() == 1; }));
    lt.call([&] {
      EXPECT_FALSE(kept->is_active());
      EXPECT_FALSE(kept->is_open());
      EXPECT_EQ(kept->native_handle(), -1);
      EXPECT_EQ(kept->write("x").error(), errc::closed);
      EXPECT_EQ(kept->flush().error(), errc::closed);
      EXPECT_EQ(kept->shutdown_write().error(), errc::closed);
      EXPECT_EQ(kept->peer_address().error(), errc::closed);
      kept->close();
      kept->abort();
      kept->pause_read();
      kept->resume_read();
      EXPECT_EQ(kept->input().block_count() + kept->output().block_count(), 0u);
    });
  }
  handler.open.clear();
  EXPECT_FALSE(kept->is_open());  // the loop is gone; the handle is still valid
  kept.reset();
}

TEST_P(conn, stop_closes_every_connection_with_cancelled) {
  fd_leak_guard guard;
  echo_handler handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(connect_to(a));
  ASSERT_TRUE(wait_until([&] { return handler.open_count() == 5; }));
  EXPECT_EQ(lt.call([&] { return lt.loop().connection_count(); }), 5u);
  lt.stop();
  EXPECT_EQ(handler.closed.load(), 5);
  for (auto r : handler.reasons()) EXPECT_EQ(r, errc::cancelled);
  for (int fd : fds) {
    EXPECT_TRUE(read_eof(fd) || errno == ECONNRESET);
    ::close(fd);
  }
}

TEST_P(conn, pause_read_stops_delivery_until_resume) {
  fd_leak_guard guard;
  slow_consumer handler;
  loop_thread lt(options());
  address a = listen_local(lt, handler);
  lt.start();
  int fd = connect_to(a);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(wait_until([&] { return lt.call([&] { return bool(handler.conn); }); }));
  lt.call([&] {
    handler.consuming = true;
    handler.conn->pause_read();
  });
  ASSERT_TRUE(write_all(fd, pattern(1000)));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(handler.received.load(), 0u);
  lt.call([&] { handler.conn->resume_read(); });
  ASSERT_TRUE(wait_until([&] { return handler.received.load() == 1000; }));
  EXPECT_TRUE(handler.ordered.load());
  ::close(fd);
}

}  // namespace
}  // namespace khz::test
