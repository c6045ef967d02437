#include <khz/net/address.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <stdexcept>

KHZ_BEGIN_NAMESPACE

namespace {

constexpr std::size_t unix_path_max = sizeof(sockaddr_un::sun_path) - 1;  // room for the NUL

result<address> fail(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return errc::invalid_argument;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

address::address() noexcept : storage_{} {}

address address::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  address a;
  if (sa == nullptr || len <= 0 || static_cast<std::size_t>(len) > sizeof a.storage_) return a;
  switch (sa->sa_family) {
    case AF_INET: a.kind_ = kind::ipv4; break;
    case AF_INET6: a.kind_ = kind::ipv6; break;
    case AF_UNIX: a.kind_ = kind::unix_socket; break;
    default: return a;
  }
  std::memcpy(&a.storage_, sa, static_cast<std::size_t>(len));
  a.size_ = len;
  return a;
}

address address::loopback_v4(std::uint16_t port) noexcept {
  address a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage_);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.size_ = sizeof(sockaddr_in);
  a.kind_ = kind::ipv4;
  return a;
}

address address::loopback_v6(std::uint16_t port) noexcept {
  address a;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  in6->sin6_addr = in6addr_loopback;
  a.size_ = sizeof(sockaddr_in6);
  a.kind_ = kind::ipv6;
  return a;
}

address address::unix_path(std::string_view path) {
  std::string why;
  // Built with append: g++ 12 reports a false -Wrestrict for "literal" + std::string at -O2.
  std::string text;
  text.append("unix:").append(path);
  auto parsed = parse(text, &why);
  if (!parsed) throw std::invalid_argument(why);
  return *parsed;
}

result<address> address::parse(std::string_view text, std::string* why) {
  std::string quoted;  // append, not operator+: see unix_path()
  quoted.append(1, '"').append(text).append(1, '"');
  if (text.empty()) return fail(why, "empty address: expected host:port, [ipv6]:port or unix:/path");

  if (text.substr(0, 5) == "unix:") {
    std::string_view path = text.substr(5);
    if (path.empty()) return fail(why, "address " + quoted + ": empty Unix socket path after \"unix:\"");
    if (path.size() > unix_path_max) {
      return fail(why, "address " + quoted + ": Unix socket path is " + std::to_string(path.size()) +
                           " bytes, the limit is " + std::to_string(unix_path_max));
    }
    if (path.find('\0') != std::string_view::npos) {
      return fail(why, "address " + quoted + ": Unix socket path contains a NUL byte");
    }
    address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    std::size_t used = path.size();
    if (path[0] == '@') {
      un->sun_path[0] = '\0';  // abstract namespace: no file, name is the rest
      a.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + used);
    } else {
      un->sun_path[used] = '\0';
      a.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + used + 1);
    }
    a.kind_ = kind::unix_socket;
    return a;
  }

  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail(why, "address " + quoted + ": missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return fail(why, "address " + quoted + ": expected \":port\" after \"[" + std::string(host) + "]\"");
    }
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(why, "address " + quoted + ": missing \":port\" (expected host:port, [ipv6]:port or unix:/path)");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(why, "address " + quoted + ": an IPv6 address needs brackets, as in \"[::1]:8080\"");
    }
  }
  std::uint16_t port = 0;
  if (!parse_port(port_text, port)) {
    return fail(why, "address " + quoted + ": port \"" + std::string(port_text) +
                         "\" is not a number from 0 to 65535");
  }
  if (host.empty()) return fail(why, "address " + quoted + ": missing host before the port (use \"*\" for any)");

  address a;
  const std::string host_str(host);
  if (bracketed) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (::inet_pton(AF_INET6, host_str.c_str(), &in6->sin6_addr) != 1) {
      return fail(why, "address " + quoted + ": \"" + host_str + "\" is not an IPv6 address");
    }
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    a.size_ = sizeof(sockaddr_in6);
    a.kind_ = kind::ipv6;
    return a;
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (host == "*") {
    in->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (::inet_pton(AF_INET, host_str.c_str(), &in->sin_addr) != 1) {
    return fail(why, "address " + quoted + ": \"" + host_str +
                         "\" is not an IPv4 address (host names are not resolved here)");
  }
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  a.size_ = sizeof(sockaddr_in);
  a.kind_ = kind::ipv4;
  return a;
}

int address::family() const noexcept {
  switch (kind_) {
    case kind::ipv4: return AF_INET;
    case kind::ipv6: return AF_INET6;
    case kind::unix_socket: return AF_UNIX;
    case kind::none: break;
  }
  return AF_UNSPEC;
}

std::uint16_t address::port() const noexcept {
  if (kind_ == kind::ipv4) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (kind_ == kind::ipv6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

address address::with_port(std::uint16_t port) const noexcept {
  address a = *this;
  if (kind_ == kind::ipv4) reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
  if (kind_ == kind::ipv6) reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
  return a;
}

std::string address::path() const {
  if (kind_ != kind::unix_socket) return {};
  const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
  std::size_t len = static_cast<std::size_t>(size_) - offsetof(sockaddr_un, sun_path);
  if (len == 0) return {};  // unnamed
  if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, len - 1);
  return std::string(un->sun_path, strnlen(un->sun_path, len));
}

std::string address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (kind_) {
    case kind::ipv4:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(port());
    case kind::ipv6:
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(port());
    case kind::unix_socket: return "unix:" + path();
    case kind::none: break;
  }
  return {};
}

bool operator==(const address& a, const address& b) noexcept {
  return a.kind_ == b.kind_ && a.size_ == b.size_ &&
         std::memcmp(&a.storage_, &b.storage_, static_cast<std::size_t>(a.size_)) == 0;
}

KHZ_END_NAMESPACE
