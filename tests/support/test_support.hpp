#pragma once
// Helpers shared by the test executables.

#include <khz/net/transport.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace khz::test {

// Number of open file descriptors of this process (entries of /proc/self/fd).
std::size_t open_fd_count();

// Checks, at scope exit, that the process has exactly as many descriptors open as at
// construction: every integration test that opens sockets declares one.
class fd_leak_guard {
 public:
  fd_leak_guard();
  ~fd_leak_guard();
  fd_leak_guard(const fd_leak_guard&) = delete;
  fd_leak_guard& operator=(const fd_leak_guard&) = delete;

 private:
  std::size_t before_;
};

// A seeded RNG; the seed comes from KHZ_TEST_SEED when set (to replay a failure) and is
// printed with every failure through a SCOPED_TRACE by the caller.
std::uint64_t test_seed();
std::string random_bytes(std::mt19937_64& rng, std::size_t n);

// Raises RLIMIT_NOFILE to at least `wanted` if the hard limit (or privilege) allows;
// returns the soft limit now in force.
std::size_t raise_fd_limit(std::size_t wanted);

// connect() on a blocking socket that tolerates EINTR: the handshake goes on in the
// kernel, so this waits (at most 5 s) for it to finish. A thread that ran an io_uring can
// see EINTR from a connect() under SO_SNDTIMEO when that ring is torn down, with no signal
// sent (see on_scratch_thread in src/net/io_uring_backend.cpp). True once connected.
bool connect_retrying(int fd, const sockaddr* to, socklen_t len);

// The transports this machine runs: epoll always, io_uring when probe_io_uring() accepts it.
// Suites parameterized over transports are instantiated over this list (so a kernel that
// refuses io_uring runs the epoll instances and generates no io_uring ones, instead of
// skipping them); tests/net/loop_test.cpp asserts what a refused io_uring looks like.
std::vector<transport> available_transports();

template <class ParamInfo>
std::string transport_param_name(const ParamInfo& info) {
  return to_string(info.param);
}

}  // namespace khz::test

// INSTANTIATE_TEST_SUITE_P over available_transports(), instances named "epoll"/"io_uring".
#define KHZ_INSTANTIATE_TRANSPORTS(suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(transports, suite, ::testing::ValuesIn(::khz::test::available_transports()), \
                           ::khz::test::transport_param_name<::testing::TestParamInfo<::khz::transport>>)
