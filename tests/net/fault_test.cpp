// Faults and scale: EMFILE on accept, 10,000 concurrent connections, loop_group modes.

#include "net/net_test_util.hpp"

#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

namespace khz::test {
namespace {

class fault : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(fault);

bool echoes(int fd, const std::string& msg) { return write_all(fd, msg) && read_exact(fd, msg.size()) == msg; }

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

// The process runs out of descriptors: RLIMIT_NOFILE is lowered (before the listener
// exists: io_uring reads the limit when an accept is prepared) and the descriptor table
// is then filled up to it. Accept fails with EMFILE; the listener backs off, the
// connection it has is still served, and once descriptors are free again the waiting
// clients are accepted.
TEST_P(fault, emfile_on_accept_backs_off_keeps_serving_and_recovers) {
  fd_leak_guard guard;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest_free = ::fcntl(0, F_DUPFD, 0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  struct restore {
    rlimit limit;
    ~restore() { ::setrlimit(RLIMIT_NOFILE, &limit); }
  } restore_limit{saved};

  echo_handler handler;
  loop_thread lt(options());
  listen_options o;
  o.accept_backoff_min = 10ms;
  o.accept_backoff_max = 50ms;
  address a = listen_local(lt, handler, o);
  lt.start();
  int served = connect_to(a);
  ASSERT_GE(served, 0);
  ASSERT_TRUE(echoes(served, "before"));

  // Sockets for the clients that arrive while the process has no descriptor left.
  std::vector<int> waiting;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    waiting.push_back(fd);
  }
  // Sanitizers check some types with a probe that needs a pipe: meet those types once
  // while descriptors are still available (the check is cached per type).
  (void)lt.stats();
  ASSERT_TRUE(wait_until([&] { return true; }));
  std::vector<int> fillers;
  for (;;) {
    int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);

  for (int fd : waiting) {
    int r = ::connect(fd, a.data(), a.size());  // completes in the kernel, waits in the backlog
    EXPECT_TRUE(r == 0 || errno == EINTR) << std::strerror(errno);
  }
  bool saw_errors = wait_until([&] { return lt.stats().accept_errors > 0; }, 3000ms);
  bool still_served = echoes(served, "during");
  bool early = write_all(waiting[0], "w") && readable_within(waiting[0], 100);
  std::uint64_t errors = lt.stats().accept_errors;
  for (int fd : fillers) ::close(fd);

  EXPECT_TRUE(saw_errors) << "accept never failed with EMFILE";
  EXPECT_TRUE(still_served) << "an existing connection stopped being served";
  EXPECT_FALSE(early) << "a connection was served while no descriptor was available";
  EXPECT_GE(errors, 1u);
  // Descriptors are back: the listener's back-off ends and the waiting clients get served.
  EXPECT_EQ(read_exact(waiting[0], 1), "w");
  for (std::size_t i = 1; i < waiting.size(); ++i) EXPECT_TRUE(echoes(waiting[i], "after"));
  EXPECT_TRUE(echoes(served, "still"));
  EXPECT_EQ(handler.open_count(), 4u);
  for (int fd : waiting) ::close(fd);
  ::close(served);
  ASSERT_TRUE(wait_until([&] { return handler.closed.load() == 4; }));
}

// The clients live in a child process (fork), so that each process needs about 10,000
// descriptors, within a hard RLIMIT_NOFILE of 20,000 that an unprivileged test cannot
// raise. The child makes only plain syscalls.
//
// 10,000 connections where RLIMIT_NOFILE can be raised that far (CI runs as root: it can);
// below that, as many as the limit leaves room for, and at least 1,000.
TEST_P(fault, ten_thousand_concurrent_connections) {
  constexpr std::size_t wanted = 10000;
  constexpr std::size_t spare = 256;  // the test's own descriptors, gtest's, the loop's
  const std::size_t limit = raise_fd_limit(wanted + spare);
  const std::size_t count = std::min(wanted, limit > spare ? limit - spare : 0);
  ASSERT_GE(count, 1000u) << "RLIMIT_NOFILE is " << limit << " and cannot be raised (needs CAP_SYS_RESOURCE or a higher hard limit)";
  RecordProperty("connections", static_cast<int>(count));
  fd_leak_guard guard;
  echo_handler handler;
  loop_thread lt(options());
  listen_options o;
  o.backlog = 4096;
  address a = listen_local(lt, handler, o);
  lt.start();

  int to_child[2];
  int from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  std::vector<int> fds(count, -1);  // allocated before fork: the child does not allocate
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    char status = 'k';
    for (std::size_t i = 0; i < count && status == 'k'; ++i) {
      fds[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fds[i] < 0 || ::connect(fds[i], a.data(), a.size()) != 0) status = 'c';
    }
    for (std::size_t i = 0; i < count && status == 'k'; ++i) {
      char c = static_cast<char>('a' + i % 26);
      if (::send(fds[i], &c, 1, MSG_NOSIGNAL) != 1) status = 's';
    }
    for (std::size_t i = 0; i < count && status == 'k'; ++i) {
      char c = 0;
      ssize_t r;
      do {
        r = ::recv(fds[i], &c, 1, 0);
      } while (r < 0 && errno == EINTR);
      if (r != 1 || c != static_cast<char>('a' + i % 26)) status = 'r';
    }
    [[maybe_unused]] ssize_t w = ::write(from_child[1], &status, 1);
    char cmd;
    while (::read(to_child[0], &cmd, 1) < 0 && errno == EINTR) {
    }
    for (int fd : fds) ::close(fd);
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  pollfd p{from_child[0], POLLIN, 0};
  char status = 0;
  bool reported = ::poll(&p, 1, 60000) == 1 && ::read(from_child[0], &status, 1) == 1;
  EXPECT_TRUE(reported) << "the client process did not finish";
  EXPECT_EQ(status, 'k') << "client failure: c=connect s=send r=receive";
  if (reported && status == 'k') {
    EXPECT_EQ(handler.open_count(), count);
    EXPECT_EQ(lt.call([&] { return lt.loop().connection_count(); }), count);
    // Served and idle again: no connection holds a buffer block.
    EXPECT_TRUE(wait_until([&] {
      return lt.call([&] {
        std::size_t blocks = 0;
        for (auto& c : handler.open) blocks += c->input().block_count() + c->output().block_count();
        return blocks;
      }) == 0;
    }));
  }
  [[maybe_unused]] ssize_t w = ::write(to_child[1], "x", 1);  // the child closes everything and exits
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  ::close(to_child[1]);
  ::close(from_child[0]);
  EXPECT_TRUE(wait_until([&] { return handler.closed.load() == static_cast<int>(handler.open_count()); }, 30000ms));
  lt.stop();
  handler.open.clear();
}

// ---------------------------------------------------------------- loop_group

class group : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(group);

// Records which loop served each connection.
class loop_recorder : public echo_handler {
 public:
  void on_open(connection& c) override {
    echo_handler::on_open(c);
    std::lock_guard lock(mutex);
    loops.push_back(&c.loop());
    EXPECT_TRUE(c.loop().in_loop_thread());
  }
  std::vector<event_loop*> loops;
};

TEST_P(group, reuseport_listeners_spread_connections_over_the_loops) {
  fd_leak_guard guard;
  loop_recorder handler;
  loop_group_options go;
  go.loops = 2;
  go.loop = options();
  loop_group g(go);
  EXPECT_EQ(g.kind(), GetParam());
  auto bound = g.listen(*address::parse("127.0.0.1:0"), handler);
  ASSERT_TRUE(bound) << bound.error().message();
  EXPECT_NE(bound->port(), 0);
  g.start();
  std::vector<int> fds;
  for (int i = 0; i < 64; ++i) {
    fds.push_back(connect_to(*bound));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(echoes(fds.back(), "x" + std::to_string(i)));
  }
  std::lock_guard lock(handler.mutex);
  std::size_t on_first = static_cast<std::size_t>(std::count(handler.loops.begin(), handler.loops.end(), &g.loop(0)));
  EXPECT_GT(on_first, 0u);
  EXPECT_LT(on_first, 64u);
  for (int fd : fds) ::close(fd);
}

TEST_P(group, dispatch_mode_hands_connections_round_robin) {
  fd_leak_guard guard;
  loop_recorder handler;
  loop_group_options go;
  go.loops = 3;
  go.loop = options();
  loop_group g(go);
  group_listen_options lo;
  lo.mode = accept_mode::dispatch;
  const std::string path = "/tmp/khz-net-group-" + std::to_string(::getpid()) + ".sock";
  for (const std::string& where : {std::string("127.0.0.1:0"), "unix:" + path}) {
    SCOPED_TRACE(where);
    auto bound = g.listen(*address::parse(where), handler, lo);
    ASSERT_TRUE(bound) << bound.error().message();
    if (where == "127.0.0.1:0") g.start();
    {
      std::lock_guard lock(handler.mutex);
      handler.loops.clear();
    }
    std::vector<int> fds;
    for (int i = 0; i < 9; ++i) {
      fds.push_back(connect_to(*bound));
      ASSERT_GE(fds.back(), 0);
      ASSERT_TRUE(echoes(fds.back(), "y"));
    }
    std::lock_guard lock(handler.mutex);
    for (std::size_t l = 0; l < 3; ++l) {
      EXPECT_EQ(std::count(handler.loops.begin(), handler.loops.end(), &g.loop(l)), 3) << "loop " << l;
    }
    for (int fd : fds) ::close(fd);
  }
  g.stop();
  g.join();
}

TEST_P(group, on_listening_hands_each_loop_its_listener_to_close) {
  // Both modes: the callback runs on the listener's loop; closing what it was given
  // stops the accepting (new connections are refused), the group's loops go on.
  fd_leak_guard guard;
  echo_handler handler;
  loop_group_options go;
  go.loops = 2;
  go.loop = options();
  loop_group g(go);
  g.start();
  for (accept_mode mode : {accept_mode::reuse_port, accept_mode::dispatch}) {
    SCOPED_TRACE(mode == accept_mode::reuse_port ? "reuse_port" : "dispatch");
    std::mutex m;
    std::vector<std::pair<event_loop*, listener*>> got;
    group_listen_options lo;
    lo.mode = mode;
    lo.on_listening = [&](event_loop& loop, listener& l) {
      EXPECT_TRUE(loop.in_loop_thread());
      std::lock_guard lock(m);
      got.emplace_back(&loop, &l);
    };
    auto bound = g.listen(*address::parse("127.0.0.1:0"), handler, lo);
    ASSERT_TRUE(bound) << bound.error().message();
    const std::size_t expected = mode == accept_mode::reuse_port ? 2 : 1;
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(m);
      return got.size() == expected;
    }));
    int fd = connect_to(*bound);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(echoes(fd, "z"));
    ::close(fd);
    for (auto [loop, l] : got) {
      std::promise<void> closed;
      loop->post([l = l, &closed] {
        l->close();
        closed.set_value();
      });
      closed.get_future().wait();
    }
    // On io_uring the descriptor closes once the accept's cancellation was submitted,
    // in the loop's next iteration: refused soon, not necessarily at once.
    EXPECT_TRUE(wait_until([&] {
      int late = connect_to(*bound);
      if (late < 0) return true;
      ::close(late);
      return false;
    })) << "a closed listener refuses connections";
  }
  g.stop();
  g.join();
}

TEST(group_listen, reports_bind_errors_and_leaves_nothing_behind) {
  fd_leak_guard guard;
  echo_handler handler;
  loop_group_options go;
  go.loops = 2;
  go.loop.kind = transport::epoll;
  loop_group g(go);
  auto first = g.listen(*address::parse("127.0.0.1:0"), handler);
  ASSERT_TRUE(first);
  group_listen_options no_reuse;
  no_reuse.mode = accept_mode::dispatch;  // a plain second bind on the same port fails
  auto second = g.listen(*first, handler, no_reuse);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

}  // namespace
}  // namespace khz::test
