// khz-load: a closed-loop HTTP/1.1 load generator built on khz::client, shaped like wrk.
//
//   khz-load -c CONNECTIONS -d SECONDS [-t THREADS] [--method M] [--body-size B]
//            [--header-size H] [--pipeline N] [--timeout SECONDS] [--transport T] URL
//
// Each thread runs one event loop; its share of the connections are closed-loop workers
// (send, wait for the whole response, send again) that go through khz::client with that
// loop attached, so every request takes the client's real path: pool, deadline, codec.
// --transport picks the loops' transport (epoll, io_uring or auto, the default).
// With --pipeline N > 1 each connection keeps N requests in flight instead; khz::client
// does not pipeline (few servers handle it well), so that mode drives the same codec
// (write_request / response_parser) over raw khz connections.
//
// Prints latency percentiles p50/p90/p99/p99.9 (log-linear HDR-style histogram; not
// given for pipelined runs, where per-request latency is not meaningful), the process's
// CPU time, and a final line "Requests/sec: N" like wrk's.
#include <khz/client/client.hpp>
#include <khz/http/parser.hpp>
#include <khz/http/serializer.hpp>

#include "../echo/latency_histogram.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  std::size_t connections = 10;
  double seconds = 10;
  std::size_t threads = 1;
  std::string method;
  std::size_t body_size = 0;
  std::size_t header_size = 0;
  std::size_t pipeline = 1;
  double timeout_s = 10;
  khz::transport transport = khz::transport::auto_select;
  std::string url;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "khz-load: %s\nusage: khz-load -c CONNECTIONS -d SECONDS [-t THREADS] [--method M] [--body-size B]\n"
               "                [--header-size H] [--pipeline N] [--timeout SECONDS] [--transport epoll|io_uring|auto] URL\n",
               why.c_str());
  std::exit(2);
}

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& v) -> double {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < 0) usage(a + " wants a number, got '" + v + "'");
      return d;
    };
    if (a == "-c") {
      s.connections = static_cast<std::size_t>(number(value()));
    } else if (a == "-d") {
      s.seconds = number(value());
    } else if (a == "-t") {
      s.threads = static_cast<std::size_t>(number(value()));
    } else if (a == "--method") {
      s.method = value();
    } else if (a == "--body-size") {
      s.body_size = static_cast<std::size_t>(number(value()));
    } else if (a == "--header-size") {
      s.header_size = static_cast<std::size_t>(number(value()));
    } else if (a == "--pipeline") {
      s.pipeline = static_cast<std::size_t>(number(value()));
    } else if (a == "--timeout") {
      s.timeout_s = number(value());
    } else if (a == "--transport") {
      std::string v = value();
      auto t = khz::parse_transport(v);
      if (!t) usage("--transport wants epoll, io_uring or auto, got '" + v + "'");
      s.transport = *t;
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option " + a);
    } else {
      s.url = a;
    }
  }
  if (s.url.empty()) usage("no URL given");
  if (s.connections == 0 || s.threads == 0 || s.pipeline == 0) usage("-c, -t and --pipeline must be positive");
  if (s.threads > s.connections) s.threads = s.connections;
  if (s.method.empty()) s.method = s.body_size > 0 ? "POST" : "GET";
  return s;
}

struct thread_stats {
  khz_echo::latency_histogram latency;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t non_2xx = 0;
  std::uint64_t bytes = 0;
};

// Runs a task on the current loop thread without waiting for it.
void spawn(khz::task<> t) {
  struct holder {
    khz::task<> t;
    static void done(void* p) { delete static_cast<holder*>(p); }
  };
  auto* h = new holder{std::move(t)};
  h->t.start();
  if (h->t.done()) {
    delete h;
  } else {
    h->t.on_done(&holder::done, h);
  }
}

// ------------------------------------------------------------------ client mode

// A fresh request per call, as a caller would build it; returned by value so that it
// initializes send()'s parameter directly (no extra move of a 2 KiB message).
khz::request make_request(const settings& s, const std::string& pad) {
  khz::request req;
  req.set_method(s.method);
  req.set_target(s.url);
  if (!pad.empty()) req.headers().add_view("X-Pad", pad);
  return req;
}

// The body is one body_source shared by every request (its bytes are not copied per call).
khz::task<> client_worker(khz::client& c, const settings& s, const khz::body_source& body, const std::string& pad,
                          clock_type::time_point end, thread_stats& st, std::size_t& running, khz::event_loop& loop) {
  while (clock_type::now() < end) {
    khz::send_options o;
    o.body = body;
    auto t0 = clock_type::now();
    auto r = co_await c.send(make_request(s, pad), std::move(o));
    auto t1 = clock_type::now();
    if (!r) {
      ++st.errors;
      continue;
    }
    ++st.requests;
    st.bytes += r->body().size();
    if (r->status_code() < 200 || r->status_code() > 299) ++st.non_2xx;
    st.latency.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  if (--running == 0) loop.stop();
}

// ------------------------------------------------------------------ pipelined mode

class pipelined_conn final : public khz::connection_handler {
 public:
  pipelined_conn(const std::string& wire, std::size_t depth, clock_type::time_point end, thread_stats& st,
                 std::size_t& running, khz::event_loop& loop)
      : wire_(wire), depth_(depth), end_(end), st_(st), running_(running), loop_(loop) {}

  void on_open(khz::connection& c) override {
    for (std::size_t i = 0; i < depth_; ++i) c.output().append(wire_);
    in_flight_ = depth_;
    (void)c.flush();
  }
  void on_data(khz::connection& c) override {
    for (;;) {
      auto r = parser_.parse(c.input(), res_);
      if (r == khz::parse_status::need_more) break;
      if (r == khz::parse_status::headers_complete) continue;
      if (r != khz::parse_status::message_complete) {
        ++st_.errors;
        c.abort();
        return;
      }
      ++st_.requests;
      if (res_.status_code() < 200 || res_.status_code() > 299) ++st_.non_2xx;
      st_.bytes += res_.body().size();
      --in_flight_;
      if (clock_type::now() < end_) {
        c.output().append(wire_);
        ++in_flight_;
      }
    }
    if (in_flight_ == 0) c.close();
  }
  void on_close(khz::connection&, std::error_code) override {
    if (--running_ == 0) loop_.stop();
  }

 private:
  const std::string& wire_;
  std::size_t depth_;
  clock_type::time_point end_;
  thread_stats& st_;
  std::size_t& running_;
  khz::event_loop& loop_;
  khz::response_parser parser_{khz::http_limits{}};
  khz::response res_;
  std::size_t in_flight_ = 0;
};

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

std::string format_ns(std::uint64_t ns) {
  char buf[32];
  if (ns < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.2fus", static_cast<double>(ns) / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2fms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ns) / 1e9);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  settings s = parse(argc, argv);
  std::string why;
  auto u = khz::parse_url(s.url, &why);
  if (!u) usage(why);
  if (u->is_https()) usage("https is not supported yet (no TLS)");
  const std::string body(s.body_size, 'x');
  const std::string pad(s.header_size, 'p');
  const khz::body_source body_src = body.empty() ? khz::body_source{} : khz::body_source::bytes(body);

  khz::client c(khz::client_options{}
                    .with_deadline(std::chrono::milliseconds(static_cast<long long>(s.timeout_s * 1000)))
                    .with_max_conns_per_host(s.connections)
                    .with_max_redirects(0)
                    .with_user_agent("khz-load/0.1")
                    .with_transport(s.transport));

  // The pipelined mode's request bytes, serialized once.
  std::string wire;
  khz::address target;
  if (s.pipeline > 1) {
    khz::request req;
    req.set_method(s.method);
    req.set_target(u->target);
    req.headers().add("Host", u->host_header());
    if (!pad.empty()) req.headers().add("X-Pad", pad);
    if (!body.empty()) req.set_body(body);
    khz::link_buffer out;
    if (!khz::write_request(out, req)) usage("cannot serialize the request");
    out.flush();
    wire = out.read_string(out.size());
    auto a = khz::address::parse(u->ipv6_literal ? "[" + u->host + "]:" + std::to_string(u->port)
                                                 : u->host + ":" + std::to_string(u->port));
    if (!a) usage("--pipeline needs a numeric host (IPv4 or [IPv6] literal)");
    target = *a;
  }

  std::printf("Running %gs test @ %s\n  %zu threads and %zu connections%s\n", s.seconds, s.url.c_str(), s.threads,
              s.connections, s.pipeline > 1 ? (", pipeline " + std::to_string(s.pipeline)).c_str() : "");
  std::vector<thread_stats> stats(s.threads);
  std::vector<std::unique_ptr<khz::event_loop>> loops;
  khz::loop_options lo;
  lo.kind = s.transport;
  for (std::size_t t = 0; t < s.threads; ++t) loops.push_back(std::make_unique<khz::event_loop>(lo));
  const double cpu0 = cpu_seconds();
  const auto start = clock_type::now();
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s.seconds));
  std::vector<std::thread> threads;
  std::vector<std::vector<std::unique_ptr<pipelined_conn>>> conns(s.threads);
  for (std::size_t t = 0; t < s.threads; ++t) {
    threads.emplace_back([&, t] {
      khz::event_loop& loop = *loops[t];
      const std::size_t share = s.connections / s.threads + (t < s.connections % s.threads ? 1 : 0);
      std::size_t running = share;
      if (s.pipeline > 1) {
        for (std::size_t i = 0; i < share; ++i) {
          conns[t].push_back(std::make_unique<pipelined_conn>(wire, s.pipeline, end, stats[t], running, loop));
          loop.dial(target, *conns[t].back(), [&, t](khz::result<khz::connection_ptr> r) {
            if (!r) {
              ++stats[t].errors;
              if (--running == 0) loop.stop();
            }
          });
        }
      } else {
        c.attach(loop);
        loop.post([&, share] {
          for (std::size_t i = 0; i < share; ++i) {
            spawn(client_worker(c, s, body_src, pad, end, stats[t], running, loop));
          }
        });
      }
      loop.run();
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  const double cpu = cpu_seconds() - cpu0;

  thread_stats all;
  for (auto& st : stats) {
    all.latency.merge(st.latency);
    all.requests += st.requests;
    all.errors += st.errors;
    all.non_2xx += st.non_2xx;
    all.bytes += st.bytes;
  }
  if (s.pipeline == 1 && all.requests > 0) {
    std::printf("  Latency   p50 %s   p90 %s   p99 %s   p99.9 %s   max %s\n",
                format_ns(all.latency.quantile(0.50)).c_str(), format_ns(all.latency.quantile(0.90)).c_str(),
                format_ns(all.latency.quantile(0.99)).c_str(), format_ns(all.latency.quantile(0.999)).c_str(),
                format_ns(all.latency.max()).c_str());
  }
  std::printf("  %llu requests in %.2fs, %llu body bytes read\n", static_cast<unsigned long long>(all.requests), elapsed,
              static_cast<unsigned long long>(all.bytes));
  if (all.errors != 0 || all.non_2xx != 0) {
    std::printf("  Errors: %llu, non-2xx responses: %llu\n", static_cast<unsigned long long>(all.errors),
                static_cast<unsigned long long>(all.non_2xx));
  }
  std::printf("  CPU: %.2fs (%.0f%% of one core), %.2fus per request\n", cpu, 100.0 * cpu / elapsed,
              all.requests > 0 ? cpu * 1e6 / static_cast<double>(all.requests) : 0.0);
  std::printf("Requests/sec: %.2f\n", static_cast<double>(all.requests) / elapsed);
  return all.requests > 0 ? 0 : 1;
}
