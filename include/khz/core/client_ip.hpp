#pragma once
// The client's IP address as a server should believe it: the peer address, unless the
// peer is a trusted proxy, in which case the forwarding headers it set are used.
// Forwarding headers from an untrusted peer are ignored (anyone can send them).

#include <khz/base/config.hpp>
#include <khz/http/detail/chars.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE

// A network in CIDR form ("10.0.0.0/8", "::1/128"; a bare address means one host).
class ip_network {
 public:
  // Throws std::invalid_argument with the offending text when `cidr` does not parse.
  explicit ip_network(std::string_view cidr);
  bool contains(std::string_view ip) const noexcept;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  int prefix_ = 0;
  bool v6_ = false;
};

struct client_ip_options {
  // Proxies whose forwarding headers are believed (CIDR list). Empty: trust nobody.
  std::vector<std::string> trusted_proxies;
  // Headers consulted in order when the peer is trusted. X-Forwarded-For is read right to
  // left, skipping trusted proxies; other headers hold one address.
  std::vector<std::string> headers{"X-Forwarded-For", "X-Real-IP"};
};

// Compiled form of client_ip_options (the networks parsed once at start-up).
class client_ip_resolver {
 public:
  client_ip_resolver() = default;
  explicit client_ip_resolver(const client_ip_options& options);

  bool is_trusted(std::string_view ip) const noexcept;

  // The client IP for a request from `peer_ip`, with `get_header(name)` returning a header
  // value (empty when absent). The view points into `peer_ip` or a header value.
  template <class GetHeader>
  std::string_view resolve(std::string_view peer_ip, GetHeader&& get_header) const;

 private:
  struct forward_header {
    std::string name;
    bool is_list;  // X-Forwarded-For: a comma-separated hop list
  };
  std::vector<ip_network> trusted_;
  std::vector<forward_header> headers_;
};

namespace detail {
bool is_ip_address(std::string_view s) noexcept;
}  // namespace detail

template <class GetHeader>
std::string_view client_ip_resolver::resolve(std::string_view peer_ip, GetHeader&& get_header) const {
  if (trusted_.empty() || !is_trusted(peer_ip)) return peer_ip;
  for (const forward_header& h : headers_) {
    std::string_view value = get_header(std::string_view(h.name));
    if (value.empty()) continue;
    if (!h.is_list) {
      std::string_view ip = detail::http_chars::trim_ows(value);
      if (detail::is_ip_address(ip)) return ip;
      continue;
    }
    // Right to left: the last hop was added by the trusted peer; the first untrusted
    // address is the client. All trusted: the leftmost one.
    std::string_view rest = value;
    std::string_view candidate;
    while (!rest.empty()) {
      std::size_t comma = rest.rfind(',');
      std::string_view item = detail::http_chars::trim_ows(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      if (!detail::is_ip_address(item)) break;  // garbage: stop believing the header
      candidate = item;
      if (!is_trusted(item)) return item;
    }
    if (!candidate.empty()) return candidate;
  }
  return peer_ip;
}

KHZ_END_NAMESPACE
