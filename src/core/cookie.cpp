#include <khz/core/cookie.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <stdexcept>

KHZ_BEGIN_NAMESPACE

namespace {

bool is_token_char(unsigned char c) noexcept {
  if (c <= 32 || c >= 127) return false;
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':': case '\\':
    case '"': case '/': case '[': case ']': case '?': case '=': case '{': case '}':
      return false;
    default:
      return true;
  }
}

// cookie-octet (RFC 6265 §4.1.1): visible ASCII except DQUOTE, comma, semicolon, backslash.
bool is_cookie_octet(unsigned char c) noexcept {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

// Attribute values (path, domain): any CHAR except CTLs and ';'.
bool is_attribute_text(std::string_view s) noexcept {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == ';') return false;
  }
  return true;
}

void check(bool ok, const cookie& c, const char* what) {
  if (!ok) throw std::invalid_argument(fmt::format("khz: cookie '{}': {}", c.name, what));
}

}  // namespace

std::string format_set_cookie(const cookie& c) {
  check(!c.name.empty(), c, "the name is empty");
  for (unsigned char ch : c.name) check(is_token_char(ch), c, "the name must be an RFC 9110 token");
  std::string_view value = c.value;
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  for (unsigned char ch : value) {
    check(is_cookie_octet(ch), c,
          "the value has a byte RFC 6265 forbids (space, quote, comma, semicolon, backslash, control): "
          "encode it first, e.g. percent-encode or base64");
  }
  check(is_attribute_text(c.path), c, "the path has a control byte or ';'");
  check(is_attribute_text(c.domain), c, "the domain has a control byte or ';'");

  std::string out;
  out.reserve(c.name.size() + c.value.size() + 64);
  out.append(c.name).append("=").append(c.value);
  if (!c.path.empty()) out.append("; Path=").append(c.path);
  if (!c.domain.empty()) out.append("; Domain=").append(c.domain);
  if (c.expires) {
    std::time_t t = std::chrono::system_clock::to_time_t(*c.expires);
    std::tm tm{};
    gmtime_r(&t, &tm);
    out.append(fmt::format("; Expires={:%a, %d %b %Y %H:%M:%S} GMT", tm));
  }
  if (c.max_age) out.append(fmt::format("; Max-Age={}", c.max_age->count() > 0 ? c.max_age->count() : 0));
  if (c.secure) out.append("; Secure");
  if (c.http_only) out.append("; HttpOnly");
  switch (c.same_site) {
    case same_site::lax: out.append("; SameSite=Lax"); break;
    case same_site::strict: out.append("; SameSite=Strict"); break;
    case same_site::none: out.append("; SameSite=None"); break;
    case same_site::unset: break;
  }
  return out;
}

std::optional<std::string_view> find_cookie(std::string_view field, std::string_view name) noexcept {
  while (!field.empty()) {
    std::size_t semi = field.find(';');
    std::string_view pair = field.substr(0, semi);
    field = semi == std::string_view::npos ? std::string_view() : field.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

KHZ_END_NAMESPACE
