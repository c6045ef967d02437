#include <khz/core/client_ip.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>
#include <string>

KHZ_BEGIN_NAMESPACE

namespace detail {

namespace {
// Parses an IPv4 or IPv6 literal (no brackets, no port) into 16 bytes (IPv4 in the first 4).
bool parse_ip(std::string_view s, std::array<std::uint8_t, 16>& out, bool& v6) noexcept {
  char text[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof(text)) return false;
  s.copy(text, s.size());
  text[s.size()] = '\0';
  out.fill(0);
  if (inet_pton(AF_INET, text, out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, text, out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

}  // namespace

bool is_ip_address(std::string_view s) noexcept {
  std::array<std::uint8_t, 16> bytes;
  bool v6 = false;
  return parse_ip(s, bytes, v6);
}

}  // namespace detail

ip_network::ip_network(std::string_view cidr) {
  std::string_view addr = cidr;
  std::size_t slash = cidr.find('/');
  if (slash != std::string_view::npos) addr = cidr.substr(0, slash);
  if (!detail::parse_ip(addr, bytes_, v6_)) {
    throw std::invalid_argument("khz: trusted proxy '" + std::string(cidr) +
                                "' is not an IP address or CIDR network (e.g. 10.0.0.0/8, ::1/128)");
  }
  int max = v6_ ? 128 : 32;
  prefix_ = max;
  if (slash != std::string_view::npos) {
    std::string_view bits = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix_);
    if (ec != std::errc() || end != bits.data() + bits.size() || prefix_ < 0 || prefix_ > max) {
      throw std::invalid_argument("khz: trusted proxy '" + std::string(cidr) + "' has a bad prefix length (0.." +
                                  std::to_string(max) + ")");
    }
  }
}

bool ip_network::contains(std::string_view ip) const noexcept {
  std::array<std::uint8_t, 16> bytes;
  bool v6 = false;
  if (!detail::parse_ip(ip, bytes, v6) || v6 != v6_) return false;
  int full = prefix_ / 8;
  for (int i = 0; i < full; ++i) {
    if (bytes[static_cast<std::size_t>(i)] != bytes_[static_cast<std::size_t>(i)]) return false;
  }
  int rest = prefix_ % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[static_cast<std::size_t>(full)] & mask) == (bytes_[static_cast<std::size_t>(full)] & mask);
}

client_ip_resolver::client_ip_resolver(const client_ip_options& options) {
  for (const auto& cidr : options.trusted_proxies) trusted_.emplace_back(cidr);
  for (const auto& name : options.headers) headers_.push_back({name, detail::http_chars::iequals(name, "X-Forwarded-For")});
}

bool client_ip_resolver::is_trusted(std::string_view ip) const noexcept {
  for (const auto& net : trusted_) {
    if (net.contains(ip)) return true;
  }
  return false;
}

KHZ_END_NAMESPACE
