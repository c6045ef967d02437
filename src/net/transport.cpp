#include "net/loop_impl.hpp"

#include <cstdlib>
#include <cstring>

KHZ_BEGIN_NAMESPACE

const char* to_string(transport t) noexcept {
  switch (t) {
    case transport::auto_select: return "auto";
    case transport::epoll: return "epoll";
    case transport::io_uring: return "io_uring";
  }
  return "unknown";
}

result<transport> parse_transport(std::string_view text) {
  if (text == "auto" || text == "auto_select") return transport::auto_select;
  if (text == "epoll") return transport::epoll;
  if (text == "io_uring" || text == "uring") return transport::io_uring;
  return errc::invalid_argument;
}

io_uring_support probe_io_uring() {
  if (const char* env = std::getenv("KHZ_DISABLE_IO_URING"); env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0) {
    io_uring_support s;
    s.error = make_error_code(errc::not_supported);
    s.reason = "io_uring disabled by the environment (KHZ_DISABLE_IO_URING=" + std::string(env) + ")";
    return s;
  }
#if KHZ_HAVE_IO_URING
  static const io_uring_support kernel = detail::probe_io_uring_kernel();
  return kernel;
#else
  io_uring_support s;
  s.error = make_error_code(errc::not_supported);
  s.reason = "khz was built without liburing (the epoll backend only)";
  return s;
#endif
}

KHZ_END_NAMESPACE
