#include <khz/client/url.hpp>

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

KHZ_BEGIN_NAMESPACE

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

result<url> fail(std::string* why, std::string msg) {
  if (why != nullptr) *why = std::move(msg);
  return errc::invalid_argument;
}

bool valid_target_char(char c) {
  // Visible ASCII only: spaces and control bytes would break the request line.
  return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
}

bool valid_reg_name(std::string_view h) {
  if (h.empty()) return false;
  for (char c : h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string url::host_header() const {
  std::string h = ipv6_literal ? "[" + host + "]" : host;
  if (!default_port()) h += ":" + std::to_string(port);
  return h;
}

std::string url::origin() const {
  return scheme + "://" + (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string url::to_string() const {
  return scheme + "://" + host_header() + target;
}

result<url> parse_url(std::string_view text, std::string* why) {
  url u;
  std::size_t colon = text.find("://");
  if (colon == std::string_view::npos) {
    return fail(why, "URL '" + std::string(text) + "' has no scheme: write http://host/path");
  }
  u.scheme = lower(text.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https") {
    return fail(why, "URL scheme '" + u.scheme + "' is not supported: use http (or https once TLS lands)");
  }
  std::string_view rest = text.substr(colon + 3);
  std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);  // fragments are never sent
  std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return fail(why, "URL '" + std::string(text) +
                         "' holds user information (user:password@): it is refused because it leaks into "
                         "logs; send an Authorization header instead");
  }
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(why, "URL host has an unbalanced '[': write [v6-address]");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(why, "URL has bytes after ']' that are not ':port'");
      port = after.substr(1);
    }
    in6_addr a6{};
    std::string h(host);
    if (::inet_pton(AF_INET6, h.c_str(), &a6) != 1) {
      return fail(why, "URL host [" + h + "] is not an IPv6 address");
    }
    u.ipv6_literal = true;
  } else {
    std::size_t c = authority.rfind(':');
    host = authority.substr(0, c);
    if (c != std::string_view::npos) port = authority.substr(c + 1);
    if (!valid_reg_name(host)) {
      return fail(why, "URL host '" + std::string(host) + "' is empty or holds characters a host name cannot");
    }
  }
  u.host = lower(host);
  u.port = u.is_https() ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535) {
      return fail(why, "URL port '" + std::string(port) + "' is not a number in 1..65535");
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  for (char c : tail) {
    if (!valid_target_char(c)) return fail(why, "URL path or query holds a space or a control byte: percent-encode it");
  }
  if (tail.empty() || tail.front() == '?') {
    u.target = "/";
    u.target += tail;
  } else {
    u.target = std::string(tail);
  }
  return u;
}

namespace {

// Removes "." and ".." segments (RFC 3986 §5.2.4).
std::string remove_dot_segments(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    if (path.starts_with("../")) {
      path.remove_prefix(3);
    } else if (path.starts_with("./")) {
      path.remove_prefix(2);
    } else if (path.starts_with("/./")) {
      path.remove_prefix(2);
    } else if (path == "/.") {
      path = "/";
    } else if (path.starts_with("/../") || path == "/..") {
      path = path.size() == 3 ? std::string_view("/") : path.substr(3);
      std::size_t slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (path == "." || path == "..") {
      path = {};
    } else {
      std::size_t next = path.find('/', 1);
      out += path.substr(0, next);
      path = next == std::string_view::npos ? std::string_view{} : path.substr(next);
    }
  }
  return out.empty() ? "/" : out;
}

}  // namespace

result<url> resolve_url(const url& base, std::string_view location, std::string* why) {
  if (location.empty()) return fail(why, "redirect has an empty Location");
  std::size_t scheme_end = location.find(':');
  std::size_t first_delim = location.find_first_of("/?#");
  if (scheme_end != std::string_view::npos && (first_delim == std::string_view::npos || scheme_end < first_delim)) {
    return parse_url(location, why);
  }
  if (location.starts_with("//")) return parse_url(base.scheme + ":" + std::string(location), why);
  std::size_t hash = location.find('#');
  if (hash != std::string_view::npos) location = location.substr(0, hash);
  for (char c : location) {
    if (!valid_target_char(c)) return fail(why, "redirect Location holds a space or a control byte");
  }
  url u = base;
  if (location.front() == '/') {
    std::size_t q = location.find('?');
    u.target = remove_dot_segments(location.substr(0, q));
    if (q != std::string_view::npos) u.target += location.substr(q);
  } else if (location.front() == '?') {
    u.target = std::string(base.path()) + std::string(location);
  } else {
    std::string_view bp = base.path();
    std::string merged(bp.substr(0, bp.rfind('/') + 1));
    std::size_t q = location.find('?');
    merged += location.substr(0, q);
    u.target = remove_dot_segments(merged);
    if (q != std::string_view::npos) u.target += location.substr(q);
  }
  return u;
}

KHZ_END_NAMESPACE
