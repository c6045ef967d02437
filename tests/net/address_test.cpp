#include <khz/net/address.hpp>
#include <khz/net/transport.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace {

using khz::address;

TEST(address, parses_ipv4) {
  auto a = address::parse("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(*a, address::loopback_v4(8080));
}

TEST(address, parses_ipv6_in_brackets) {
  auto a = address::parse("[::1]:443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AF_INET6);
  EXPECT_EQ(a->port(), 443);
  EXPECT_EQ(a->to_string(), "[::1]:443");
  EXPECT_EQ(*a, address::loopback_v6(443));
}

TEST(address, parses_any_and_port_zero) {
  auto a = address::parse("*:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "0.0.0.0:0");
  EXPECT_EQ(a->with_port(9).port(), 9);
}

TEST(address, parses_unix_paths) {
  auto a = address::parse("unix:/tmp/khz.sock");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_unix());
  EXPECT_EQ(a->family(), AF_UNIX);
  EXPECT_EQ(a->path(), "/tmp/khz.sock");
  EXPECT_EQ(a->to_string(), "unix:/tmp/khz.sock");
  auto abstract = address::parse("unix:@khz-test");
  ASSERT_TRUE(abstract);
  EXPECT_EQ(abstract->path(), "@khz-test");
  EXPECT_EQ(address::unix_path("/x"), *address::parse("unix:/x"));
}

TEST(address, round_trips_through_text) {
  for (const char* text : {"10.1.2.3:1", "[fe80::1:2]:65535", "unix:/a/b", "unix:@n"}) {
    auto a = address::parse(text);
    ASSERT_TRUE(a) << text;
    auto b = address::parse(a->to_string());
    ASSERT_TRUE(b) << a->to_string();
    EXPECT_EQ(*a, *b) << text;
  }
}

TEST(address, rejects_bad_input_with_a_reason) {
  struct bad {
    std::string text;
    const char* says;
  };
  const bad cases[] = {
      {"", "empty"},
      {"127.0.0.1", "missing \":port\""},
      {"127.0.0.1:", "not a number"},
      {"127.0.0.1:65536", "0 to 65535"},
      {"127.0.0.1:80x", "not a number"},
      {"127.0.0.1:-1", "not a number"},
      {":80", "missing host"},
      {"localhost:80", "not resolved"},
      {"256.1.1.1:80", "not an IPv4"},
      {"::1:80", "needs brackets"},
      {"[::1:80", "missing ']'"},
      {"[::1]80", "expected \":port\""},
      {"[nope]:80", "not an IPv6"},
      {"unix:", "empty Unix socket path"},
      {"unix:/" + std::string(120, 'x'), "the limit is 107"},
  };
  for (const bad& b : cases) {
    std::string why;
    auto a = address::parse(b.text, &why);
    ASSERT_FALSE(a) << b.text;
    EXPECT_EQ(a.error(), khz::errc::invalid_argument) << b.text;
    EXPECT_NE(why.find(b.says), std::string::npos) << b.text << " -> " << why;
  }
  EXPECT_THROW(address::unix_path(std::string(300, 'y')), std::invalid_argument);
}

TEST(address, from_sockaddr_of_unknown_family_is_empty) {
  sockaddr sa{};
  sa.sa_family = AF_PACKET;
  EXPECT_TRUE(address::from_sockaddr(&sa, sizeof sa).empty());
}

TEST(transport, parses_names) {
  EXPECT_EQ(*khz::parse_transport("epoll"), khz::transport::epoll);
  EXPECT_EQ(*khz::parse_transport("io_uring"), khz::transport::io_uring);
  EXPECT_EQ(*khz::parse_transport("auto"), khz::transport::auto_select);
  EXPECT_FALSE(khz::parse_transport("kqueue"));
  EXPECT_STREQ(khz::to_string(khz::transport::io_uring), "io_uring");
}

}  // namespace
