// khz/http codec micro-benchmarks, side by side with llhttp driven by empty callbacks on
// the same bytes (the stock llhttp, llhttp.c + api.c + http.c, compiled with the same
// flags as khz's own llhttp build, SSE4.2 where the CPU has it; lenient flags off), with
// heap allocations per iteration counted by a replaced global operator new
// ("allocs/iter").
//
// What the khz figures include that llhttp's do not: copying the request bytes into the
// input link_buffer (what a socket read does), building the request object (views,
// classified fields, framing, validation), and the zero-copy slice of head and body.
//
// The llhttp baseline needs <llhttp.h>; when khz::llhttp's include directory is not
// visible to this target the baseline benchmarks are left out (see docs/http.md).
#include "support/alloc_counter.hpp"

#include <khz/http/parser.hpp>
#include <khz/http/serializer.hpp>

#include <benchmark/benchmark.h>

#include <string>

#if __has_include(<llhttp.h>)
#include <llhttp.h>

#include "http/llhttp_run.hpp"  // the llhttp builds: the stock one, and the one khz's parser runs
#define KHZ_BENCH_HAVE_LLHTTP 1
#else
#define KHZ_BENCH_HAVE_LLHTTP 0
#endif

namespace {

// A typical browser GET, about 300 bytes.
const std::string browser_get =
    "GET /articles/2024/http-parsing?page=2 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

// The echo benchmark's request: POST, a 1 KiB test-header, a 1 KiB body.
const std::string echo_post = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\ntest-header: " + std::string(1024, 'h') +
                              "\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'b');

std::string pipeline16() {
  std::string s;
  for (int i = 0; i < 16; ++i) s += browser_get;
  return s;
}
const std::string pipeline = pipeline16();

void report(benchmark::State& state, std::uint64_t allocs_before, std::size_t bytes_per_iter,
            std::size_t messages_per_iter) {
  const auto iters = static_cast<double>(state.iterations());
  state.counters["allocs/iter"] = static_cast<double>(khz::bench::allocations() - allocs_before) / iters;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_iter));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages_per_iter));
}

// Parses every message of `wire` per iteration: append (as a read would), parse all,
// release. The request object is reused, as the server's pool does.
void khz_parse(benchmark::State& state, const std::string& wire, std::size_t messages) {
  khz::request_parser parser;
  khz::request req;
  khz::link_buffer in;
  // Warm up: pools (blocks, nodes) and the request's capacity.
  for (int i = 0; i < 64; ++i) {
    in.append(wire);
    in.flush();
    while (true) {
      auto st = parser.parse(in, req);
      if (st != khz::parse_status::message_complete && st != khz::parse_status::headers_complete) break;
    }
    in.release();
  }
  std::uint64_t before = khz::bench::allocations();
  for (auto _ : state) {
    in.append(wire);
    in.flush();
    std::size_t done = 0;
    while (true) {
      auto st = parser.parse(in, req);
      if (st == khz::parse_status::message_complete) {
        ++done;
        benchmark::DoNotOptimize(req.headers().size());
      } else if (st != khz::parse_status::headers_complete) {
        break;
      }
    }
    if (done != messages) state.SkipWithError("parse failed");
    in.release();
  }
  report(state, before, wire.size(), messages);
}

void BM_khz_parse_browser_get(benchmark::State& state) { khz_parse(state, browser_get, 1); }
void BM_khz_parse_echo_post(benchmark::State& state) { khz_parse(state, echo_post, 1); }
void BM_khz_parse_pipeline16(benchmark::State& state) { khz_parse(state, pipeline, 16); }
BENCHMARK(BM_khz_parse_browser_get);
BENCHMARK(BM_khz_parse_echo_post);
BENCHMARK(BM_khz_parse_pipeline16);

#if KHZ_BENCH_HAVE_LLHTTP
int empty_data(llhttp_t*, const char*, size_t) { return 0; }
int empty_cb(llhttp_t*) { return 0; }
int count_message(llhttp_t* p) {
  ++*static_cast<std::size_t*>(p->data);
  return 0;
}

// llhttp with every callback set to an empty function: the work of the state machine
// and the calls, nothing stored.
void llhttp_parse(benchmark::State& state, const std::string& wire, std::size_t messages) {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = empty_cb;
  s.on_method = empty_data;
  s.on_url = empty_data;
  s.on_version = empty_data;
  s.on_header_field = empty_data;
  s.on_header_value = empty_data;
  s.on_header_field_complete = empty_cb;
  s.on_header_value_complete = empty_cb;
  s.on_headers_complete = empty_cb;
  s.on_body = empty_data;
  s.on_message_complete = count_message;
  llhttp_t p;
  llhttp_init(&p, HTTP_REQUEST, &s);
  std::size_t done = 0;
  p.data = &done;
  std::uint64_t before = khz::bench::allocations();
  for (auto _ : state) {
    done = 0;
    llhttp_errno_t e = khz::detail::run_stock_llhttp(&p, wire.data(), wire.size());
    if (e != HPE_OK || done != messages) state.SkipWithError("llhttp failed");
    benchmark::DoNotOptimize(done);
  }
  report(state, before, wire.size(), messages);
}

// llhttp as khz's parser runs it (detail::run_llhttp: the hooked build where there is
// one, the start line's spans stored, llhttp paused at the end of each head and started
// over from a copy of its initial state for the next message), and nothing else: the
// ceiling for khz's own use of llhttp.
int span_method(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = *static_cast<khz::detail::llhttp_spans*>(p->data);
  if (s.method_b == nullptr) s.method_b = at;
  s.method_e = at + len;
  return 0;
}
int pause_at_head_end(llhttp_t*) { return HPE_PAUSED; }

void llhttp_as_khz_parse(benchmark::State& state, const std::string& wire, std::size_t messages) {
  llhttp_settings_t s;  // for the stock build (no hooked one): the same events
  llhttp_settings_init(&s);
  s.on_method = span_method;
  s.on_headers_complete = pause_at_head_end;
  llhttp_t fresh;
  llhttp_init(&fresh, HTTP_REQUEST, &s);
  khz::detail::llhttp_spans spans;
  std::uint64_t before = khz::bench::allocations();
  for (auto _ : state) {
    std::size_t done = 0;
    const char* at = wire.data();
    const char* const end = wire.data() + wire.size();
    while (at < end) {
      llhttp_t p = fresh;
      spans = {};
      spans.max_target_length = 8192;
      p.data = &spans;
      if (khz::detail::run_llhttp(&p, at, static_cast<std::size_t>(end - at)) != HPE_PAUSED) break;
      at = llhttp_get_error_pos(&p);
      ++done;
    }
    if (done != messages) state.SkipWithError("llhttp failed");
    benchmark::DoNotOptimize(spans);
  }
  report(state, before, wire.size(), messages);
}

void BM_llhttp_parse_browser_get(benchmark::State& state) { llhttp_parse(state, browser_get, 1); }
void BM_llhttp_parse_echo_post(benchmark::State& state) { llhttp_parse(state, echo_post, 1); }
void BM_llhttp_parse_pipeline16(benchmark::State& state) { llhttp_parse(state, pipeline, 16); }
BENCHMARK(BM_llhttp_parse_browser_get);
BENCHMARK(BM_llhttp_parse_echo_post);
BENCHMARK(BM_llhttp_parse_pipeline16);

void BM_llhttp_as_khz_parse_browser_get(benchmark::State& state) { llhttp_as_khz_parse(state, browser_get, 1); }
void BM_llhttp_as_khz_parse_echo_post(benchmark::State& state) { llhttp_as_khz_parse(state, echo_post, 1); }
void BM_llhttp_as_khz_parse_pipeline16(benchmark::State& state) { llhttp_as_khz_parse(state, pipeline, 16); }
BENCHMARK(BM_llhttp_as_khz_parse_browser_get);
BENCHMARK(BM_llhttp_as_khz_parse_echo_post);
BENCHMARK(BM_llhttp_as_khz_parse_pipeline16);
#endif

// A typical small response: status line, Content-Type, Server, Date, 13-byte body.
void BM_khz_serialize_response(benchmark::State& state) {
  khz::date_cache date;
  khz::response res;
  khz::link_buffer out;
  khz::write_options options;
  options.date = &date;
  std::size_t bytes = 0;
  auto once = [&] {
    res.clear();
    res.set_status(khz::status::ok);
    res.headers().add_view("Content-Type", "text/plain; charset=utf-8");
    res.headers().add_view("Server", "khz");
    res.set_body("Hello, World!");
    if (!khz::write_response(out, res, options)) state.SkipWithError("write failed");
    out.flush();
    bytes = out.size();
    out.skip(out.size());
    out.release();
  };
  for (int i = 0; i < 64; ++i) once();
  std::uint64_t before = khz::bench::allocations();
  for (auto _ : state) once();
  report(state, before, bytes, 1);
}
BENCHMARK(BM_khz_serialize_response);

}  // namespace
