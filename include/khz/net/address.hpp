#pragma once
// address: an IPv4, IPv6 or Unix domain socket address, parsed from text.
//
//   "127.0.0.1:8080"    IPv4 literal and port
//   "[::1]:8080"        IPv6 literal in brackets and port
//   "*:8080"            every IPv4 interface (0.0.0.0)
//   "unix:/run/a.sock"  Unix domain socket path (at most 107 bytes)
//   "unix:@name"        Linux abstract Unix socket
//
// Host names are not resolved here (that needs DNS, which belongs to the client): parse()
// refuses them with errc::invalid_argument and, when asked, a message saying what is wrong.
// Port 0 means "any free port" when listening.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

class address {
 public:
  enum class kind : std::uint8_t { none, ipv4, ipv6, unix_socket };

  address() noexcept;

  // Parses `text` (formats above). On failure returns errc::invalid_argument and, if
  // `why` is not null, stores a sentence that names the problem.
  static result<address> parse(std::string_view text, std::string* why = nullptr);

  // From a kernel socket address (accept, getsockname...). An unknown family gives none.
  static address from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

  static address loopback_v4(std::uint16_t port) noexcept;
  static address loopback_v6(std::uint16_t port) noexcept;
  static address unix_path(std::string_view path);  // throws std::invalid_argument if too long

  kind family_kind() const noexcept { return kind_; }
  bool is_ip() const noexcept { return kind_ == kind::ipv4 || kind_ == kind::ipv6; }
  bool is_unix() const noexcept { return kind_ == kind::unix_socket; }
  bool empty() const noexcept { return kind_ == kind::none; }

  // The socket family to pass to socket(2): AF_INET, AF_INET6, AF_UNIX (AF_UNSPEC if empty).
  int family() const noexcept;

  // Port of an IP address (0 for Unix sockets).
  std::uint16_t port() const noexcept;
  address with_port(std::uint16_t port) const noexcept;

  // Path of a Unix socket ("@name" for an abstract one); empty for IP addresses.
  std::string path() const;

  // The text form, which parse() reads back: "127.0.0.1:80", "[::1]:80", "unix:/p".
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t size_ = 0;
  kind kind_ = kind::none;
};

KHZ_END_NAMESPACE
