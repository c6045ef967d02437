#include <khz/route/detail/router_core.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

KHZ_BEGIN_NAMESPACE
namespace detail {

struct route_node {
  std::string prefix;  // static bytes (empty for the root and for wildcard nodes)
  std::string name;    // wildcard name, for param and catch-all nodes
  std::string indices; // first byte of each static child, same order as children
  std::vector<std::unique_ptr<route_node>> children;
  std::unique_ptr<route_node> param;
  std::unique_ptr<route_node> catch_all;
  std::int32_t route = -1;   // route index when a pattern ends here
  std::int32_t origin = -1;  // for wildcard nodes: the route that created it (for messages)
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

}  // namespace

// `rest` is what is left of the path once `n`'s prefix has matched.
std::int32_t route_tree::find_from(const route_node& n, std::string_view rest,
                                   route_params& params) {
  if (rest.empty()) {
    if (n.route >= 0) return n.route;
    // "/src/*filepath" also matches "/src/", with an empty value.
    if (n.catch_all && n.catch_all->route >= 0) {
      params.push(n.catch_all->name, rest);
      return n.catch_all->route;
    }
    return -1;
  }
  // 1. Static: at most one child can start with rest[0].
  const std::size_t idx = n.indices.find(rest[0]);
  if (idx != std::string::npos) {
    const route_node& c = *n.children[idx];
    if (rest.size() >= c.prefix.size() &&
        rest.compare(0, c.prefix.size(), c.prefix) == 0) {
      const std::int32_t r = find_from(c, rest.substr(c.prefix.size()), params);
      if (r >= 0) return r;
    }
  }
  // 2. Parameter: one non-empty segment.
  if (n.param && rest[0] != '/') {
    const std::size_t end = std::min(rest.find('/'), rest.size());
    params.push(n.param->name, rest.substr(0, end));
    const std::int32_t r = find_from(*n.param, rest.substr(end), params);
    if (r >= 0) return r;
    params.pop();
  }
  // 3. Catch-all: the rest of the path.
  if (n.catch_all && n.catch_all->route >= 0) {
    params.push(n.catch_all->name, rest);
    return n.catch_all->route;
  }
  return -1;
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
}

std::int32_t route_tree::find(std::string_view path, route_params& params) const {
  return find_from(*root_, path, params);
}

bool route_tree::find_case_insensitive(std::string_view path, std::string& out) const {
  out.clear();
  return find_ci_from(*root_, path, out);
}

}  // namespace detail
KHZ_END_NAMESPACE
