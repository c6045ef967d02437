#pragma once
// HTTP request methods: the RFC 9110 set plus PATCH (RFC 5789) as an enum, and any other
// method token as method::other (its spelling is kept by the request: request::method_name()).
//
// Methods are case-sensitive (RFC 9110 §9.1): "get" is an extension token, not GET.
// Note on parsing: the request parser runs on llhttp 8, which recognises a fixed list
// of methods (the standard ones plus WebDAV, RTSP-free HTTP extensions such as PROPFIND,
// PURGE, MKCOL...). Those it knows and that are not in the enum come out as
// method::other with their name; a token llhttp does not know is answered with
// 501 Not Implemented, as RFC 9110 §9.1 asks for an unrecognised method.

#include <khz/base/config.hpp>
#include <khz/http/detail/chars.hpp>

#include <cstdint>
#include <string_view>

KHZ_BEGIN_NAMESPACE

enum class method : std::uint8_t {
  get,
  head,
  post,
  put,
  delete_,
  connect,
  options,
  trace,
  patch,
  other,  // any other method token; see request::method_name()
};

inline constexpr std::size_t method_count = 10;

// The method's token ("GET"...); empty for method::other (its spelling lives elsewhere).
constexpr std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::get: return "GET";
    case method::head: return "HEAD";
    case method::post: return "POST";
    case method::put: return "PUT";
    case method::delete_: return "DELETE";
    case method::connect: return "CONNECT";
    case method::options: return "OPTIONS";
    case method::trace: return "TRACE";
    case method::patch: return "PATCH";
    case method::other: break;
  }
  return {};
}

// The enum value of a method token (case-sensitive): method::other for any other token,
// including one that is not a valid token (check with is_method_token()).
constexpr method method_from_string(std::string_view s) noexcept {
  switch (s.size()) {
    case 3:
      if (s == "GET") return method::get;
      if (s == "PUT") return method::put;
      break;
    case 4:
      if (s == "HEAD") return method::head;
      if (s == "POST") return method::post;
      break;
    case 5:
      if (s == "TRACE") return method::trace;
      if (s == "PATCH") return method::patch;
      break;
    case 6:
      if (s == "DELETE") return method::delete_;
      break;
    case 7:
      if (s == "CONNECT") return method::connect;
      if (s == "OPTIONS") return method::options;
      break;
    default:
      break;
  }
  return method::other;
}

// True when s is a syntactically valid method (a non-empty token).
constexpr bool is_method_token(std::string_view s) noexcept { return detail::http_chars::is_token(s); }

// Safe (RFC 9110 §9.2.1) and idempotent (§9.2.2) methods: what a client may retry.
constexpr bool is_safe(method m) noexcept {
  return m == method::get || m == method::head || m == method::options || m == method::trace;
}
constexpr bool is_idempotent(method m) noexcept {
  return is_safe(m) || m == method::put || m == method::delete_;
}

KHZ_END_NAMESPACE
