#pragma once
// Client failure classes. A failed call's std::error_code is either one of these
// (khz::client_errc, its own category) or a khz::errc the layers below report (timeout,
// too_large, protocol_error, pool_full, dns, not_supported, invalid_argument, cancelled).
// failure_class() maps any of them to the short word a CLI or a log prints.

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>

#include <string_view>
#include <system_error>

KHZ_BEGIN_NAMESPACE

enum class client_errc {
  ok = 0,
  connect_failed = 1,   // the TCP connection could not be made (refused, unreachable...)
  connection_reset,     // the server closed or reset the connection before the response ended
  too_many_redirects,   // more redirects than redirect_policy::max_redirects
  redirect_loop,        // a redirect led back to a URL already visited with the same method
  body_not_replayable,  // a retry or 307/308 redirect needed a streamed body sent already
};

const std::error_category& client_error_category() noexcept;

inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_error_category()};
}

// "dns", "connect", "timeout", "reset", "protocol", "too_large", "pool_full",
// "redirects", "not_supported", "invalid", "cancelled", or "error" for anything else.
std::string_view failure_class(std::error_code ec) noexcept;

KHZ_END_NAMESPACE

template <>
struct std::is_error_code_enum<khz::client_errc> : std::true_type {};
