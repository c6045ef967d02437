#include <khz/http/uri.hpp>

KHZ_BEGIN_NAMESPACE

namespace {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void split_path_query(std::string_view s, request_target& t) noexcept {
  std::size_t q = s.find('?');
  if (q == std::string_view::npos) {
    t.path = s;
  } else {
    t.path = s.substr(0, q);
    t.query = s.substr(q + 1);
  }
}

}  // namespace

bool split_authority(std::string_view authority, std::string_view& host, std::string_view& port) noexcept {
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  host = authority;
  port = {};
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
  } else {
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.find_first_of("[]") != std::string_view::npos) return false;
  }
  for (char c : port)
    if (!is_digit(c)) return false;
  return true;
}

request_target split_target(std::string_view target, method m) noexcept {
  request_target t;
  if (target.empty()) return t;
  if (m == method::connect) {
    // authority-form: host ":" port, both required (RFC 9112 §3.2.3).
    if (target.find('/') != std::string_view::npos || target.find('@') != std::string_view::npos) return t;
    if (!split_authority(target, t.host, t.port) || t.host.empty() || t.port.empty()) return t;
    t.authority = target;
    t.form = target_form::authority;
    return t;
  }
  if (target == "*") {
    if (m == method::options) t.form = target_form::asterisk;
    return t;
  }
  if (target.front() == '/') {
    split_path_query(target, t);
    t.form = target_form::origin;
    return t;
  }
  // absolute-form: scheme "://" authority path-abempty [ "?" query ]
  std::size_t colon = target.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(target.front())) return t;
  std::string_view scheme = target.substr(0, colon);
  for (char c : scheme)
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return t;
  std::string_view rest = target.substr(colon + 1);
  if (rest.substr(0, 2) != "//") return t;
  rest.remove_prefix(2);
  std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (authority.empty() || !split_authority(authority, t.host, t.port) || t.host.empty()) return t;
  t.scheme = scheme;
  t.authority = authority;
  if (end != std::string_view::npos) split_path_query(rest.substr(end), t);
  t.form = target_form::absolute;
  return t;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_as_space) {
  out.reserve(out.size() + in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_as_space && c == '+') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

KHZ_END_NAMESPACE
