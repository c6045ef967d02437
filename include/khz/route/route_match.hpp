#pragma once
// The non-template vocabulary of the router: its options, what a lookup returns, and what
// routes() lists. basic_router<Handler> (router.hpp) adds the handler chain to a match.

#include <khz/base/config.hpp>
#include <khz/route/route_params.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE

// Router behaviour, named and defaulted as Hertz/Gin do.
struct router_options {
  // "/foo/" requested, only "/foo" registered (or the reverse): redirect to the registered form,
  // 301 for GET and HEAD, 308 for other methods (308 keeps the method and the body).
  bool redirect_trailing_slash = true;
  // On a miss, clean the path (clean_path) and look it up case-insensitively; redirect (301/308)
  // to the registered spelling when that finds a route. Off by default, as in Gin and Hertz.
  bool redirect_fixed_path = false;
  // A path that matches under other methods only gets 405 with an Allow list instead of 404.
  bool handle_method_not_allowed = false;
  // Match on clean_path(path) ("//a/./b" matches "/a/b"), without redirecting. Parameter values
  // then come from the cleaned path.
  bool remove_extra_slash = false;
  // Match on the raw (still percent-encoded) path, so that "%2F" inside a parameter does not
  // split it. When false, a path containing '%' is decoded before matching.
  bool use_raw_path = false;
  // With use_raw_path: percent-decode parameter values ("/user/a%2Fb" -> name = "a/b").
  bool unescape_path_values = true;
};

enum class route_match_kind : std::uint8_t {
  found,               // handlers = the route's chain; params and full_path are set
  redirect,            // status 301/308, location = where to go (query kept); handlers = null
  not_found,           // status 404; handlers = the no_route chain
  method_not_allowed,  // status 405; allow = "GET, POST"; handlers = the no_method chain
};

// Everything a lookup decides except the handler chain (see basic_route_match in router.hpp).
// Lifetimes: full_path views the router's copy of the route pattern (valid while the router lives);
// params: see route_params.hpp. location and allow are owned strings, empty (no allocation)
// unless kind says otherwise.
struct route_match_base {
  route_match_kind kind = route_match_kind::not_found;
  int status = 404;              // 200 found, 301/308 redirect, 404, 405
  std::string_view full_path;    // the matched pattern, e.g. "/repos/:owner/:repo"; empty on miss
  route_params params;
  std::string location;          // redirect only
  std::string allow;             // method_not_allowed only: registered methods, comma-separated
  std::int32_t route_index = -1; // position in routes() of the matched route, -1 on miss

  bool found() const noexcept { return kind == route_match_kind::found; }
};

// One line of routes(): registration order.
struct route_info {
  std::string method;
  std::string path;
  std::string handler_name;  // the name given at registration, else name_of(last handler)
  std::size_t handler_count = 0;  // length of the whole chain, middleware included
};

// A printable table of routes, one per line: "GET     /users/:id  --> show_user (3 handlers)".
std::string format_routes(const std::vector<route_info>& routes);

// The methods any() registers, in the order Allow lists them.
inline constexpr std::string_view standard_methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"};

KHZ_END_NAMESPACE
