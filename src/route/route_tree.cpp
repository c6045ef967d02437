#include <khz/route/detail/router_core.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

KHZ_BEGIN_NAMESPACE
namespace detail {

// Fields read by every lookup come first, so that a visit touches one or two cache lines.
struct route_node {
  std::string prefix;   // static bytes (empty for the root and for wildcard nodes)
  std::string indices;  // first byte of each static child, same order as children
  std::vector<std::unique_ptr<route_node>> children;
  std::unique_ptr<route_node> param;
  std::unique_ptr<route_node> catch_all;
  std::int32_t route = -1;   // route index when a pattern ends here
  std::int32_t origin = -1;  // for wildcard nodes: the route that created it (for messages)
  std::string name;          // wildcard name, for param and catch-all nodes
  std::string pattern;       // the route's pattern when route >= 0 (a match's full_path)
};

namespace {

// "'GET /users/:id' (handler 'show')". Appends rather than operator+ chains: g++ 12 -O3 reports
// a false -Wrestrict on those.
std::string describe_new(std::string_view method, std::string_view path, std::string_view name) {
  std::string s;
  s.append(1, '\'').append(method).append(1, ' ').append(path).append(1, '\'');
  if (!name.empty()) s.append(" (handler '").append(name).append("')");
  return s;
}

std::string describe(const route_record& r) { return describe_new(r.method, r.path, r.name); }

std::size_t common_prefix(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Walks/creates the static run `s` below `n`; returns the node where it ends.
route_node* insert_static(route_node* n, std::string_view s) {
  while (!s.empty()) {
    const std::size_t idx = n->indices.find(s[0]);
    if (idx == std::string::npos) {
      auto child = std::make_unique<route_node>();
      child->prefix = std::string(s);
      route_node* raw = child.get();
      n->indices.push_back(s[0]);
      n->children.push_back(std::move(child));
      return raw;
    }
    route_node* c = n->children[idx].get();
    const std::size_t common = common_prefix(c->prefix, s);
    if (common < c->prefix.size()) {
      // Split c: a new node holds the shared bytes and adopts c with the rest of its prefix.
      auto mid = std::make_unique<route_node>();
      mid->prefix = c->prefix.substr(0, common);
      std::unique_ptr<route_node> old = std::move(n->children[idx]);
      old->prefix.erase(0, common);
      mid->indices.push_back(old->prefix[0]);
      mid->children.push_back(std::move(old));
      n->children[idx] = std::move(mid);
      c = n->children[idx].get();
    }
    n = c;
    s.remove_prefix(common);
  }
  return n;
}

bool ieq(char a, char b) noexcept {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return lower(a) == lower(b);
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (!ieq(s[i], prefix[i])) return false;
  }
  return true;
}

bool find_ci_from(const route_node& n, std::string_view rest, std::string& out) {
  if (rest.empty()) return n.route >= 0 || (n.catch_all && n.catch_all->route >= 0);
  const std::size_t mark = out.size();
  for (const auto& child : n.children) {
    const route_node& c = *child;
    if (istarts_with(rest, c.prefix)) {
      out += c.prefix;
      if (find_ci_from(c, rest.substr(c.prefix.size()), out)) return true;
      out.resize(mark);
    }
  }
  if (n.param && rest[0] != '/') {
    const std::size_t end = std::min(rest.find('/'), rest.size());
    out += rest.substr(0, end);
    if (find_ci_from(*n.param, rest.substr(end), out)) return true;
    out.resize(mark);
  }
  if (n.catch_all && n.catch_all->route >= 0) {
    out += rest;
    return true;
  }
  return false;
}

// Hand-written loops for the hot path: the strings are a few bytes long, where a call into
// libc's vectorized memchr/memcmp costs more than it saves (they were 40% of a lookup).
inline std::size_t index_of(std::string_view s, char c) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == c) return i;
  }
  return std::string_view::npos;
}

inline std::size_t segment_end(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && s[i] != '/') ++i;
  return i;
}

inline bool has_prefix(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (s[i] != prefix[i]) return false;
  }
  return true;
}

}  // namespace

// `rest` is what is left of the path once `n`'s prefix has matched. Recursion is needed only
// where a node offers alternatives (a parameter or catch-all child): a node with static children
// alone is left for its matching child by a loop, as a failure there is a failure here too.
const route_node* route_tree::find_from(const route_node& start, std::string_view rest,
                                        route_params& params) {
  const route_node* n = &start;
  for (;;) {
    if (rest.empty()) {
      if (n->route >= 0) return n;
      // "/src/*filepath" also matches "/src/", with an empty value.
      if (n->catch_all && n->catch_all->route >= 0) {
        params.push(n->catch_all->name, rest);
        return n->catch_all.get();
      }
      return nullptr;
    }
    // 1. Static: at most one child can start with rest[0].
    const route_node* child = nullptr;
    const std::size_t idx = index_of(n->indices, rest[0]);
    if (idx != std::string_view::npos && has_prefix(rest, n->children[idx]->prefix)) {
      child = n->children[idx].get();
    }
    if (!n->param && !n->catch_all) {
      if (child == nullptr) return nullptr;
      rest.remove_prefix(child->prefix.size());
      n = child;
      continue;
    }
    if (child != nullptr) {
      if (const route_node* r = find_from(*child, rest.substr(child->prefix.size()), params)) {
        return r;
      }
    }
    // 2. Parameter: one non-empty segment.
    if (n->param && rest[0] != '/') {
      const std::size_t end = segment_end(rest);
      params.push(n->param->name, rest.substr(0, end));
      if (const route_node* r = find_from(*n->param, rest.substr(end), params)) return r;
      params.pop();
    }
    // 3. Catch-all: the rest of the path.
    if (n->catch_all && n->catch_all->route >= 0) {
      params.push(n->catch_all->name, rest);
      return n->catch_all.get();
    }
    return nullptr;
  }
}


route_tree::route_tree(std::string method)
    : method_(std::move(method)), root_(std::make_unique<route_node>()) {}
route_tree::route_tree(route_tree&&) noexcept = default;
route_tree& route_tree::operator=(route_tree&&) noexcept = default;
route_tree::~route_tree() = default;

void route_tree::insert(std::string_view pattern, std::int32_t id,
                        const std::deque<route_record>& records, std::string_view new_name) {
  route_node* n = root_.get();
  std::string_view rest = pattern;
  while (!rest.empty()) {
    const std::size_t wc = rest.find_first_of(":*");
    n = insert_static(n, rest.substr(0, std::min(wc, rest.size())));
    if (wc == std::string_view::npos) break;
    const bool is_param = rest[wc] == ':';
    std::size_t end = rest.find('/', wc);
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view name = rest.substr(wc + 1, end - wc - 1);
    std::unique_ptr<route_node>& slot = is_param ? n->param : n->catch_all;
    if (slot && slot->name != name) {
      const char sigil = is_param ? ':' : '*';
      throw std::invalid_argument(
          "route conflict: wildcard '" + std::string(1, sigil) + std::string(name) +
          "' in new route " + describe_new(method_, pattern, new_name) + " conflicts with wildcard '" +
          std::string(1, sigil) + slot->name + "' of existing route " +
          describe(records.at(static_cast<std::size_t>(slot->origin))) +
          "; a position can have only one wildcard name: rename '" + std::string(1, sigil) +
          std::string(name) + "' to '" + std::string(1, sigil) + slot->name + "'");
    }
    if (!slot) {
      slot = std::make_unique<route_node>();
      slot->name = std::string(name);
      slot->origin = id;
    }
    n = slot.get();
    rest = rest.substr(end);
  }
  if (n->route >= 0) {
    throw std::invalid_argument("duplicate route: new route " +
                                describe_new(method_, pattern, new_name) +
                                " repeats existing route " +
                                describe(records.at(static_cast<std::size_t>(n->route))) +
                                "; remove one of them or change its method or path");
  }
  n->route = id;
  n->pattern = std::string(pattern);
}

route_tree::hit route_tree::find(std::string_view path, route_params& params) const {
  const route_node* n = find_from(*root_, path, params);
  if (n == nullptr) return {};
  return {n->route, n->pattern};
}

bool route_tree::find_case_insensitive(std::string_view path, std::string& out) const {
  out.clear();
  return find_ci_from(*root_, path, out);
}

}  // namespace detail
KHZ_END_NAMESPACE
