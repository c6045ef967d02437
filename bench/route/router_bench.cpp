// Route lookup on the GitHub API table (203 routes): one static path, one path with three
// parameters, every route in turn, and a miss. Heap allocations per lookup are counted with a
// replaced global operator new and reported as the "allocs/lookup" counter.
//
//   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target khz_route_bench
//   build-rel/bench/khz_route_bench

#include "route/github_routes.hpp"

#include <khz/route/router.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Out of line: inlined into callers, g++ pairs malloc/free against new/delete and warns.
KHZ_NOINLINE void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
KHZ_NOINLINE void operator delete(void* p) noexcept { std::free(p); }
KHZ_NOINLINE void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// The benchmark's handler: a plain function pointer (the router's cost, not std::function's).
using handler = void (*)();
void noop() {}
using router = khz::basic_router<handler>;

const router& github_router() {
  static const router& r = [] () -> const router& {
    static router built;  // not movable: filled in place
    for (const auto& rt : route_bench::github_api) built.handle(rt.method, rt.path, &noop);
    return built;
  }();
  return r;
}

// A request path for a pattern: each ":name" becomes a value ("name1"), each "*name" "a/b".
std::string concrete(std::string_view pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] == ':' || pattern[i] == '*') {
      const bool all = pattern[i] == '*';
      std::size_t end = pattern.find('/', i);
      if (end == std::string_view::npos) end = pattern.size();
      out += all ? std::string("a/b") : std::string(pattern.substr(i + 1, end - i - 1)) + "1";
      i = end;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

void lookup_one(benchmark::State& state, std::string_view method, const std::string& path,
                khz::route_match_kind want) {
  const router& r = github_router();
  router::match_type m;
  r.match(method, path, {}, m);
  if (m.kind != want) {
    state.SkipWithError(("unexpected outcome for " + path).c_str());
    return;
  }
  const long before = g_allocations.load();
  for (auto _ : state) {
    r.match(method, path, {}, m);
    benchmark::DoNotOptimize(m.handlers);
    benchmark::DoNotOptimize(m.params.size());
  }
  const double allocs = static_cast<double>(g_allocations.load() - before);
  state.counters["allocs/lookup"] =
      benchmark::Counter(allocs / static_cast<double>(state.iterations()));
  state.counters["params"] = static_cast<double>(m.params.size());
}

void BM_github_static(benchmark::State& state) {
  lookup_one(state, "GET", "/user/repos", khz::route_match_kind::found);
}
BENCHMARK(BM_github_static);

void BM_github_param(benchmark::State& state) {
  lookup_one(state, "GET", "/repos/julienschmidt/httprouter/issues/42",
             khz::route_match_kind::found);
}
BENCHMARK(BM_github_param);

void BM_github_not_found(benchmark::State& state) {
  lookup_one(state, "GET", "/repos/julienschmidt/httprouter/nothing/here",
             khz::route_match_kind::not_found);
}
BENCHMARK(BM_github_not_found);

// Every route of the table once per iteration; time and allocations reported per lookup.
void BM_github_all(benchmark::State& state) {
  const router& r = github_router();
  struct request {
    std::string_view method;
    std::string path;
    std::string_view pattern;
  };
  std::vector<request> requests;
  for (const auto& rt : route_bench::github_api) requests.push_back({rt.method, concrete(rt.path), rt.path});
  router::match_type m;
  for (const auto& q : requests) {
    r.match(q.method, q.path, {}, m);
    if (!m.found() || m.full_path != q.pattern) {
      state.SkipWithError(("route table self-check failed for " + q.path).c_str());
      return;
    }
  }
  const long before = g_allocations.load();
  for (auto _ : state) {
    for (const auto& q : requests) {
      r.match(q.method, q.path, {}, m);
      benchmark::DoNotOptimize(m.handlers);
    }
  }
  const auto lookups = static_cast<double>(state.iterations() * requests.size());
  state.counters["allocs/lookup"] =
      benchmark::Counter(static_cast<double>(g_allocations.load() - before) / lookups);
  state.counters["time/lookup"] = benchmark::Counter(
      static_cast<double>(requests.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["routes"] = static_cast<double>(requests.size());
}
BENCHMARK(BM_github_all);

}  // namespace
