// khz-fetch's command line (examples/fetch/fetch_cli.hpp, the code its main() runs)
// against the scripted misbehaving server: output, -i/-I, redirects, errors and exit codes,
// several URLs over one pooled connection, streaming to a file.
#include <gtest/gtest.h>

#include "../../examples/fetch/fetch_cli.hpp"
#include "client/script_server.hpp"
#include "support/test_support.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using khz::test::ok_response;
using khz::test::peer;
using khz::test::script_server;

struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(std::FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

run_result fetch(std::vector<std::string> args) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  run_result r;
  r.code = khz::fetch_cli::run(args, out, err);
  r.out = slurp(out);
  r.err = slurp(err);
  std::fclose(out);
  std::fclose(err);
  return r;
}

// Answers by path: /ok, /moved (302 -> /ok), /loop (302 -> /loop), /echo (request back),
// /cut (closes mid-body), /bad (malformed status line), /big (1 MiB chunked).
void routes(peer& p, int) {
  for (;;) {
    std::string req = p.read_request(3s);
    if (req.empty()) return;
    std::string target = req.substr(req.find(' ') + 1);
    target = target.substr(0, target.find(' '));
    if (target == "/ok") {
      p.send(ok_response("fine\n", "X-Kind: ok\r\n"));
    } else if (target == "/moved") {
      p.send("HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n");
    } else if (target == "/loop") {
      p.send("HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
    } else if (target == "/echo") {
      p.send(ok_response(req));
    } else if (target == "/cut") {
      p.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
      return;
    } else if (target == "/bad") {
      p.send("HTTP/1.1 OK\r\n\r\n");
      return;
    } else if (target == "/big") {
      std::string chunk(64 * 1024, 'z');
      p.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 16; ++i) p.send("10000\r\n" + chunk + "\r\n");
      p.send("0\r\n\r\n");
    } else if (target == "/slow") {
      p.hold(3s);
      return;
    } else {
      p.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
  }
}

TEST(fetch_cli, prints_the_body_and_with_i_the_head) {
  khz::test::fd_leak_guard leaks;
  script_server srv(routes);
  auto r = fetch({srv.url("/ok")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "fine\n");
  auto i = fetch({"-i", srv.url("/ok")});
  EXPECT_EQ(i.code, 0);
  EXPECT_EQ(i.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << i.out;
  EXPECT_NE(i.out.find("X-Kind: ok\r\n"), std::string::npos);
  EXPECT_NE(i.out.find("\r\n\r\nfine\n"), std::string::npos);
  auto h = fetch({"-I", srv.url("/echo")});
  EXPECT_EQ(h.code, 0);
  EXPECT_EQ(h.out.find("HEAD /echo"), std::string::npos);  // headers only: no body printed
  EXPECT_EQ(h.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h.out;
}

TEST(fetch_cli, method_headers_and_data) {
  khz::test::fd_leak_guard leaks;
  script_server srv(routes);
  auto r = fetch({"-X", "PUT", "-H", "X-A: 1", "-d", "payload", srv.url("/echo")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("PUT /echo HTTP/1.1\r\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("X-A: 1\r\n"), std::string::npos);
  EXPECT_NE(r.out.find("\r\n\r\npayload"), std::string::npos);
  char path[] = "/tmp/khz_fetch_data_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "from-file", 9), 9);
  ::close(fd);
  auto f = fetch({"--data-file", path, srv.url("/echo")});
  ::unlink(path);
  EXPECT_EQ(f.out.rfind("POST /echo", 0), 0u) << f.out;
  EXPECT_NE(f.out.find("\r\n\r\nfrom-file"), std::string::npos);
}

TEST(fetch_cli, redirects_followed_or_not) {
  khz::test::fd_leak_guard leaks;
  script_server srv(routes);
  auto r = fetch({srv.url("/moved")});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "fine\n");
  auto off = fetch({"-i", "--max-redirs", "0", srv.url("/moved")});
  EXPECT_EQ(off.code, 0);
  EXPECT_EQ(off.out.rfind("HTTP/1.1 302 Found", 0), 0u) << off.out;
  auto loop = fetch({srv.url("/loop")});
  EXPECT_EQ(loop.code, 47);
  EXPECT_EQ(loop.err.rfind("khz-fetch: redirects: ", 0), 0u) << loop.err;
}

TEST(fetch_cli, failures_name_their_class) {
  khz::test::fd_leak_guard leaks;
  script_server srv(routes);
  auto cut = fetch({srv.url("/cut")});
  EXPECT_EQ(cut.code, 56);
  EXPECT_EQ(cut.err.rfind("khz-fetch: reset: ", 0), 0u) << cut.err;
  EXPECT_EQ(cut.out, "short");  // what arrived was streamed out before the failure
  auto bad = fetch({srv.url("/bad")});
  EXPECT_EQ(bad.code, 8);
  EXPECT_EQ(bad.err.rfind("khz-fetch: protocol: ", 0), 0u) << bad.err;
  auto slow = fetch({"--timeout", "0.2", srv.url("/slow")});
  EXPECT_EQ(slow.code, 28);
  EXPECT_EQ(slow.err.rfind("khz-fetch: timeout: ", 0), 0u) << slow.err;
  std::uint16_t closed_port;
  {
    script_server gone([](peer&, int) {});
    closed_port = gone.port();
  }
  auto refused = fetch({"http://127.0.0.1:" + std::to_string(closed_port) + "/"});
  EXPECT_EQ(refused.code, 7);
  EXPECT_EQ(refused.err.rfind("khz-fetch: connect: ", 0), 0u) << refused.err;
  auto usage = fetch({"-X"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(fetch({"https://127.0.0.1:1/"}).code, 1);
}

TEST(fetch_cli, several_urls_share_one_connection_and_big_bodies_stream_to_a_file) {
  khz::test::fd_leak_guard leaks;
  script_server srv(routes);
  auto r = fetch({srv.url("/ok"), srv.url("/ok"), srv.url("/ok")});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "fine\nfine\nfine\n");
  EXPECT_EQ(srv.accepted(), 1);
  char path[] = "/tmp/khz_fetch_out_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto big = fetch({"-o", path, srv.url("/big")});
  EXPECT_EQ(big.code, 0) << big.err;
  EXPECT_TRUE(big.out.empty());
  std::FILE* f = std::fopen(path, "rb");
  ASSERT_NE(f, nullptr);
  std::string got = slurp(f);
  std::fclose(f);
  ::unlink(path);
  EXPECT_EQ(got, std::string(16 * 64 * 1024, 'z'));
}

}  // namespace
