// The server's per-request cost over loopback: a khz::server (one loop, default options)
// answers GET / ("Hello, World!", the HTTP echo benchmark's handler) to a blocking client
// in the benchmark thread that sends `depth` requests in one write and reads the answers.
//
// Counters:
//   server_cpu_us/req  CPU time of the process minus the benchmark thread's own, per
//                      request: the server's loop (user + kernel), as
//                      scripts/http-echo-bench.sh measures it, without wrk (the
//                      server's worker pool idles; its threads add nothing).
// Args: depth (requests per batch), transport (0 epoll, 1 io_uring).
#include <benchmark/benchmark.h>
#include <khz/khz.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

namespace {

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `count` whole answers arrived; every answer ends with the body.
bool read_answers(int fd, std::size_t count, std::string& buf) {
  constexpr std::string_view end = "Hello, World!";
  std::size_t seen = 0;
  std::size_t scan = 0;
  buf.clear();
  char chunk[65536];
  while (seen < count) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t at; (at = buf.find(end, scan)) != std::string::npos;) {
      ++seen;
      scan = at + end.size();
    }
  }
  return true;
}

void bm_server_pipelined_get(benchmark::State& state) {
  const auto depth = static_cast<std::size_t>(state.range(0));
  const auto transport = state.range(1) == 0 ? khz::transport::epoll : khz::transport::io_uring;
  khz::server_options options;
  options.addresses = {"127.0.0.1:0"};
  options.loops = 1;
  options.transport = transport;
  khz::server s(options);
  s.get("/", [](khz::context& c) { c.data(200, "text/plain", std::string_view("Hello, World!")); });
  try {
    s.start();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());  // io_uring refused here
    return;
  }
  int fd = connect_to(s.listen_addresses().front().port());
  if (fd < 0) {
    state.SkipWithError("cannot connect");
    s.shutdown(std::chrono::milliseconds(100));
    return;
  }
  std::string batch;
  for (std::size_t i = 0; i < depth; ++i) batch += "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::string answers;
  for (int i = 0; i < 200; ++i) {  // warm pools, caches and the connection
    if (!send_all(fd, batch) || !read_answers(fd, depth, answers)) {
      state.SkipWithError("warm-up failed");
      break;
    }
  }
  const double cpu_before = process_cpu_seconds();
  const double own_before = thread_cpu_seconds();
  std::size_t requests = 0;
  for (auto _ : state) {
    if (!send_all(fd, batch) || !read_answers(fd, depth, answers)) {
      state.SkipWithError("connection failed");
      break;
    }
    requests += depth;
  }
  const double server_cpu = (process_cpu_seconds() - cpu_before) - (thread_cpu_seconds() - own_before);
  ::close(fd);
  s.shutdown(std::chrono::milliseconds(500));
  if (requests == 0) return;
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.counters["server_cpu_us/req"] = benchmark::Counter(server_cpu * 1e6 / static_cast<double>(requests));
}
BENCHMARK(bm_server_pipelined_get)
    ->ArgNames({"depth", "uring"})
    ->Args({1, 0})
    ->Args({16, 0})
    ->Args({1, 1})
    ->Args({16, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
