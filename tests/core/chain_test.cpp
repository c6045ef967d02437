// The handler chain: order, next/abort semantics, plain and coroutine handlers mixed,
// exceptions, keys and errors. Suspension is simulated with a manual event.
#include <gtest/gtest.h>
#include <khz/core/basic_context.hpp>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct test_context : khz::basic_context<test_context> {
  std::vector<std::string> log;
};
using chain = khz::handler_chain<test_context>;

// Suspends a coroutine until fire() is called from the test. Awaited through a small
// proxy (co_await ev.wait()): g++ 12 copies an lvalue awaitable into the frame, so an
// awaitable must not rely on its own address.
struct manual_event {
  std::coroutine_handle<> waiter{};
  bool fired = false;
  struct awaiter {
    manual_event* ev;
    bool await_ready() const noexcept { return ev->fired; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { ev->waiter = h; }
    void await_resume() const noexcept {}
  };
  awaiter wait() noexcept { return {this}; }
  void fire() {
    fired = true;
    if (auto h = std::exchange(waiter, {})) h.resume();
  }
};

struct completion {
  int calls = 0;
  static void on_done(void* self) { ++static_cast<completion*>(self)->calls; }
};

TEST(chain, plain_handlers_run_in_order_and_finish_synchronously) {
  test_context ctx;
  chain c{[](test_context& x) { x.log.push_back("a"); }, [](test_context& x) { x.log.push_back("b"); },
          [](test_context& x) { x.log.push_back("c"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(chain, next_runs_the_rest_inside_the_middleware) {
  test_context ctx;
  chain c{[](test_context& x) {
            x.log.push_back("before");
            x.next();
            x.log.push_back("after");
          },
          [](test_context& x) { x.log.push_back("handler"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"before", "handler", "after"}));
}

TEST(chain, abort_stops_the_rest) {
  test_context ctx;
  chain c{[](test_context& x) {
            x.log.push_back("auth");
            x.abort();
          },
          [](test_context& x) { x.log.push_back("never"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_TRUE(ctx.is_aborted());
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"auth"}));
}

TEST(chain, abort_inside_next_lets_callers_finish_their_code) {
  test_context ctx;
  chain c{[](test_context& x) {
            x.next();
            x.log.push_back("outer after");
          },
          [](test_context& x) {
            x.log.push_back("abort");
            x.abort();
          },
          [](test_context& x) { x.log.push_back("never"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"abort", "outer after"}));
}

TEST(chain, coroutine_handler_that_does_not_suspend_finishes_synchronously) {
  test_context ctx;
  chain c{[](test_context& x) -> khz::task<> {
            x.log.push_back("co");
            co_return;
          },
          [](test_context& x) { x.log.push_back("plain"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"co", "plain"}));
}

TEST(chain, suspended_handler_resumes_and_chain_continues) {
  test_context ctx;
  manual_event ev;
  completion done;
  chain c{[&](test_context& x) -> khz::task<> {
            x.log.push_back("start");
            co_await ev.wait();
            x.log.push_back("resumed");
          },
          [](test_context& x) { x.log.push_back("next handler"); }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"start"}));
  EXPECT_TRUE(ctx.running());
  EXPECT_EQ(done.calls, 0);
  ev.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"start", "resumed", "next handler"}));
  EXPECT_EQ(done.calls, 1);
  EXPECT_FALSE(ctx.running());
  ctx.rethrow_if_failed();
  ctx.reset_chain();
}

TEST(chain, coroutine_middleware_after_next_runs_after_async_downstream_finished) {
  test_context ctx;
  manual_event ev;
  completion done;
  chain c{[](test_context& x) -> khz::task<> {  // an access log
            x.log.push_back("log start");
            co_await x.next();
            x.log.push_back("log end");
          },
          [](test_context& x) { x.log.push_back("plain"); },
          [&](test_context& x) -> khz::task<> {
            co_await ev.wait();
            x.log.push_back("async done");
          },
          [](test_context& x) { x.log.push_back("last"); }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"log start", "plain"}));
  ev.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"log start", "plain", "async done", "last", "log end"}));
  EXPECT_EQ(done.calls, 1);
  ctx.reset_chain();
}

TEST(chain, plain_next_reports_whether_downstream_finished) {
  test_context ctx;
  manual_event ev;
  bool finished_inside = true;
  completion done;
  chain c{[&](test_context& x) {
            finished_inside = x.next().finished();
            x.log.push_back("plain after");
          },
          [&](test_context& x) -> khz::task<> {
            co_await ev.wait();
            x.log.push_back("async");
          },
          [](test_context& x) { x.log.push_back("tail"); }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  EXPECT_FALSE(finished_inside);
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"plain after"}));
  ev.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"plain after", "async", "tail"}));
  EXPECT_EQ(done.calls, 1) << "the chain's end waits for the suspended handler";
  ctx.reset_chain();
}

TEST(chain, two_suspensions_in_sequence) {
  test_context ctx;
  manual_event first;
  manual_event second;
  completion done;
  chain c{[&](test_context& x) -> khz::task<> {
            co_await first.wait();
            x.log.push_back("1");
          },
          [&](test_context& x) -> khz::task<> {
            co_await second.wait();
            x.log.push_back("2");
          }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  first.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"1"}));
  EXPECT_EQ(done.calls, 0);
  second.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(done.calls, 1);
  ctx.reset_chain();
}

TEST(chain, synchronous_exception_propagates_to_the_middleware_above) {
  test_context ctx;
  chain c{[](test_context& x) {
            try {
              x.next();
            } catch (const std::runtime_error& e) {
              x.log.push_back(std::string("caught ") + e.what());
            }
          },
          [](test_context&) { throw std::runtime_error("boom"); }};
  EXPECT_TRUE(ctx.run(c));
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"caught boom"}));
}

TEST(chain, exception_after_suspension_reaches_coroutine_middleware) {
  test_context ctx;
  manual_event ev;
  completion done;
  chain c{[](test_context& x) -> khz::task<> {  // a recovery middleware
            try {
              co_await x.next();
            } catch (const std::runtime_error& e) {
              x.log.push_back(std::string("recovered ") + e.what());
            }
          },
          [&](test_context&) -> khz::task<> {
            co_await ev.wait();
            throw std::runtime_error("late");
          }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  ev.fire();
  EXPECT_EQ(ctx.log, (std::vector<std::string>{"recovered late"}));
  EXPECT_NO_THROW(ctx.rethrow_if_failed());
  ctx.reset_chain();
}

TEST(chain, exception_escaping_an_async_chain_is_reported_to_the_owner) {
  test_context ctx;
  manual_event ev;
  completion done;
  chain c{[&](test_context&) -> khz::task<> {
    co_await ev.wait();
    throw std::logic_error("escaped");
  }};
  EXPECT_FALSE(ctx.run(c, &completion::on_done, &done));
  ev.fire();
  EXPECT_EQ(done.calls, 1);
  EXPECT_THROW(ctx.rethrow_if_failed(), std::logic_error);
  ctx.reset_chain();
}

TEST(chain, context_is_reusable_after_reset) {
  test_context ctx;
  chain c{[](test_context& x) {
    x.log.push_back("run");
    x.set("n", 1);
  }};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(ctx.run(c));
    EXPECT_EQ(*ctx.get<int>("n"), 1);
    ctx.reset_chain();
    EXPECT_EQ(ctx.get<int>("n"), nullptr);
  }
  EXPECT_EQ(ctx.log.size(), 3u);
}

TEST(context_keys, set_get_must_get) {
  test_context ctx;
  ctx.set("user", std::string("ada"));
  ctx.set("id", 42);
  ASSERT_NE(ctx.get<std::string>("user"), nullptr);
  EXPECT_EQ(*ctx.get<std::string>("user"), "ada");
  EXPECT_EQ(ctx.get<int>("user"), nullptr) << "wrong type gives nullptr";
  EXPECT_EQ(ctx.must_get<int>("id"), 42);
  ctx.set("id", 43);
  EXPECT_EQ(ctx.must_get<int>("id"), 43);
  EXPECT_TRUE(ctx.has("id"));
  EXPECT_FALSE(ctx.has("nope"));
  try {
    (void)ctx.must_get<int>("nope");
    FAIL() << "must_get of a missing key must throw";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("'nope' is not set"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)ctx.must_get<double>("id"), std::out_of_range);
}

TEST(context_errors, are_collected_in_order) {
  test_context ctx;
  ctx.error(std::make_error_code(std::errc::invalid_argument), "bad id");
  ctx.error(std::make_error_code(std::errc::timed_out));
  ASSERT_EQ(ctx.errors().size(), 2u);
  EXPECT_EQ(ctx.errors()[0].message, "bad id");
  EXPECT_EQ(ctx.errors()[1].code, std::errc::timed_out);
}

TEST(task, frames_are_pooled) {
  auto make = []() -> khz::task<int> { co_return 7; };
  auto warm = make();
  warm.start();
  EXPECT_EQ(warm.result(), 7);
  warm = {};
  auto before = khz::detail::frame_pool_stats();
  for (int i = 0; i < 100; ++i) {
    auto t = make();
    t.start();
    EXPECT_EQ(t.result(), 7);
  }
  auto after = khz::detail::frame_pool_stats();
  EXPECT_EQ(after.allocated - before.allocated, 100u);
  EXPECT_EQ(after.from_heap, before.from_heap) << "steady state reuses pooled frames";
}

TEST(task, co_await_returns_values_and_rethrows) {
  auto inner = [](int v) -> khz::task<int> {
    if (v < 0) throw std::invalid_argument("negative");
    co_return v * 2;
  };
  int got = 0;
  bool caught = false;
  auto outer = [&]() -> khz::task<> {
    got = co_await inner(21);
    try {
      (void)co_await inner(-1);
    } catch (const std::invalid_argument&) {
      caught = true;
    }
  };
  auto t = outer();
  t.start();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(caught);
}

}  // namespace
