#pragma once
// Character classes of RFC 9110 / RFC 9112, as constexpr lookup tables shared by the
// parser, the validators and the serializer. Internal: not part of the public API.

#include <khz/base/config.hpp>

#include <array>
#include <cstdint>
#include <string_view>

KHZ_BEGIN_NAMESPACE
namespace detail {

enum char_class : std::uint8_t {
  cc_tchar = 1,         // token: ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
  cc_field_vchar = 2,   // field-value: VCHAR / obs-text / SP / HTAB
  cc_target = 4,        // request-target: VCHAR except '#' (no fragment on the wire)
  cc_hex = 8,           // HEXDIG
  cc_reason = 16,       // reason-phrase: HTAB / SP / VCHAR / obs-text
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
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) {
      if (!f(element)) return;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace detail
KHZ_END_NAMESPACE
