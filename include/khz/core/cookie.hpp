#pragma once
// Cookies (RFC 6265): parsing the Cookie request field and building Set-Cookie values.

#include <khz/base/config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

enum class same_site : std::uint8_t { unset, lax, strict, none };

// One Set-Cookie. Every attribute of RFC 6265 §4.1 plus SameSite.
struct cookie {
  std::string name;
  std::string value;
  std::string path;    // empty: no Path attribute
  std::string domain;  // empty: no Domain attribute
  // Max-Age in seconds; 0 or negative asks the client to delete the cookie now.
  std::optional<std::chrono::seconds> max_age;
  std::optional<std::chrono::system_clock::time_point> expires;
  bool secure = false;
  bool http_only = false;
  khz::same_site same_site = same_site::unset;
};

// The Set-Cookie field value for `c`. Throws std::invalid_argument, naming the problem,
// when the name is not a token or the value / path / domain has a byte RFC 6265 forbids.
std::string format_set_cookie(const cookie& c);

// The value of cookie `name` in a Cookie field value ("a=1; b=2"), surrounding double
// quotes removed; nullopt when absent. The view points into `field`.
std::optional<std::string_view> find_cookie(std::string_view field, std::string_view name) noexcept;

KHZ_END_NAMESPACE
