// link_buffer micro-benchmarks: append/consume throughput and slice cost, with heap
// allocations per iteration counted (the pool should make the steady state allocation-free).
#include <benchmark/benchmark.h>
#include <khz/buffer/link_buffer.hpp>

#include "support/alloc_counter.hpp"

#include <cstring>
#include <string>

namespace {

void report_allocs(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs/iter"] = benchmark::Counter(
      static_cast<double>(khz::bench::allocations() - before) / static_cast<double>(state.iterations()));
}

// The connection read path: reserve, fill, commit, flush, consume, release.
void bm_reserve_commit_consume(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::string payload(n, 'x');
  khz::link_buffer b;
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    auto span = b.reserve(n);
    std::memcpy(span.data(), payload.data(), n);
    b.commit(n);
    b.flush();
    benchmark::DoNotOptimize(b.next(n).data());
    b.release();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
  report_allocs(state, before);
}
BENCHMARK(bm_reserve_commit_consume)->Arg(64)->Arg(1024)->Arg(16384)->Arg(65536);

// Many small appends then one consume (a serializer writing a response).
void bm_append_small(benchmark::State& state) {
  khz::link_buffer b;
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    for (int i = 0; i < 16; ++i) b.append("Content-Type: text/plain\r\n");
    b.flush();
    b.skip(b.size());
    b.release();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 16 * 26));
  report_allocs(state, before);
}
BENCHMARK(bm_append_small);

// A zero-copy body: slice n bytes out of the input and drop the slice.
void bm_slice(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::string payload(n * 64, 'y');
  khz::link_buffer b;
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    if (b.size() < n) {  // refill outside the timed region: only the slice is measured
      state.PauseTiming();
      b.release();
      b.append(payload);
      b.flush();
      state.ResumeTiming();
    }
    khz::link_buffer s = b.slice(n);
    benchmark::DoNotOptimize(s.size());
  }
  report_allocs(state, before);
}
BENCHMARK(bm_slice)->Arg(1024)->Arg(16384);

// Linking one buffer into another (a response body into the output buffer).
void bm_append_buffer(benchmark::State& state) {
  khz::link_buffer out;
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    khz::link_buffer body;
    body.append("0123456789abcdef0123456789abcdef");
    out.append(std::move(body));
    out.flush();
    out.skip(out.size());
    out.release();
  }
  report_allocs(state, before);
}
BENCHMARK(bm_append_buffer);

// Peek across a block boundary (the one copying path).
void bm_peek_across(benchmark::State& state) {
  std::string half(512, 'z');
  auto before = khz::bench::allocations();
  for (auto _ : state) {
    khz::link_buffer b;
    b.append(half);
    khz::link_buffer second;
    second.append(half);
    b.append(std::move(second));
    b.flush();
    benchmark::DoNotOptimize(b.peek(1024).data());
  }
  report_allocs(state, before);
}
BENCHMARK(bm_peek_across);

}  // namespace
