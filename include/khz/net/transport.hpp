#pragma once
// The I/O backend of an event_loop, chosen at run time.
//
//   epoll      readiness: edge-triggered epoll, non-blocking read/sendmsg syscalls.
//   io_uring   completion: multishot accept, multishot recv into a ring of provided
//              buffers (pooled blocks), send/sendmsg SQEs, one submission per iteration.
//   auto_select  io_uring when io_uring_status() says it is usable, else epoll.
//
// io_uring can be refused by the kernel (sysctl kernel.io_uring_disabled, seccomp, a
// container runtime, a kernel older than 5.19 without provided-buffer rings) or by
// configuration: the environment variable KHZ_DISABLE_IO_URING=1, or
// loop_options::refuse_io_uring, makes the probe fail as if the kernel had refused
// (to test the fallback, or to rule io_uring out in production).

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>

#include <string>
#include <string_view>
#include <system_error>

KHZ_BEGIN_NAMESPACE

enum class transport { auto_select, epoll, io_uring };

// "auto", "epoll", "io_uring".
const char* to_string(transport t) noexcept;

// Reads "auto" / "auto_select", "epoll", "io_uring" / "uring"; errc::invalid_argument otherwise.
result<transport> parse_transport(std::string_view text);

struct io_uring_support {
  std::error_code error;  // empty when io_uring is usable
  std::string reason;     // why not, in a sentence (empty when usable)
  bool multishot_recv = false;  // kernel >= 6.0; else single-shot recv re-armed per completion
  explicit operator bool() const noexcept { return !error; }
};

// Probes the kernel once (cached) and the KHZ_DISABLE_IO_URING override (every call).
io_uring_support probe_io_uring();

KHZ_END_NAMESPACE
