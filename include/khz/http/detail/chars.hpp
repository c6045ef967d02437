#pragma once
// Character classes of RFC 9110 / RFC 9112, as constexpr lookup tables shared by the
// parser, the validators and the serializer. Internal: not part of the public API.

#include <khz/base/config.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

KHZ_BEGIN_NAMESPACE
namespace detail::http_chars {

enum char_class : std::uint8_t {
  cc_tchar = 1,         // token: ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
  cc_field_vchar = 2,   // field-value: VCHAR / obs-text / SP / HTAB
  cc_target = 4,        // request-target: VCHAR except '#' (no fragment on the wire)
  cc_hex = 8,           // HEXDIG
  cc_reason = 16,       // reason-phrase: HTAB / SP / VCHAR / obs-text
  cc_reg_name = 32,     // uri-host reg-name / IPv4: unreserved / pct-encoded / sub-delims
};

constexpr std::array<std::uint8_t, 256> make_char_table() noexcept {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    const bool obs_text = c >= 0x80;
    if (alpha || digit) v |= cc_tchar;
    switch (c) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
      case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        v |= cc_tchar;
        break;
      default:
        break;
    }
    if (vchar || obs_text || c == ' ' || c == '\t') v |= cc_field_vchar | cc_reason;
    if (vchar && c != '#') v |= cc_target;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= cc_hex;
    switch (c) {  // RFC 3986: unreserved "-._~", '%' of pct-encoded, sub-delims
      case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&': case '\'':
      case '(': case ')': case '*': case '+': case ',': case ';': case '=':
        v |= cc_reg_name;
        break;
      default:
        if (alpha || digit) v |= cc_reg_name;
        break;
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> char_table = make_char_table();

constexpr bool is_class(char c, char_class k) noexcept {
  return (char_table[static_cast<unsigned char>(c)] & k) != 0;
}
constexpr bool is_tchar(char c) noexcept { return is_class(c, cc_tchar); }

// True when every byte of s belongs to class k (an empty s is all of them).
constexpr bool all_of_class(std::string_view s, char_class k) noexcept {
  for (char c : s)
    if (!is_class(c, k)) return false;
  return true;
}

constexpr bool is_token(std::string_view s) noexcept { return !s.empty() && all_of_class(s, cc_tchar); }

// Word-at-a-time scans (8 bytes per step) for the checks on the parse path, where a
// byte loop over every header would cost as much as the parsing itself.
namespace swar {
inline constexpr std::uint64_t ones = 0x0101010101010101ull;
inline constexpr std::uint64_t highs = 0x8080808080808080ull;
inline std::uint64_t load(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Some byte of x is zero.
constexpr bool any_zero(std::uint64_t x) noexcept { return ((x - ones) & ~x & highs) != 0; }
// Some byte of x is below n (exact for n <= 128).
constexpr bool any_below(std::uint64_t x, unsigned n) noexcept { return ((x - ones * n) & ~x & highs) != 0; }
// Some byte of x is above n (exact for n <= 127).
constexpr bool any_above(std::uint64_t x, unsigned n) noexcept { return (((x + ones * (127 - n)) | x) & highs) != 0; }
}  // namespace swar

// True when s contains byte c.
inline bool contains_byte(std::string_view s, char c) noexcept {
  const std::uint64_t pattern = swar::ones * static_cast<unsigned char>(c);
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8)
    if (swar::any_zero(swar::load(s.data() + i) ^ pattern)) return true;
  for (; i < s.size(); ++i)
    if (s[i] == c) return true;
  return false;
}

// True when every byte of s is VCHAR (0x21..0x7e) other than '#': the bytes of a
// request-target on the wire.
inline bool target_bytes_valid(std::string_view s) noexcept {
  const std::uint64_t hash = swar::ones * static_cast<unsigned char>('#');
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x = swar::load(s.data() + i);
    if (swar::any_below(x, 0x21) || swar::any_above(x, 0x7e) || swar::any_zero(x ^ hash)) return false;
  }
  for (; i < s.size(); ++i)
    if (!is_class(s[i], cc_target)) return false;
  return true;
}

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty element of a comma-separated list (RFC 9110
// §5.6.1: empty elements are ignored), each trimmed of OWS. f may return false to stop.
template <class F>
constexpr void for_each_list_element(std::string_view list, F&& f) {
  // A byte loop rather than find(): lists are short, a libc call per element costs more.
  while (!list.empty()) {
    std::size_t comma = 0;
    while (comma < list.size() && list[comma] != ',') ++comma;
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) {
      if (!f(element)) return;
    }
    if (comma == list.size()) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace detail::http_chars
KHZ_END_NAMESPACE
