#include <khz/route/path.hpp>

#include <cstring>

KHZ_BEGIN_NAMESPACE

std::size_t clean_path_to(std::string_view p, char* out) noexcept {
  // out holds "/" followed by the kept elements joined by '/', without a trailing slash until
  // the end; w is its length.
  std::size_t w = 0;
  out[w++] = '/';
  const std::size_t n = p.size();
  bool trailing = n > 0 && p[n - 1] == '/';
  std::size_t r = 0;
  while (r < n) {
    if (p[r] == '/') {
      ++r;
      continue;
    }
    std::size_t e = r;
    while (e < n && p[e] != '/') ++e;
    const std::string_view elem = p.substr(r, e - r);
    if (elem == ".") {
      if (e == n) trailing = true;
    } else if (elem == "..") {
      if (e == n) trailing = false;
      if (w > 1) {
        // Drop the last kept element and the '/' before it.
        while (w > 1 && out[w - 1] != '/') --w;
        if (w > 1) --w;
      }
    } else {
      if (w > 1) out[w++] = '/';
      std::memcpy(out + w, elem.data(), elem.size());
      w += elem.size();
    }
    r = e;
  }
  if (trailing && w > 1) out[w++] = '/';
  return w;
}

std::string clean_path(std::string_view path) {
  std::string out(path.size() + 1, '\0');
  out.resize(clean_path_to(path, out.data()));
  return out;
}

bool is_clean_path(std::string_view p) noexcept {
  if (p.empty() || p[0] != '/') return false;
  const std::size_t n = p.size();
  std::size_t r = 1;
  while (r <= n) {
    std::size_t e = r;
    while (e < n && p[e] != '/') ++e;
    const std::string_view elem = p.substr(r, e - r);
    if (elem.empty()) {
      if (e < n) return false;  // "//"
    } else if (elem == "." || elem == "..") {
      return false;
    }
    r = e + 1;
  }
  return true;
}

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::size_t unescape_path_to(std::string_view in, char* out) noexcept {
  std::size_t w = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[w++] = static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out[w++] = in[i];
  }
  return w;
}

std::string unescape_path(std::string_view in) {
  std::string out(in.size(), '\0');
  out.resize(unescape_path_to(in, out.data()));
  return out;
}

std::string escape_path(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::strchr("-._~!$&'()*+,;=:@/", c) != nullptr;
    if (keep && c != 0) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

KHZ_END_NAMESPACE
