#pragma once
// Request-target splitting (RFC 9112 §3.2), percent-decoding (RFC 3986 §2.1) and
// query-string parsing.
//
// Everything here works on views and returns views into the caller's string (no copy,
// no allocation) except the decoders, which write into a caller-provided std::string.

#include <khz/base/config.hpp>
#include <khz/http/method.hpp>

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

enum class target_form : std::uint8_t {
  origin,     // "/path?query"                     (every method but CONNECT, OPTIONS *)
  absolute,   // "http://host:port/path?query"     (proxies; servers must accept it)
  authority,  // "host:port"                       (CONNECT only)
  asterisk,   // "*"                               (OPTIONS only)
  invalid,
};

// The parts of a request-target, as views into it. Absent parts are empty.
struct request_target {
  target_form form = target_form::invalid;
  std::string_view scheme;     // absolute-form: "http"
  std::string_view authority;  // absolute- and authority-form: "host:port" (userinfo kept)
  std::string_view host;       // authority without userinfo and port ("[::1]" keeps brackets)
  std::string_view port;       // digits after ':' (may be empty)
  std::string_view path;       // origin/absolute: path ("/" when an absolute-form has none: see below)
  std::string_view query;      // after '?', without it
};

// Splits a request-target according to the method (CONNECT takes authority-form only;
// "*" is valid only for OPTIONS). For an absolute-form target without a path, path is
// empty and the request means "/" (RFC 9112 §3.2.2). Returns form == invalid when the
// target does not match the forms allowed for the method.
request_target split_target(std::string_view target, method m = method::get) noexcept;

// Splits "host[:port]" / "[v6]:port" / "user@host:port" (the userinfo is dropped).
// Returns false when the port holds non-digits or a bracket is unbalanced.
bool split_authority(std::string_view authority, std::string_view& host, std::string_view& port) noexcept;

// Appends the percent-decoding of `in` to `out`. With plus_as_space, '+' becomes ' '
// (application/x-www-form-urlencoded). Returns false on a malformed escape ('%' not
// followed by two hex digits); `out` then holds the bytes decoded so far.
bool percent_decode(std::string_view in, std::string& out, bool plus_as_space = false);

// True when `in` contains nothing to decode (fast path: the raw view is the value).
constexpr bool needs_decoding(std::string_view in, bool plus_as_space = false) noexcept {
  for (char c : in)
    if (c == '%' || (plus_as_space && c == '+')) return true;
  return false;
}

// One "key=value" pair of a query string, raw (not decoded). "a=1&b=&c" yields
// {a,1,true}, {b,"",true}, {c,"",false}.
struct query_param {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
};

// A forward range over the pairs of a query string (the part after '?'), in order,
// repeated keys included; empty elements ("a=1&&b") are skipped. Views into the string
// given at construction.
class query_params {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = query_param;
    using difference_type = std::ptrdiff_t;
    using pointer = const query_param*;
    using reference = const query_param&;

    iterator() noexcept = default;
    reference operator*() const noexcept { return current_; }
    pointer operator->() const noexcept { return &current_; }
    iterator& operator++() noexcept {
      advance();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      advance();
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.done_ == b.done_ && (a.done_ || a.rest_.data() == b.rest_.data());
    }

   private:
    friend class query_params;
    explicit iterator(std::string_view rest) noexcept : rest_(rest), done_(false) { advance(); }
    void advance() noexcept {
      while (!rest_.empty()) {
        std::size_t amp = rest_.find('&');
        std::string_view item = rest_.substr(0, amp);
        rest_ = amp == std::string_view::npos ? std::string_view(rest_.data() + rest_.size(), 0)
                                              : rest_.substr(amp + 1);
        if (item.empty()) continue;
        std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
          current_ = {item, {}, false};
        } else {
          current_ = {item.substr(0, eq), item.substr(eq + 1), true};
        }
        return;
      }
      done_ = true;
    }
    std::string_view rest_;
    query_param current_{};
    bool done_ = true;
  };

  query_params() noexcept = default;
  explicit query_params(std::string_view query) noexcept : query_(query) {}

  iterator begin() const noexcept { return query_.empty() ? iterator() : iterator(query_); }
  iterator end() const noexcept { return iterator(); }

  // Raw value of the first pair with this raw key (a key without '=' gives ""); nullopt
  // when absent.
  std::optional<std::string_view> get(std::string_view key) const noexcept {
    for (const query_param& p : *this)
      if (p.key == key) return p.value;
    return std::nullopt;
  }
  std::size_t count(std::string_view key) const noexcept {
    std::size_t n = 0;
    for (const query_param& p : *this)
      if (p.key == key) ++n;
    return n;
  }
  std::string_view raw() const noexcept { return query_; }

 private:
  std::string_view query_;
};

KHZ_END_NAMESPACE
