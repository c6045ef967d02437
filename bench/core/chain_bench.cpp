// Chain execution: a request through the router and a chain of 3 middleware plus the
// handler, on a reused context (as the server does), with heap allocations counted.
#include <benchmark/benchmark.h>
#include <khz/core/context.hpp>
#include <khz/middleware/request_id.hpp>

#include "support/alloc_counter.hpp"

namespace {

void report(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs/req"] = benchmark::Counter(
      static_cast<double>(khz::bench::allocations() - before) / static_cast<double>(state.iterations()));
}

void fill(khz::context& ctx, std::string_view target) {
  ctx.request().set_method("GET");
  ctx.request().set_target(target);
  ctx.request().headers().add("Host", "localhost");
  ctx.begin_request("127.0.0.1", nullptr);
}

// Three plain middleware (before/after via next()) and a plain handler.
void bm_chain_plain_3_middleware(benchmark::State& state) {
  khz::router r;
  r.use([](khz::context& c) {
    c.set_header("X-A", "1");
    c.next();
  });
  r.use([](khz::context& c) {
    if (c.header("Host").empty()) c.abort_with_status(400);
  });
  r.use([](khz::context& c) { c.next(); });
  r.get("/users/:id", [](khz::context& c) { c.data(200, "text/plain", c.param("id")); });
  khz::context ctx;
  for (int i = 0; i < 100; ++i) {  // warm pools and capacities
    fill(ctx, "/users/42");
    ctx.dispatch(r);
    ctx.end_request();
  }
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    fill(ctx, "/users/42");
    bool done = ctx.dispatch(r);
    benchmark::DoNotOptimize(done);
    ctx.end_request();
  }
  report(state, before);
}
BENCHMARK(bm_chain_plain_3_middleware);

// The same shape with coroutine middleware (co_await next()): frames come from the pool.
void bm_chain_coroutine_3_middleware(benchmark::State& state) {
  khz::router r;
  for (int i = 0; i < 3; ++i) {
    r.use([](khz::context& c) -> khz::task<> { co_await c.next(); });
  }
  r.get("/users/:id", [](khz::context& c) { c.data(200, "text/plain", c.param("id")); });
  khz::context ctx;
  for (int i = 0; i < 100; ++i) {
    fill(ctx, "/users/42");
    ctx.dispatch(r);
    ctx.end_request();
  }
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    fill(ctx, "/users/42");
    bool done = ctx.dispatch(r);
    benchmark::DoNotOptimize(done);
    ctx.end_request();
  }
  report(state, before);
}
BENCHMARK(bm_chain_coroutine_3_middleware);

// request_id() allocates its id string (std::string > SSO): measured, not hidden.
void bm_chain_with_request_id(benchmark::State& state) {
  khz::router r;
  r.use(khz::request_id());
  r.get("/", [](khz::context& c) { c.no_content(); });
  khz::context ctx;
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    fill(ctx, "/");
    ctx.dispatch(r);
    ctx.end_request();
  }
  report(state, before);
}
BENCHMARK(bm_chain_with_request_id);

}  // namespace
