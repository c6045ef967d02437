// event_loop on its own: posting from other threads, timers, stop(), backend selection.

#include "net/net_test_util.hpp"

#include <cstdlib>

namespace khz::test {
namespace {

class loop : public transport_test {};
KHZ_INSTANTIATE_TRANSPORTS(loop);

TEST_P(loop, reports_its_transport) {
  fd_leak_guard guard;
  event_loop l(options());
  EXPECT_EQ(l.kind(), GetParam());
}

TEST_P(loop, post_from_many_threads_runs_everything_in_order_per_thread) {
  fd_leak_guard guard;
  loop_thread lt(options());
  lt.start();
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::vector<std::vector<int>> seen(threads);  // touched on the loop thread only
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        lt.loop().post([&seen, t, i, &lt] {
          EXPECT_TRUE(lt.loop().in_loop_thread());
          seen[static_cast<std::size_t>(t)].push_back(i);
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  std::size_t total = 0;
  ASSERT_TRUE(wait_until([&] {
    total = lt.call([&] {
      std::size_t n = 0;
      for (auto& v : seen) n += v.size();
      return n;
    });
    return total == threads * per_thread;
  }));
  lt.call([&] {
    for (auto& v : seen) {
      for (int i = 0; i < per_thread; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)], i);
    }
  });
  EXPECT_FALSE(lt.loop().in_loop_thread());
  EXPECT_GE(lt.stats().tasks_run, static_cast<std::uint64_t>(threads * per_thread));
}

TEST_P(loop, post_accepts_move_only_tasks_and_dispatch_runs_inline_on_the_loop) {
  fd_leak_guard guard;
  loop_thread lt(options());
  lt.start();
  auto owned = std::make_unique<int>(41);
  std::promise<int> result;
  lt.loop().post([p = std::move(owned), &result, &lt]() mutable {
    int inline_ran = 0;
    lt.loop().dispatch([&] { inline_ran = 1; });  // on the loop thread: runs now
    result.set_value(*p + inline_ran);
  });
  EXPECT_EQ(result.get_future().get(), 42);
}

TEST_P(loop, current_names_the_loop_running_on_this_thread_only_while_it_runs) {
  fd_leak_guard guard;
  EXPECT_EQ(event_loop::current(), nullptr);
  event_loop a(options());
  EXPECT_EQ(event_loop::current(), nullptr);  // constructed here, but not running
  event_loop* seen_in_a = nullptr;
  event_loop* seen_in_timer = nullptr;
  a.post([&] { seen_in_a = event_loop::current(); });
  a.run_after(std::chrono::milliseconds(1), [&] {
    seen_in_timer = event_loop::current();
    a.stop();
  });
  std::thread t([&] {
    a.run();
    EXPECT_EQ(event_loop::current(), nullptr);  // run() returned
  });
  t.join();
  EXPECT_EQ(seen_in_a, &a);
  EXPECT_EQ(seen_in_timer, &a);
  EXPECT_EQ(event_loop::current(), nullptr);
}

TEST_P(loop, timers_fire_in_deadline_order_and_fifo_for_equal_deadlines) {
  fd_leak_guard guard;
  loop_thread lt(options());
  std::vector<int> order;  // loop thread only
  std::promise<void> done;
  auto start = std::chrono::steady_clock::now();
  // Scheduled before run() from the owning thread.
  lt.loop().run_after(30ms, [&] { order.push_back(30); });
  lt.loop().run_after(10ms, [&] { order.push_back(10); });
  lt.loop().run_after(20ms, [&] { order.push_back(20); });
  lt.loop().run_after(0ms, [&] { order.push_back(0); });
  lt.loop().run_after(0ms, [&] { order.push_back(1); });
  lt.loop().run_after(40ms, [&] { done.set_value(); });
  lt.start();
  done.get_future().wait();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 39ms);
  lt.call([&] { EXPECT_EQ(order, (std::vector<int>{0, 1, 10, 20, 30})); });
}

TEST_P(loop, cancelled_timers_do_not_fire) {
  fd_leak_guard guard;
  loop_thread lt(options());
  lt.start();
  std::atomic<int> fired{0};
  std::promise<void> done;
  lt.call([&] {
    timer_id a = lt.loop().run_after(10ms, [&] { fired += 1; });
    timer_id b = lt.loop().run_after(10ms, [&] { fired += 10; });
    lt.loop().run_after(15ms, [&] { fired += 100; });
    EXPECT_TRUE(lt.loop().cancel_timer(b));
    EXPECT_FALSE(lt.loop().cancel_timer(b));  // already cancelled
    EXPECT_FALSE(lt.loop().cancel_timer(0));
    (void)a;
    lt.loop().run_after(40ms, [&] { done.set_value(); });
  });
  done.get_future().wait();
  EXPECT_EQ(fired.load(), 101);
  // A fired timer can no longer be cancelled.
  EXPECT_FALSE(lt.call([&] { return lt.loop().cancel_timer(1); }));
}

TEST_P(loop, a_timer_that_rearms_itself_with_no_delay_does_not_starve_the_loop) {
  fd_leak_guard guard;
  loop_thread lt(options());
  lt.start();
  std::atomic<int> ticks{0};
  std::atomic<bool> posted_ran{false};
  std::function<void()> tick = [&] {
    if (++ticks < 1000) lt.loop().run_after(0ms, [&] { tick(); });
  };
  lt.call([&] { lt.loop().run_after(0ms, [&] { tick(); }); });
  lt.loop().post([&] { posted_ran = true; });
  ASSERT_TRUE(wait_until([&] { return ticks.load() >= 1000 && posted_ran.load(); }));
}

TEST_P(loop, stop_from_another_thread_returns_run_and_cancels_pending_timers) {
  fd_leak_guard guard;
  auto l = std::make_unique<event_loop>(options());
  std::atomic<bool> fired{false};
  auto owned = std::make_shared<int>(7);
  l->run_after(std::chrono::hours(1), [&fired, owned] { fired = true; });
  std::thread t([&] { l->run(); });
  std::this_thread::sleep_for(20ms);
  l->stop();
  l->stop();  // idempotent
  t.join();
  EXPECT_FALSE(fired.load());
  EXPECT_TRUE(l->stopped());
  EXPECT_EQ(owned.use_count(), 1);  // the timer's task was destroyed
  // Posting after stop: the task is destroyed with the loop, not run.
  l->post([&fired] { fired = true; });
  l.reset();
  EXPECT_FALSE(fired.load());
}

TEST_P(loop, stop_before_run_makes_run_return_at_once) {
  fd_leak_guard guard;
  event_loop l(options());
  l.stop();
  l.run();
  EXPECT_THROW(l.run(), std::logic_error);
}

TEST_P(loop, a_loop_destroyed_without_running_releases_everything) {
  fd_leak_guard guard;
  echo_handler handler;
  {
    event_loop l(options());
    ASSERT_TRUE(l.listen(*address::parse("127.0.0.1:0"), handler));
    l.run_after(1s, [] {});
    l.post([] {});
  }
  EXPECT_EQ(handler.open_count(), 0u);
}

// A thread that creates an io_uring stays attached to it, and when the ring is closed
// the kernel's teardown interrupts that thread's next interruptible wait with a timeout
// (EINTR from a blocking connect() under SO_SNDTIMEO, no signal sent). The loops create
// their rings on a scratch thread, so the user's thread (here the test's) that
// constructs, runs elsewhere and destroys loops never sees that. Each round is a loop
// made, run on its own thread and destroyed, then a raw blocking connect(); the effect hit
// about 1 % of rounds when the ring was made on this thread.
TEST(io_uring_loop, making_and_destroying_loops_does_not_interrupt_the_callers_blocking_calls) {
  if (!probe_io_uring()) GTEST_SKIP() << "io_uring unavailable: " << probe_io_uring().reason;
  fd_leak_guard guard;
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(l, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  ASSERT_EQ(::listen(l, 64), 0);
  loop_options o;
  o.kind = transport::io_uring;
  o.uring_buffer_count = 16;
  o.uring_buffer_size = 4096;
  int interrupted = 0;
  int other_errors = 0;
  constexpr int rounds = 600;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int done = 0;
  for (; done < rounds && std::chrono::steady_clock::now() < deadline; ++done) {
    {
      loop_thread lt(o);
      lt.start();
      lt.call([] {});
    }
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    timeval tv{5, 0};
    ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      if (errno == EINTR) {
        ++interrupted;
      } else {
        ++other_errors;
      }
    }
    ::close(c);
    int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (a >= 0) ::close(a);
  }
  ::close(l);
  EXPECT_GE(done, 100) << "too few rounds in the time allowed to mean anything";
  EXPECT_EQ(interrupted, 0) << "of " << done << " rounds";
  EXPECT_EQ(other_errors, 0);
}

// ---------------------------------------------------------------- backend selection

TEST(transport_selection, auto_falls_back_to_epoll_when_io_uring_is_refused_by_option) {
  fd_leak_guard guard;
  loop_options o;
  o.kind = transport::auto_select;
  o.refuse_io_uring = true;
  event_loop l(o);
  EXPECT_EQ(l.kind(), transport::epoll);
  o.kind = transport::io_uring;
  auto refused = event_loop::create(o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::not_supported);
  try {
    event_loop explicit_uring(o);
    ADD_FAILURE() << "io_uring was refused but the loop was created";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("refuse_io_uring"), std::string::npos) << e.what();
  }
}

TEST(transport_selection, auto_falls_back_to_epoll_when_the_environment_refuses_io_uring) {
  fd_leak_guard guard;
  ::setenv("KHZ_DISABLE_IO_URING", "1", 1);
  auto support = probe_io_uring();
  loop_options o;
  auto l = event_loop::create(o);
  o.kind = transport::io_uring;
  auto refused = event_loop::create(o);
  ::unsetenv("KHZ_DISABLE_IO_URING");
  EXPECT_FALSE(support);
  EXPECT_NE(support.reason.find("KHZ_DISABLE_IO_URING"), std::string::npos) << support.reason;
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)->kind(), transport::epoll);
  EXPECT_FALSE(refused);
}

TEST(transport_selection, auto_picks_io_uring_when_the_kernel_allows_it_and_epoll_otherwise) {
  fd_leak_guard guard;
  auto support = probe_io_uring();
  event_loop l;
  loop_options explicit_uring;
  explicit_uring.kind = transport::io_uring;
  auto asked = event_loop::create(explicit_uring);
  if (support) {
    EXPECT_TRUE(support.reason.empty());
    EXPECT_EQ(l.kind(), transport::io_uring);
    ASSERT_TRUE(asked) << asked.error().message();
    EXPECT_EQ((*asked)->kind(), transport::io_uring);
  } else {
    // A kernel that refuses io_uring: auto falls back, an explicit request says why it cannot.
    EXPECT_FALSE(support.reason.empty());
    EXPECT_EQ(l.kind(), transport::epoll);
    ASSERT_FALSE(asked);
    EXPECT_EQ(asked.error(), errc::not_supported);
  }
}

}  // namespace
}  // namespace khz::test
