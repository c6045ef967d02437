#pragma once
// URL parsing for the client: "http://host[:port]/path?query".
//
// What is accepted: scheme "http" or "https" (case-insensitive; https is parsed so that
// the client can refuse it with a clear error, never send it in clear), a host that is a
// registered name, an IPv4 literal or a bracketed IPv6 literal ("[::1]"), an optional
// decimal port (1..65535; default 80 / 443), a path (default "/") and a query. The
// fragment ("#...") is dropped: it is never sent. Userinfo ("user:pass@host") is refused:
// credentials in a URL leak into logs; set an Authorization header instead.
//
// Lifetime: a url owns its strings (std::string members), so it outlives the text.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

struct url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // without brackets for IPv6 literals; lower case
  std::uint16_t port = 0;
  std::string target;  // origin-form request target: path [ "?" query ], at least "/"
  bool ipv6_literal = false;

  bool is_https() const noexcept { return scheme == "https"; }
  bool default_port() const noexcept { return port == (is_https() ? 443 : 80); }
  std::string_view path() const noexcept {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
  }
  std::string_view query() const noexcept {
    std::string_view t = target;
    std::size_t q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
  }
  // The Host field value: host, bracketed when IPv6, with ":port" unless the default.
  std::string host_header() const;
  // "scheme://host:port" (the pool key: connections are shared per origin).
  std::string origin() const;
  // The whole URL in text form.
  std::string to_string() const;
};

// Parses an absolute http(s) URL. On failure returns errc::invalid_argument and, if `why`
// is not null, a sentence naming the problem.
result<url> parse_url(std::string_view text, std::string* why = nullptr);

// Resolves a redirect's Location against the URL it answered (RFC 3986 §5.2, the forms
// servers send: absolute, scheme-relative "//host/p", absolute-path "/p", relative "p",
// query-only "?q").
result<url> resolve_url(const url& base, std::string_view location, std::string* why = nullptr);

KHZ_END_NAMESPACE
