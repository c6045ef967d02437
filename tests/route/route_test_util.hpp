#pragma once
// Shared helpers for the router tests: a handler type with a name (found by name_of through ADL)
// and shortcuts to read a match.

#include <khz/route/router.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace route_test {

struct handler {
  std::string id;
};
inline std::string_view name_of(const handler& h) noexcept { return h.id; }

inline handler h(std::string id) { return handler{std::move(id)}; }

using router = khz::basic_router<handler>;
using match = router::match_type;

// The ids of a chain, joined with ',' ("" for a null chain).
inline std::string ids(const std::vector<handler>* chain) {
  std::string out;
  if (chain == nullptr) return out;
  for (const auto& x : *chain) {
    if (!out.empty()) out += ',';
    out += x.id;
  }
  return out;
}

// The id of the last handler of a found route, or a marker for the other outcomes.
inline std::string target(const match& m) {
  switch (m.kind) {
    case khz::route_match_kind::found:
      return m.handlers->back().id;
    case khz::route_match_kind::redirect:
      return "redirect " + std::to_string(m.status) + " " + m.location;
    case khz::route_match_kind::not_found:
      return "404";
    case khz::route_match_kind::method_not_allowed:
      return "405 " + m.allow;
  }
  return "?";
}

}  // namespace route_test
