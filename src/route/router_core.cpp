#include <khz/route/detail/router_core.hpp>
#include <khz/route/path.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <utility>

KHZ_BEGIN_NAMESPACE

void route_params::copy_from(const route_params& other) {
  size_ = other.size_;
  inline_ = other.inline_;
  overflow_ = other.overflow_;
  buf_size_ = other.buf_size_;
  heap_active_ = other.heap_active_;
  if (heap_active_) {
    heap_buf_.assign(other.heap_buf_.data(), other.buf_size_);
  } else if (buf_size_ > 0) {
    std::memcpy(inline_buf_.data(), other.inline_buf_.data(), buf_size_);
  }
  if (buf_size_ == 0) return;
  // Values that pointed into other's buffer must point into ours.
  const char* from = other.buffer_data();
  const char* to = buffer_data();
  const std::less<const char*> before;
  for (std::size_t i = 0; i < size_; ++i) {
    route_param& s = slot_at(i);
    const char* p = s.value.data();
    if (p != nullptr && !before(p, from) && before(p, from + buf_size_)) {
      s.value = std::string_view(to + (p - from), s.value.size());
    } else if (p != nullptr && p == from + buf_size_ && s.value.empty()) {
      s.value = std::string_view(to + buf_size_, 0);
    }
  }
}

std::string format_routes(const std::vector<route_info>& routes) {
  std::size_t mw = 0, pw = 0;
  for (const auto& r : routes) {
    mw = std::max(mw, r.method.size());
    pw = std::max(pw, r.path.size());
  }
  std::string out;
  for (const auto& r : routes) {
    out += r.method;
    out.append(mw - r.method.size() + 1, ' ');
    out += r.path;
    out.append(pw - r.path.size() + 1, ' ');
    out += "--> ";
    out += r.handler_name;
    out += " (" + std::to_string(r.handler_count) +
           (r.handler_count == 1 ? " handler)\n" : " handlers)\n");
  }
  return out;
}

namespace detail {

namespace {

std::string quote_route(std::string_view method, std::string_view path) {
  // Appends rather than operator+ chains: g++ 12 -O3 reports a false -Wrestrict on those.
  std::string s;
  s.reserve(method.size() + path.size() + 3);
  s.append(1, '\'').append(method).append(1, ' ').append(path).append(1, '\'');
  return s;
}

// Where a method sorts in trees_ (and so in Allow): standard methods first, in Allow order.
std::size_t method_rank(std::string_view method) noexcept {
  for (std::size_t i = 0; i < std::size(standard_methods); ++i) {
    if (standard_methods[i] == method) return i;
  }
  return std::size(standard_methods);
}

bool is_token_char(char c) noexcept {
  // RFC 9110 tchar.
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

int redirect_status(std::string_view method) noexcept {
  return (method == "GET" || method == "HEAD") ? 301 : 308;
}

void set_redirect(route_match_base& out, std::string_view method, std::string location,
                  std::string_view query) {
  out.kind = route_match_kind::redirect;
  out.status = redirect_status(method);
  out.location = std::move(location);
  if (!query.empty()) {
    out.location += '?';
    out.location += query;
  }
}

}  // namespace

void validate_pattern(std::string_view method, std::string_view path) {
  const std::string route = quote_route(method, path);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    throw std::invalid_argument("route " + route +
                                ": the method must be a non-empty HTTP token (e.g. \"GET\", "
                                "\"PURGE\"); fix the method name");
  }
  if (path.empty() || path[0] != '/') {
    throw std::invalid_argument("route " + route + ": the path must begin with '/'; register '/" +
                                std::string(path) + "' instead");
  }
  std::size_t i = 0;
  while ((i = path.find_first_of(":*", i)) != std::string_view::npos) {
    const char sigil = path[i];
    std::size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view name = path.substr(i + 1, end - i - 1);
    const std::string_view segment = path.substr(i, end - i);
    if (name.empty()) {
      throw std::invalid_argument("route " + route + ": wildcard '" + std::string(1, sigil) +
                                  "' has no name; wildcards must be named, e.g. '" +
                                  std::string(1, sigil) + (sigil == ':' ? "id" : "filepath") + "'");
    }
    if (name.find_first_of(":*") != std::string_view::npos) {
      throw std::invalid_argument("route " + route + ": segment '" + std::string(segment) +
                                  "' has two wildcards; only one wildcard per path segment is "
                                  "allowed: split it into separate segments");
    }
    if (sigil == '*') {
      if (path[i - 1] != '/') {
        throw std::invalid_argument("route " + route + ": catch-all '" + std::string(segment) +
                                    "' must start a segment (follow a '/'); write '" +
                                    std::string(path.substr(0, i)) + "/" + std::string(segment) +
                                    "'");
      }
      if (end != path.size()) {
        throw std::invalid_argument("route " + route + ": catch-all '" + std::string(segment) +
                                    "' must be the last segment of the path; move it to the end, "
                                    "or use ':" + std::string(name) + "' to match one segment");
      }
    }
    i = end;
  }
}

router_core::router_core(router_options options) : options_(options) {}

std::int32_t router_core::add(std::string_view method, std::string_view path, std::string name,
                              std::size_t handler_count) {
  validate_pattern(method, path);
  if (handler_count == 0) {
    throw std::invalid_argument("route " + quote_route(method, path) +
                                " has no handler; pass at least one handler");
  }
  auto it = std::find_if(trees_.begin(), trees_.end(),
                         [&](const route_tree& t) { return t.method() == method; });
  if (it == trees_.end()) {
    const std::size_t rank = method_rank(method);
    auto pos = std::find_if(trees_.begin(), trees_.end(), [&](const route_tree& t) {
      const std::size_t r = method_rank(t.method());
      return r > rank || (r == rank && t.method() > method);
    });
    it = trees_.insert(pos, route_tree(std::string(method)));
  }
  const auto id = static_cast<std::int32_t>(records_.size());
  it->insert(path, id, records_, name);
  records_.push_back({std::string(method), std::string(path), std::move(name), handler_count});
  return id;
}

void router_core::set_name(std::int32_t id, std::string name) {
  records_.at(static_cast<std::size_t>(id)).name = std::move(name);
}

std::vector<route_info> router_core::routes() const {
  std::vector<route_info> out;
  out.reserve(records_.size());
  for (const auto& r : records_) out.push_back({r.method, r.path, r.name, r.handler_count});
  return out;
}

const route_tree* router_core::tree_for(std::string_view method) const noexcept {
  // Byte loop rather than operator==: method tokens are a few bytes, below memcmp's break-even.
  for (const auto& t : trees_) {
    const std::string& m = t.method();
    if (m.size() != method.size()) continue;
    std::size_t i = 0;
    while (i < m.size() && m[i] == method[i]) ++i;
    if (i == m.size()) return &t;
  }
  return nullptr;
}

bool router_core::try_redirect(const route_tree& tree, std::string_view method,
                               std::string_view mpath, bool decoded, std::string_view query,
                               route_match_base& out) const {
  // A location built from a decoded path must be encoded again; one built from the raw path
  // (or its cleaned form) already is.
  auto location_from = [&](std::string_view p) {
    return decoded ? escape_path(p) : std::string(p);
  };
  route_params& scratch = out.params;
  if (options_.redirect_trailing_slash) {
    if (mpath.size() > 1 && mpath.back() == '/') {
      const std::string_view shorter = mpath.substr(0, mpath.size() - 1);
      const bool hit = static_cast<bool>(tree.find(shorter, scratch));
      scratch.truncate(0);
      if (hit) {
        set_redirect(out, method, location_from(shorter), query);
        return true;
      }
    } else {
      // Probe "path/" without allocating for ordinary lengths.
      std::array<char, 512> stack;
      std::string heap;
      char* buf = stack.data();
      if (mpath.size() + 1 > stack.size()) {
        heap.resize(mpath.size() + 1);
        buf = heap.data();
      }
      std::memcpy(buf, mpath.data(), mpath.size());
      buf[mpath.size()] = '/';
      const std::string_view longer(buf, mpath.size() + 1);
      const bool hit = static_cast<bool>(tree.find(longer, scratch));
      scratch.truncate(0);
      if (hit) {
        set_redirect(out, method, location_from(longer), query);
        return true;
      }
    }
  }
  if (options_.redirect_fixed_path) {
    const std::string cleaned = clean_path(mpath);
    std::string fixed;
    if (tree.find_case_insensitive(cleaned, fixed)) {
      set_redirect(out, method, location_from(fixed), query);
      return true;
    }
    if (options_.redirect_trailing_slash && cleaned.size() > 1) {
      std::string toggled = cleaned;
      if (toggled.back() == '/') {
        toggled.pop_back();
      } else {
        toggled.push_back('/');
      }
      if (tree.find_case_insensitive(toggled, fixed)) {
        set_redirect(out, method, location_from(fixed), query);
        return true;
      }
    }
  }
  return false;
}

void router_core::lookup(std::string_view method, std::string_view path, std::string_view query,
                         route_match_base& out) const {
  out.kind = route_match_kind::not_found;
  out.status = 404;
  out.full_path = {};
  out.params.clear();
  out.location.clear();
  out.allow.clear();
  out.route_index = -1;

  // Choose the string to match on: the path as given, or a transformed copy held in params.
  std::string_view mpath = path;
  const bool has_escape = path.find('%') != std::string_view::npos;
  const bool decode_path = has_escape && !options_.use_raw_path;
  const bool clean = options_.remove_extra_slash && !is_clean_path(path);
  const bool decode_values = has_escape && options_.use_raw_path && options_.unescape_path_values;
  char* buf = nullptr;
  std::size_t used = 0;
  if (decode_path || clean || decode_values) {
    // Decoded path <= n, cleaned path <= n + 1, decoded values <= n + 1: 2n + 2 always fits, so
    // the buffer is reserved once and never moves while views point into it.
    buf = out.params.reserve_buffer(2 * path.size() + 2);
    if (decode_path) {
      const std::size_t n = unescape_path_to(mpath, buf + used);
      mpath = std::string_view(buf + used, n);
      used += n;
    }
    if (clean) {
      const std::size_t n = clean_path_to(mpath, buf + used);
      mpath = std::string_view(buf + used, n);
      used += n;
    }
  }

  const route_tree* tree = tree_for(method);
  if (tree != nullptr) {
    if (const route_tree::hit hit = tree->find(mpath, out.params)) {
      out.kind = route_match_kind::found;
      out.status = 200;
      out.route_index = hit.id;
      out.full_path = hit.pattern;
      if (decode_values) {
        for (std::size_t i = 0; i < out.params.size(); ++i) {
          route_param& p = out.params.slot_at(i);
          if (p.value.find('%') == std::string_view::npos) continue;
          const std::size_t n = unescape_path_to(p.value, buf + used);
          p.value = std::string_view(buf + used, n);
          used += n;
        }
      }
      return;
    }
    // Not for CONNECT (authority-form target), "/" (nothing to fix) or a target that is not a
    // path ("*" of OPTIONS *).
    if (method != "CONNECT" && mpath.size() > 1 && mpath[0] == '/' &&
        try_redirect(*tree, method, mpath, decode_path, query, out)) {
      out.params.clear();
      return;
    }
  }

  if (options_.handle_method_not_allowed) {
    for (const auto& t : trees_) {
      if (&t == tree) continue;
      const bool hit = static_cast<bool>(t.find(mpath, out.params));
      out.params.truncate(0);
      if (hit) {
        if (!out.allow.empty()) out.allow += ", ";
        out.allow += t.method();
      }
    }
    if (!out.allow.empty()) {
      out.kind = route_match_kind::method_not_allowed;
      out.status = 405;
    }
  }
  out.params.clear();
}

}  // namespace detail
KHZ_END_NAMESPACE
