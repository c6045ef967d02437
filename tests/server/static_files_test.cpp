// Static files over real sockets on 127.0.0.1, for both transports: whole files byte for
// byte (a 1 MiB+ one through the mapped path), HEAD, content types, validators and
// conditional requests, ranges, directory index, path-traversal attempts (dots, encoded
// dots, symlinks out of the root, NUL), pipelining, and a client leaving mid-download.
#include <gtest/gtest.h>
#include <khz/http/parser.hpp>
#include <khz/net/transport.hpp>
#include <khz/server/server.hpp>
#include <khz/server/static_files.hpp>

#include "support/test_support.hpp"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A blocking test client on a raw socket; every wait is bounded.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // before connect: the window
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = khz::test::connect_retrying(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_client() { close(); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool read_some(std::chrono::milliseconds timeout = 5s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(buf, static_cast<std::size_t>(n));
    in_.append(std::string_view(buf, static_cast<std::size_t>(n)));
    in_.flush();
    return true;
  }
  bool read_response(khz::response& out, khz::method m = khz::method::get, std::chrono::milliseconds timeout = 5s) {
    parser_.set_request_method(m);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto st = parser_.parse(in_, out);
      if (st == khz::parse_status::message_complete) return true;
      if (st == khz::parse_status::error || st == khz::parse_status::closed) return false;
      if (st == khz::parse_status::headers_complete) continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(left)) {
        if (eof_ && parser_.eof() == khz::parse_status::message_complete) return true;
        return false;
      }
    }
  }
  const std::string& raw() const { return raw_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string raw_;
  khz::link_buffer in_;
  khz::response_parser parser_;
};

std::string body_of(khz::response& r) {
  std::string s(r.body().size(), '\0');
  r.body().copy_to({s.data(), s.size()});
  return s;
}

std::string request(std::string_view method, std::string_view target, std::string_view extra = {}) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

// Deterministic bytes: position i holds pattern_byte(i) (a period of 251 * 26 keeps
// misplaced ranges visible).
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// Whether some descriptor of this process names `path`.
bool open_as_fd(const std::string& path) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/self/fd", ec)) {
    std::error_code lec;
    if (fs::read_symlink(e.path(), lec) == path) return true;
  }
  return false;
}

constexpr std::size_t big_size = (1u << 20) + 12345;  // > 1 MiB, not a multiple of pages or pieces
const std::string secret_text = "TOP-SECRET-CONTENT";

class static_files_test : public ::testing::TestWithParam<khz::transport> {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "khz-static-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp failed";
    base_ = fs::canonical(tmpl);
    root_ = base_ / "www";
    fs::create_directories(root_ / "sub");
    fs::create_directories(root_ / "noindex");
    write_file(base_ / "secret", secret_text);
    write_file(root_ / "hello.txt", "hello, static world\n");
    write_file(root_ / "style.css", "body{}");
    write_file(root_ / "app.js", "let a=1;");
    write_file(root_ / "data.json", "{\"a\":1}");
    write_file(root_ / "logo.SVG", "<svg/>");
    write_file(root_ / "img.png", std::string("\x89PNG\r\n\x1a\n", 8));
    write_file(root_ / "font.woff2", "wOF2");
    write_file(root_ / "blob.xyz", "???");
    write_file(root_ / "empty.txt", "");
    write_file(root_ / "big.bin", pattern(big_size));
    write_file(root_ / "sub" / "index.html", "<h1>sub index</h1>");
    write_file(root_ / "noindex" / "a.txt", "a");
    fs::create_symlink("hello.txt", root_ / "inside_link");
    fs::create_symlink("../secret", root_ / "outside_link");
    fs::create_symlink("..", root_ / "up");
  }

  void TearDown() override {
    if (!base_.empty()) {
      std::error_code ec;
      fs::remove_all(base_, ec);
    }
  }

  khz::server_options options() {
    return khz::server_options{}.with_address("127.0.0.1:0").with_loops(1).with_transport(GetParam()).with_worker_threads(1);
  }

  // Registers the tree under /assets (symlinks followed), /strict (not followed) and one file.
  void serve(khz::server& s) {
    khz::static_dir(s, "/assets", root_.string(), khz::static_options{}.with_max_age(std::chrono::seconds(60)));
    khz::static_dir(s, "/strict", root_.string(), khz::static_options{}.with_follow_symlinks(false));
    khz::static_file(s, "/favicon.ico", (root_ / "img.png").string(),
                     khz::static_options{}.with_content_type("png", "image/x-test-png"));
    s.start();
    ASSERT_FALSE(s.listen_addresses().empty());
    port_ = s.listen_addresses().front().port();
  }

  // One request on a fresh connection.
  bool fetch(const std::string& req, khz::response& out, khz::method m = khz::method::get) {
    raw_client c(port_);
    if (!c.connected() || !c.send(req)) return false;
    return c.read_response(out, m);
  }

  std::string file_text(const char* name) {
    std::ifstream f(root_ / name, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  fs::path base_;
  fs::path root_;
  std::uint16_t port_ = 0;
  khz::test::fd_leak_guard leaks_;
};

TEST_P(static_files_test, whole_files_come_back_byte_for_byte_with_types_and_validators) {
  khz::server s(options());
  serve(s);
  struct want {
    const char* name;
    const char* type;
  };
  for (const want& w : {want{"hello.txt", "text/plain; charset=utf-8"}, want{"style.css", "text/css; charset=utf-8"},
                        want{"app.js", "text/javascript; charset=utf-8"}, want{"data.json", "application/json"},
                        want{"logo.SVG", "image/svg+xml"}, want{"img.png", "image/png"},
                        want{"font.woff2", "font/woff2"}, want{"blob.xyz", "application/octet-stream"},
                        want{"big.bin", "application/octet-stream"}, want{"empty.txt", "text/plain; charset=utf-8"}}) {
    SCOPED_TRACE(w.name);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", std::string("/assets/") + w.name), r));
    EXPECT_EQ(r.status_code(), 200u);
    EXPECT_EQ(r.headers().get("Content-Type"), w.type);
    const std::string expected = file_text(w.name);
    EXPECT_EQ(r.headers().get("Content-Length"), std::to_string(expected.size()));
    EXPECT_TRUE(body_of(r) == expected) << "body differs (" << r.body().size() << " vs " << expected.size() << " bytes)";
    EXPECT_EQ(r.headers().get("Accept-Ranges"), "bytes");
    EXPECT_EQ(r.headers().get("Cache-Control"), "public, max-age=60");
    const std::string_view etag = r.headers().get("ETag");
    EXPECT_TRUE(etag.size() > 2 && etag.front() == '"' && etag.back() == '"') << etag;
    const std::string_view lm = r.headers().get("Last-Modified");
    EXPECT_EQ(lm.size(), 29u) << lm;
    EXPECT_TRUE(lm.ends_with(" GMT")) << lm;
  }
  khz::response fav;
  ASSERT_TRUE(fetch(request("GET", "/favicon.ico"), fav));
  EXPECT_EQ(fav.status_code(), 200u);
  EXPECT_EQ(fav.headers().get("Content-Type"), "image/x-test-png") << "options' content types come first";
  EXPECT_EQ(body_of(fav), file_text("img.png"));
  EXPECT_TRUE(fav.headers().get("Cache-Control").empty());
  s.shutdown(1s);
}

TEST_P(static_files_test, etag_changes_when_the_file_changes) {
  khz::server s(options());
  serve(s);
  khz::response a;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), a));
  const std::string first(a.headers().get("ETag"));
  write_file(root_ / "hello.txt", "a different, longer content\n");
  khz::response b;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), b));
  EXPECT_NE(first, b.headers().get("ETag"));
  EXPECT_EQ(body_of(b), "a different, longer content\n");
  s.shutdown(1s);
}

TEST_P(static_files_test, head_gets_the_head_only) {
  khz::server s(options());
  serve(s);
  for (const char* name : {"big.bin", "hello.txt", "empty.txt"}) {
    SCOPED_TRACE(name);
    raw_client c(port_);
    ASSERT_TRUE(c.send(request("HEAD", std::string("/assets/") + name) + request("GET", "/assets/data.json")));
    khz::response h;
    ASSERT_TRUE(c.read_response(h, khz::method::head));
    EXPECT_EQ(h.status_code(), 200u);
    EXPECT_EQ(h.headers().get("Content-Length"), std::to_string(file_text(name).size()));
    EXPECT_EQ(h.body().size(), 0u);
    EXPECT_FALSE(h.headers().get("ETag").empty());
    // The next response follows the head directly: no body bytes were sent.
    khz::response next;
    ASSERT_TRUE(c.read_response(next));
    EXPECT_EQ(body_of(next), "{\"a\":1}");
  }
  s.shutdown(1s);
}

TEST_P(static_files_test, conditional_requests) {
  khz::server s(options());
  serve(s);
  khz::response first;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), first));
  const std::string etag(first.headers().get("ETag"));
  const std::string lm(first.headers().get("Last-Modified"));
  ASSERT_FALSE(etag.empty());
  ASSERT_FALSE(lm.empty());

  auto expect_status = [&](const std::string& extra, unsigned status) {
    SCOPED_TRACE(extra);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt", extra), r));
    EXPECT_EQ(r.status_code(), status);
    if (status == 304) {
      EXPECT_EQ(r.body().size(), 0u);
      EXPECT_EQ(r.headers().get("ETag"), etag);
      EXPECT_EQ(r.headers().get("Last-Modified"), lm);
    } else {
      EXPECT_EQ(body_of(r), "hello, static world\n");
    }
  };
  expect_status("If-None-Match: " + etag + "\r\n", 304);
  expect_status("If-None-Match: \"other\", W/" + etag + "\r\n", 304);  // a list, weak comparison
  expect_status("If-None-Match: *\r\n", 304);
  expect_status("If-None-Match: \"other\"\r\n", 200);
  expect_status("If-Modified-Since: " + lm + "\r\n", 304);
  expect_status("If-Modified-Since: Sun, 06 Nov 2050 08:49:37 GMT\r\n", 304);
  expect_status("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 200);  // older: modified since
  expect_status("If-Modified-Since: not a date\r\n", 200);
  // If-None-Match decides alone when present.
  expect_status("If-None-Match: \"other\"\r\nIf-Modified-Since: " + lm + "\r\n", 200);
  s.shutdown(1s);
}

TEST_P(static_files_test, single_ranges_unsatisfiable_ranges_and_if_range) {
  khz::server s(options());
  serve(s);
  const std::string big = pattern(big_size);
  const std::string size = std::to_string(big_size);
  struct range_case {
    std::string header;
    std::size_t from;
    std::size_t length;
  };
  const std::vector<range_case> cases = {
      {"bytes=0-99", 0, 100},
      {"bytes=1000-1000", 1000, 1},
      {"bytes=5000-", 5000, big_size - 5000},                // mapped path, unaligned start
      {"bytes=-300000", big_size - 300000, 300000},          // larger than one piece
      {"bytes=-5000000", 0, big_size},                       // suffix longer than the file
      {"bytes=100-99999999", 100, big_size - 100},           // end clamped
      {"Bytes = 7-9", 7, 3},
  };
  for (const auto& rc : cases) {
    SCOPED_TRACE(rc.header);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/big.bin", "Range: " + rc.header + "\r\n"), r));
    EXPECT_EQ(r.status_code(), 206u);
    EXPECT_EQ(r.headers().get("Content-Range"),
              "bytes " + std::to_string(rc.from) + "-" + std::to_string(rc.from + rc.length - 1) + "/" + size);
    EXPECT_EQ(r.headers().get("Content-Length"), std::to_string(rc.length));
    EXPECT_TRUE(body_of(r) == big.substr(rc.from, rc.length)) << "wrong bytes";
  }
  {  // a small file (read path)
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt", "Range: bytes=-6\r\n"), r));
    EXPECT_EQ(r.status_code(), 206u);
    EXPECT_EQ(body_of(r), "world\n");
    EXPECT_EQ(r.headers().get("Content-Range"), "bytes 14-19/20");
  }
  for (const char* bad : {"bytes=" "99999999-", "bytes=-0"}) {
    SCOPED_TRACE(bad);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/big.bin", std::string("Range: ") + bad + "\r\n"), r));
    EXPECT_EQ(r.status_code(), 416u);
    EXPECT_EQ(r.headers().get("Content-Range"), "bytes */" + size);
  }
  {
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/empty.txt", "Range: bytes=0-\r\n"), r));
    EXPECT_EQ(r.status_code(), 416u);
    EXPECT_EQ(r.headers().get("Content-Range"), "bytes */0");
  }
  // Several ranges, or a malformed one: the whole file.
  for (const char* whole : {"bytes=0-1,5-6", "bytes=9-3", "lines=1-2", "bytes=x-y"}) {
    SCOPED_TRACE(whole);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt", std::string("Range: ") + whole + "\r\n"), r));
    EXPECT_EQ(r.status_code(), 200u);
    EXPECT_EQ(body_of(r), "hello, static world\n");
    EXPECT_TRUE(r.headers().get("Content-Range").empty());
  }
  // If-Range: the range only when the validator matches.
  khz::response plain;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), plain));
  const std::string etag(plain.headers().get("ETag"));
  const std::string lm(plain.headers().get("Last-Modified"));
  auto if_range = [&](const std::string& value, unsigned status) {
    SCOPED_TRACE(value);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + value + "\r\n"), r));
    EXPECT_EQ(r.status_code(), status);
    EXPECT_EQ(body_of(r), status == 206 ? "hello" : "hello, static world\n");
  };
  if_range(etag, 206);
  if_range(lm, 206);
  if_range("\"stale-etag\"", 200);
  if_range("W/" + etag, 200);  // If-Range compares strongly: a weak tag never matches
  if_range("Sun, 06 Nov 1994 08:49:37 GMT", 200);
  s.shutdown(1s);
}

TEST_P(static_files_test, directory_index_redirect_and_no_listing) {
  khz::server s(options());
  serve(s);
  khz::response idx;
  ASSERT_TRUE(fetch(request("GET", "/assets/sub/"), idx));
  EXPECT_EQ(idx.status_code(), 200u);
  EXPECT_EQ(idx.headers().get("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(body_of(idx), "<h1>sub index</h1>");
  khz::response redir;
  ASSERT_TRUE(fetch(request("GET", "/assets/sub"), redir));
  EXPECT_EQ(redir.status_code(), 301u);
  EXPECT_EQ(redir.headers().get("Location"), "/assets/sub/");
  for (const char* target : {"/assets/noindex/", "/assets/noindex", "/assets/", "/assets/missing.txt",
                             "/assets/sub/missing/deeper"}) {
    SCOPED_TRACE(target);
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", target), r));
    EXPECT_EQ(r.status_code(), 404u);
    EXPECT_EQ(body_of(r).find("a.txt"), std::string::npos) << "no directory listing";
  }
  s.shutdown(1s);
}

TEST_P(static_files_test, traversal_attempts_are_refused) {
  khz::server s(options());
  serve(s);
  for (const char* target :
       {"/assets/../secret", "/assets/%2e%2e/secret", "/assets/..%2fsecret", "/assets/%2e%2e%2fsecret",
        "/assets/%2E%2E%2Fsecret", "/assets/.%2e/secret", "/assets/%2e./secret", "/assets/sub/../../secret",
        "/assets/sub/%2e%2e/%2e%2e/secret", "/assets/%252e%252e/secret", "/assets/%252e%252e%252fsecret",
        "/assets/outside_link", "/assets/up/secret", "/assets/up/secret/", "/assets/hello.txt%00.png",
        "/assets/%00", "/assets//../secret", "/strict/inside_link", "/assets/..", "/assets/sub/.."}) {
    SCOPED_TRACE(target);
    raw_client c(port_);
    ASSERT_TRUE(c.send(request("GET", target)));
    khz::response r;
    if (c.read_response(r)) {
      EXPECT_TRUE(r.status_code() == 404u || r.status_code() == 400u) << r.status_code();
    }
    EXPECT_EQ(c.raw().find(secret_text), std::string::npos) << "the file outside the root leaked";
    EXPECT_EQ(c.raw().find("hello, static"), std::string::npos);
  }
  // A symlink staying inside the root is followed (when allowed); the strict tree refuses it.
  khz::response in;
  ASSERT_TRUE(fetch(request("GET", "/assets/inside_link"), in));
  EXPECT_EQ(in.status_code(), 200u);
  EXPECT_EQ(body_of(in), "hello, static world\n");
  khz::response strict;
  ASSERT_TRUE(fetch(request("GET", "/strict/hello.txt"), strict));
  EXPECT_EQ(strict.status_code(), 200u) << "a plain file in the strict tree is served";
  s.shutdown(1s);
}

TEST_P(static_files_test, raw_path_mode_decodes_and_still_refuses_traversal) {
  khz::router_options ro;
  ro.use_raw_path = true;
  ro.unescape_path_values = false;
  khz::server s(options().with_router(ro));
  serve(s);
  khz::response ok;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello%2etxt"), ok));
  EXPECT_EQ(ok.status_code(), 200u);
  EXPECT_EQ(body_of(ok), "hello, static world\n");
  for (const char* target : {"/assets/%2e%2e%2fsecret", "/assets/..%2fsecret", "/assets/sub%2f..%2f..%2fsecret"}) {
    SCOPED_TRACE(target);
    raw_client c(port_);
    ASSERT_TRUE(c.send(request("GET", target)));
    khz::response r;
    if (c.read_response(r)) {
      EXPECT_TRUE(r.status_code() == 404u || r.status_code() == 400u) << r.status_code();
    }
    EXPECT_EQ(c.raw().find(secret_text), std::string::npos);
  }
  s.shutdown(1s);
}

// Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the calling thread's effective set
// (raw capget/capset: capabilities are per thread on Linux, and threads it creates
// inherit them). False, with the reason, when a syscall fails.
bool drop_file_read_override(std::string& why) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;  // this thread
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) {
    why = std::string("capget failed: ") + std::strerror(errno);
    return false;
  }
  data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
  if (::syscall(SYS_capset, &header, data) != 0) {
    why = std::string("capset failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

TEST_P(static_files_test, unreadable_file_is_forbidden) {
  // As root (CI), permission bits do not stop a read: the server is started from a thread
  // without the capabilities that bypass them, so its loop thread cannot open the file
  // either, and the 403 path really runs.
  const fs::path file = root_ / "hello.txt";
  fs::permissions(file, fs::perms::none);
  std::optional<khz::server> s;
  std::string why;
  bool ready = false;
  std::thread starter([&] {
    if (::geteuid() == 0 && !drop_file_read_override(why)) return;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      why = "this thread still opens a mode-000 file (capabilities could not be reduced)";
      return;
    }
    s.emplace(options());
    serve(*s);
    ready = true;
  });
  starter.join();
  if (!ready) fs::permissions(file, fs::perms::owner_all);
  // A thread may always lower its own effective capabilities, and without them a mode-000
  // file cannot be opened: failing here means the set-up itself is wrong.
  ASSERT_TRUE(ready) << why;
  khz::response r;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), r));
  EXPECT_EQ(r.status_code(), 403u);
  fs::permissions(file, fs::perms::owner_all);
  khz::response ok;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), ok));
  EXPECT_EQ(ok.status_code(), 200u) << "readable again once the mode allows it";
  s->shutdown(1s);
  s.reset();
}

TEST_P(static_files_test, pipelined_files_come_back_in_order) {
  khz::server s(options());
  serve(s);
  raw_client c(port_);
  ASSERT_TRUE(c.send(request("GET", "/assets/big.bin") + request("GET", "/assets/hello.txt") +
                     request("GET", "/assets/big.bin", "Range: bytes=10-19\r\n") + request("GET", "/assets/data.json")));
  const std::string big = pattern(big_size);
  khz::response a, b, cc, d;
  ASSERT_TRUE(c.read_response(a));
  ASSERT_TRUE(c.read_response(b));
  ASSERT_TRUE(c.read_response(cc));
  ASSERT_TRUE(c.read_response(d));
  EXPECT_TRUE(body_of(a) == big);
  EXPECT_EQ(body_of(b), "hello, static world\n");
  EXPECT_EQ(cc.status_code(), 206u);
  EXPECT_EQ(body_of(cc), big.substr(10, 10));
  EXPECT_EQ(body_of(d), "{\"a\":1}");
  s.shutdown(1s);
}

TEST_P(static_files_test, client_leaving_mid_download_releases_the_file) {
  // Big enough that the download stalls on a small receive window.
  const std::string huge_path = (root_ / "huge.bin").string();
  write_file(huge_path, pattern(8u << 20));
  khz::server s(options());
  serve(s);
  {
    raw_client c(port_, 4096);
    ASSERT_TRUE(c.send(request("GET", "/assets/huge.bin")));
    ASSERT_TRUE(c.read_some());
    // The body goes out of the file (a sendfile region holding the descriptor), not a copy.
    bool seen = false;
    for (int i = 0; i < 200 && !seen; ++i) {
      seen = open_as_fd(huge_path);
      if (!seen) std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(seen) << "the file was expected to stay open while it is sent";
  }  // the client leaves with most of the file unsent
  bool released = false;
  for (int i = 0; i < 400 && !released; ++i) {
    released = !open_as_fd(huge_path);
    if (!released) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(released) << "the descriptor outlived the connection";
  khz::response after;
  ASSERT_TRUE(fetch(request("GET", "/assets/hello.txt"), after));
  EXPECT_EQ(after.status_code(), 200u);
  s.shutdown(1s);
  EXPECT_FALSE(open_as_fd(huge_path));
}

TEST_P(static_files_test, a_large_file_whole_and_by_range_arrives_byte_exact) {
  constexpr std::size_t size = (5u << 20) + 4321;
  const std::string data = pattern(size);
  write_file(root_ / "large.bin", data);
  khz::server s(options());
  serve(s);
  {
    // A slow reader: sendfile meets a full socket buffer and waits for writability.
    raw_client c(port_, 8192);
    ASSERT_TRUE(c.send(request("GET", "/assets/large.bin")));
    std::this_thread::sleep_for(100ms);
    khz::response r;
    ASSERT_TRUE(c.read_response(r));
    EXPECT_EQ(r.status_code(), 200u);
    EXPECT_EQ(r.headers().get("Content-Length"), std::to_string(size));
    EXPECT_TRUE(body_of(r) == data) << "whole file differs (" << r.body().size() << " bytes)";
  }
  {
    const std::size_t from = 1234567;
    const std::size_t to = 4444444;
    khz::response r;
    ASSERT_TRUE(fetch(request("GET", "/assets/large.bin",
                              "Range: bytes=" + std::to_string(from) + "-" + std::to_string(to) + "\r\n"),
                      r));
    EXPECT_EQ(r.status_code(), 206u);
    EXPECT_EQ(r.headers().get("Content-Range"),
              "bytes " + std::to_string(from) + "-" + std::to_string(to) + "/" + std::to_string(size));
    EXPECT_TRUE(body_of(r) == data.substr(from, to - from + 1)) << "range differs (" << r.body().size() << " bytes)";
  }
  {
    // Pipelined: a region, memory, a region, on one connection, in order.
    raw_client c(port_);
    ASSERT_TRUE(c.send(request("GET", "/assets/large.bin", "Range: bytes=-100000\r\n") +
                       request("GET", "/assets/hello.txt") + request("GET", "/assets/large.bin")));
    khz::response a, b, d;
    ASSERT_TRUE(c.read_response(a));
    ASSERT_TRUE(c.read_response(b));
    ASSERT_TRUE(c.read_response(d));
    EXPECT_TRUE(body_of(a) == data.substr(size - 100000));
    EXPECT_EQ(body_of(b), "hello, static world\n");
    EXPECT_TRUE(body_of(d) == data);
  }
  s.shutdown(1s);
}

TEST_P(static_files_test, routes_on_a_group) {
  khz::server s(options());
  auto g = s.group("/v1");
  khz::static_dir(g, "/files/", root_.string());
  khz::static_file(g, "/hello", (root_ / "hello.txt").string());
  s.start();
  port_ = s.listen_addresses().front().port();
  khz::response a, b;
  ASSERT_TRUE(fetch(request("GET", "/v1/files/data.json"), a));
  EXPECT_EQ(body_of(a), "{\"a\":1}");
  ASSERT_TRUE(fetch(request("GET", "/v1/hello"), b));
  EXPECT_EQ(body_of(b), "hello, static world\n");
  EXPECT_EQ(b.headers().get("Content-Type"), "text/plain; charset=utf-8");
  s.shutdown(1s);
}

KHZ_INSTANTIATE_TRANSPORTS(static_files_test);

TEST(static_files_setup, bad_arguments_throw_with_a_message) {
  khz::server s;
  EXPECT_THROW(khz::static_dir(s, "/x", "/nonexistent/khz/static/root"), std::invalid_argument);
  EXPECT_THROW(khz::static_dir(s, "/y", "/etc/hostname"), std::invalid_argument);  // not a directory
  EXPECT_THROW(khz::static_file(s, "/z", ""), std::invalid_argument);
  try {
    khz::static_dir(s, "/x", "/nonexistent/khz/static/root");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/khz/static/root"), std::string::npos) << e.what();
  }
}

TEST(static_files_setup, content_types_by_extension) {
  EXPECT_EQ(khz::content_type_for("a/b/index.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(khz::content_type_for("x.wasm"), "application/wasm");
  EXPECT_EQ(khz::content_type_for("x.mp4"), "video/mp4");
  EXPECT_EQ(khz::content_type_for("x.pdf"), "application/pdf");
  EXPECT_EQ(khz::content_type_for("x.xml"), "application/xml");
  EXPECT_EQ(khz::content_type_for("x.gif"), "image/gif");
  EXPECT_EQ(khz::content_type_for("x.webp"), "image/webp");
  EXPECT_EQ(khz::content_type_for("x.ico"), "image/x-icon");
  EXPECT_EQ(khz::content_type_for("x.jpg"), "image/jpeg");
  EXPECT_EQ(khz::content_type_for("README"), "application/octet-stream");
  EXPECT_EQ(khz::content_type_for("dir.d/file"), "application/octet-stream");
  EXPECT_EQ(khz::content_type_for("trailing."), "application/octet-stream");
  EXPECT_EQ(khz::content_type_for("notes.md", {{".md", "text/x-md"}}), "text/x-md");
}

}  // namespace
