// Dialing: non-blocking connect over IPv4, IPv6 and Unix sockets, refused, timed out,
// cancelled by stop().

#include "net/net_test_util.hpp"

#include <cstring>

namespace khz::test {
namespace {

class dial : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(dial);

// Collects what the server echoes back to a dialed connection.
class client_handler : public connection_handler {
 public:
  void on_data(connection& c) override {
    std::lock_guard lock(mutex);
    got += c.input().read_string(c.input().size());
  }
  void on_close(connection&, std::error_code) override { ++closed; }
  std::string received() {
    std::lock_guard lock(mutex);
    return got;
  }
  std::mutex mutex;
  std::string got;
  std::atomic<int> closed{0};
};

struct dial_outcome {
  std::promise<std::error_code> done;
  connection_ptr conn;  // loop thread
};

TEST_P(dial, connects_over_ipv4_ipv6_and_unix_and_talks_on_the_same_loop) {
  fd_leak_guard guard;
  echo_handler server;
  client_handler client;
  loop_thread lt(options());
  const std::string path = "/tmp/khz-net-dial-" + std::to_string(::getpid()) + ".sock";
  std::vector<address> addrs = {listen_local(lt, server, {}, "127.0.0.1:0"), listen_local(lt, server, {}, "[::1]:0"),
                                listen_local(lt, server, {}, ("unix:" + path).c_str())};
  lt.start();
  std::string expected;
  for (const address& a : addrs) {
    SCOPED_TRACE(a.to_string());
    dial_outcome out;
    lt.loop().post([&] {
      dialer d(lt.loop());
      d.dial(a, client, [&](result<connection_ptr> r) {
        EXPECT_TRUE(lt.loop().in_loop_thread());
        if (r) {
          out.conn = *r;
          EXPECT_TRUE(out.conn->is_active());
          EXPECT_EQ(out.conn->is_tcp(), a.is_ip());
          EXPECT_TRUE(out.conn->write("hello " + a.to_string() + ";"));
          auto peer = out.conn->peer_address();
          EXPECT_TRUE(peer && (a.is_unix() || *peer == a));
        }
        out.done.set_value(r ? std::error_code{} : r.error());
      });
    });
    std::error_code ec = out.done.get_future().get();
    ASSERT_FALSE(ec) << ec.message();
    expected += "hello " + a.to_string() + ";";
    ASSERT_TRUE(wait_until([&] { return client.received() == expected; })) << client.received();
    lt.call([&] { out.conn->close(); });
  }
  ASSERT_TRUE(wait_until([&] { return client.closed.load() == 3 && server.closed.load() == 3; }));
}

TEST_P(dial, a_refused_connection_reports_econnrefused) {
  fd_leak_guard guard;
  // A port with nobody listening: bind one, note it, close it.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  address any = address::loopback_v4(0);
  ASSERT_EQ(::bind(probe, any.data(), any.size()), 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&ss), &len);
  address closed_port = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  ::close(probe);

  client_handler client;
  loop_thread lt(options());
  lt.start();
  std::promise<std::error_code> done;
  lt.loop().post([&] {
    lt.loop().dial(closed_port, client, [&](result<connection_ptr> r) {
      done.set_value(r ? std::error_code{} : r.error());
    });
  });
  EXPECT_EQ(done.get_future().get(), std::errc::connection_refused);
  EXPECT_EQ(lt.call([&] { return lt.loop().connection_count(); }), 0u);
}

// A listening socket nobody accepts from, with its accept queue full: further SYNs are
// dropped by the kernel, so a connect to it stays pending (all on loopback).
class saturated_listener {
 public:
  saturated_listener() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    address any = address::loopback_v4(0);
    EXPECT_EQ(::bind(listen_fd_, any.data(), any.size()), 0);
    EXPECT_EQ(::listen(listen_fd_, 0), 0);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    addr_ = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    // Fill the queue until a connect no longer completes. On Linux a listener that never
    // accepts, with a full accept queue, drops further SYNs: the connect stays pending
    // (the client retransmits its SYN), which is what these tests need.
    for (int i = 0; i < 64; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers_.push_back(fd);
      ::connect(fd, addr_.data(), addr_.size());
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 100) == 0) {
        saturated_ = true;
        break;
      }
    }
  }
  ~saturated_listener() {
    for (int fd : fillers_) ::close(fd);
    ::close(listen_fd_);
  }
  bool saturated() const { return saturated_; }
  const address& addr() const { return addr_; }

 private:
  int listen_fd_ = -1;
  address addr_;
  std::vector<int> fillers_;
  bool saturated_ = false;
};

TEST_P(dial, a_connect_that_does_not_complete_times_out) {
  fd_leak_guard guard;
  saturated_listener target;
  ASSERT_TRUE(target.saturated()) << "a local accept queue (backlog 0) still completed 64 connects";
  client_handler client;
  loop_thread lt(options());
  lt.start();
  std::promise<std::error_code> done;
  auto start = std::chrono::steady_clock::now();
  lt.loop().post([&] {
    dial_options o;
    o.timeout = 150ms;
    lt.loop().dial(
        target.addr(), client, [&](result<connection_ptr> r) { done.set_value(r ? std::error_code{} : r.error()); },
        o);
  });
  EXPECT_EQ(done.get_future().get(), errc::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms);
}

TEST_P(dial, stopping_the_loop_cancels_a_pending_dial) {
  fd_leak_guard guard;
  saturated_listener target;
  ASSERT_TRUE(target.saturated()) << "a local accept queue (backlog 0) still completed 64 connects";
  client_handler client;
  loop_thread lt(options());
  lt.start();
  std::promise<std::error_code> done;
  std::promise<void> started;
  lt.loop().post([&] {
    lt.loop().dial(target.addr(), client,
                   [&](result<connection_ptr> r) { done.set_value(r ? std::error_code{} : r.error()); });
    started.set_value();
  });
  started.get_future().wait();
  lt.stop();
  EXPECT_EQ(done.get_future().get(), errc::cancelled);
}

TEST_P(dial, an_empty_address_fails_with_invalid_argument_later_not_inline) {
  fd_leak_guard guard;
  client_handler client;
  loop_thread lt(options());
  lt.start();
  std::promise<std::error_code> done;
  bool inline_call = false;  // loop thread
  bool returned = false;     // loop thread
  lt.call([&] {
    lt.loop().dial(address{}, client, [&](result<connection_ptr> r) {
      inline_call = !returned;
      done.set_value(r.error());
    });
    returned = true;
  });
  EXPECT_EQ(done.get_future().get(), errc::invalid_argument);
  EXPECT_FALSE(inline_call);
}

}  // namespace
}  // namespace khz::test
