// Coroutine handlers: a timer that does not block the loop, and blocking work moved to
// the worker pool with ctx.offload(), resuming on the connection's loop.
//   $ khz-example-async
//   curl http://127.0.0.1:8080/delay/250         (answers after 250 ms; the loop keeps serving others)
//   curl http://127.0.0.1:8080/primes/2000000    (counts primes on a worker thread)
#include <khz/khz.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {
std::size_t count_primes(std::size_t limit) {  // deliberately CPU-bound
  std::vector<bool> composite(limit + 1);
  std::size_t count = 0;
  for (std::size_t i = 2; i <= limit; ++i) {
    if (composite[i]) continue;
    ++count;
    for (std::size_t j = i * i; j <= limit; j += i) composite[j] = true;
  }
  return count;
}
}  // namespace

int main() {
  khz::server s(khz::server_options{}.with_address("127.0.0.1:8080"));
  s.use(khz::access_log());  // logs each request's real duration, suspensions included

  s.get("/delay/:ms", [](khz::context& c) -> khz::task<> {
    auto ms = std::stoul(std::string(c.param("ms")));
    co_await c.sleep(std::chrono::milliseconds(ms));
    c.string(200, "waited {} ms\n", ms);
  });

  s.get("/primes/:n", [](khz::context& c) -> khz::task<> {
    std::size_t n = std::stoul(std::string(c.param("n")));  // copied: the worker must not touch c
    std::size_t primes = co_await c.offload([n] { return count_primes(n); });
    if (c.cancelled()) co_return;  // the client left while we computed
    c.string(200, "{} primes up to {}\n", primes, n);
  });
  s.spin();
}
