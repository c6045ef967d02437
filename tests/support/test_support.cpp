#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace khz::test {

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;  // includes the directory iterator's own descriptor, consistently
}

bool connect_retrying(int fd, const sockaddr* to, socklen_t len) {
  if (::connect(fd, to, len) == 0) return true;
  if (errno != EINTR) return false;
  pollfd p{fd, POLLOUT, 0};
  int r = 0;
  do {
    r = ::poll(&p, 1, 5000);
  } while (r < 0 && errno == EINTR);
  int err = 0;
  socklen_t err_len = sizeof err;
  return r == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0;
}

fd_leak_guard::fd_leak_guard() : before_(open_fd_count()) {}

fd_leak_guard::~fd_leak_guard() {
  EXPECT_EQ(open_fd_count(), before_) << "file descriptors leaked by this test";
}

std::vector<transport> available_transports() {
  std::vector<transport> t{transport::epoll};
  if (probe_io_uring()) t.push_back(transport::io_uring);
  return t;
}

std::uint64_t test_seed() {
  if (const char* env = std::getenv("KHZ_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::size_t raise_fd_limit(std::size_t wanted) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= wanted) return lim.rlim_cur;
  rlimit want = lim;
  want.rlim_cur = wanted;
  if (want.rlim_max < wanted) want.rlim_max = wanted;  // needs CAP_SYS_RESOURCE
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    want.rlim_max = lim.rlim_max;
    want.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &want);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

}  // namespace khz::test
