#pragma once
// Small helpers shared by the echo baseline server and the load generator.
// Deliberately plain POSIX: these two programs must not depend on khz's network
// code, so that the baseline measures the kernel and a straightforward loop only.

#include <sys/resource.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace khz_echo {

// Prints "<program>: <what>" to stderr and exits with status 2 (setup error).
[[noreturn]] inline void die(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::exit(2);
}

// Same, with strerror(errno) appended.
[[noreturn]] inline void die_errno(const char* program, const std::string& what) {
  const int saved = errno;
  die(program, what + ": " + std::strerror(saved));
}

// Parses a whole string as a non-negative integer in [lo, hi]; false if it is not one.
inline bool parse_uint(std::string_view text, unsigned long long lo, unsigned long long hi,
                       unsigned long long& out) {
  unsigned long long v = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || p != end || v < lo || v > hi) return false;
  out = v;
  return true;
}

// Parses a whole string as a non-negative decimal number of seconds (e.g. "2.5").
inline bool parse_seconds(std::string_view text, double& out) {
  if (text.empty() || text.size() > 30) return false;
  const std::string copy(text);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !(v >= 0.0) || v > 1e6) return false;
  out = v;
  return true;
}

// Raises RLIMIT_NOFILE to at least `wanted` descriptors. As root the hard limit may be
// raised too (up to fs.nr_open); otherwise the soft limit goes as high as the hard one.
// Returns the soft limit in effect afterwards.
inline unsigned long long raise_nofile(unsigned long long wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= wanted) return lim.rlim_cur;
  rlimit want = lim;
  want.rlim_cur = wanted;
  if (want.rlim_max != RLIM_INFINITY && want.rlim_max < wanted) want.rlim_max = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    // Not privileged (or above fs.nr_open): settle for the hard limit.
    want = lim;
    want.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &want);
  }
  (void)::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

}  // namespace khz_echo
