#pragma once
// khz's own error codes, as a std::error_category so they mix with system errors
// (std::errc, errno values from the kernel) in one std::error_code.

#include <khz/base/config.hpp>

#include <string>
#include <system_error>

KHZ_BEGIN_NAMESPACE

// What failed, in terms a caller can act on. System errors (ECONNREFUSED, ECONNRESET...)
// stay in std::system_category; these are the conditions khz itself detects.
enum class errc {
  ok = 0,
  timeout = 1,           // a deadline or a read/write/idle/connect timeout passed
  closed,                // the connection or object was closed (locally or by the peer)
  cancelled,             // the operation was cancelled (loop stopping, connection closing)
  would_block,           // nothing can be done now without blocking
  too_large,             // a configured size limit was exceeded
  protocol_error,        // the peer sent bytes that break the protocol
  pool_full,             // a connection pool is at its limit and the wait timed out
  dns,                   // a host name could not be resolved
  not_supported,         // the feature is not available here (e.g. io_uring refused)
  invalid_argument,      // a caller's argument is malformed (bad address, bad URL...)
  backpressure,          // the peer is not reading / the consumer is not consuming
  internal,              // a bug or an unhandled exception in user code (answered with 500)
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// A system error from an errno value.
inline std::error_code system_error_code(int err) noexcept {
  return {err, std::system_category()};
}

KHZ_END_NAMESPACE

template <>
struct std::is_error_code_enum<khz::errc> : std::true_type {};
