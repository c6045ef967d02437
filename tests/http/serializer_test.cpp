// Serializer: status/request lines, framing, Connection, Date, body linking, chunked
// encoding, header injection, and round trips through the parsers.
#include "harness.hpp"

#include <khz/http/chunked.hpp>
#include <khz/http/parser.hpp>
#include <khz/http/serializer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace khz::test {
namespace {

using namespace std::chrono_literals;

std::string written(link_buffer& out) {
  out.flush();
  return to_string(out);
}

std::chrono::system_clock::time_point at(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

TEST(date_cache, formats_imf_fixdate_and_refreshes_once_a_second) {
  date_cache d(at(784111777));  // RFC 9110's example: Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(d.value(), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(d.field_line(), "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
  EXPECT_FALSE(d.update(at(784111777) + 999ms));
  EXPECT_TRUE(d.update(at(784111778)));
  EXPECT_EQ(d.value(), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_TRUE(d.update(at(951782400)));  // leap day 2000
  EXPECT_EQ(d.value(), "Tue, 29 Feb 2000 00:00:00 GMT");
}

TEST(write_response, status_line_fields_length_and_date) {
  date_cache d(at(784111777));
  response res;
  res.set_status(status::ok);
  res.headers().add_view("Content-Type", "text/plain");
  res.headers().add("Content-Length", "999");  // ignored: the serializer frames
  res.set_body("hello");
  link_buffer out;
  ASSERT_TRUE(write_response(out, res, {.date = &d}));
  EXPECT_EQ(written(out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nhello");
  EXPECT_TRUE(res.body().empty());
}

TEST(write_response, custom_reason_unlisted_code_http10_and_connection) {
  response res;
  res.set_status(299);
  link_buffer out;
  ASSERT_TRUE(write_response(out, res));
  EXPECT_EQ(written(out), "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");

  response r2;
  r2.set_status(status::not_found);
  r2.set_reason("Gone Fishing");
  r2.set_keep_alive(false);
  link_buffer out2;
  ASSERT_TRUE(write_response(out2, r2));
  EXPECT_EQ(written(out2), "HTTP/1.1 404 Gone Fishing\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

  response r3;
  r3.set_version({1, 0});
  link_buffer out3;
  ASSERT_TRUE(write_response(out3, r3));
  EXPECT_EQ(written(out3), "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");

  response r4;
  r4.set_keep_alive(false);
  r4.headers().add("Connection", "close");
  link_buffer out4;
  ASSERT_TRUE(write_response(out4, r4));
  EXPECT_EQ(written(out4), "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}

TEST(write_response, no_body_for_1xx_204_304_and_head) {
  for (unsigned code : {100u, 204u, 304u}) {
    response res;
    res.set_status(code);
    res.set_body("dropped");
    link_buffer out;
    ASSERT_TRUE(write_response(out, res));
    std::string s = written(out);
    EXPECT_EQ(s.find("Content-Length"), std::string::npos) << s;
    EXPECT_EQ(s.find("dropped"), std::string::npos) << s;
  }
  response res;
  res.set_body("0123456789");
  link_buffer out;
  ASSERT_TRUE(write_response(out, res, {.request_method = method::head}));
  EXPECT_EQ(written(out), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
}

TEST(write_response, chunked_body_and_trailers) {
  response res;
  res.set_chunked(true);
  res.set_body("abc");
  res.trailers().add("X-Checksum", "42");
  link_buffer out;
  ASSERT_TRUE(write_response(out, res));
  EXPECT_EQ(written(out),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n");
}

TEST(write_response, large_body_is_linked_not_copied) {
  auto big = std::make_shared<std::string>(100000, 'z');
  response res;
  link_buffer body;
  body.append_external({big->data(), big->size()}, big);
  res.set_body(std::move(body));
  link_buffer out;
  ASSERT_TRUE(write_response(out, res));
  out.flush();
  // The body's bytes in the output are the caller's memory itself.
  bool linked = false;
  out.for_each_chunk([&](std::string_view c) {
    if (c.data() == big->data()) linked = true;
  });
  EXPECT_TRUE(linked);
  EXPECT_EQ(out.size(), std::string("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n").size() + 100000);
}

TEST(write_response, small_body_is_copied_next_to_the_head) {
  response res;
  res.set_body("tiny");
  link_buffer out;
  ASSERT_TRUE(write_response(out, res));
  out.flush();
  EXPECT_EQ(out.block_count(), 1u);
}

// set_body() keeps up to small_body_capacity bytes in the message itself: body() still
// shows them (and whatever is appended after), and the wire is the same on both sides
// of the boundary, for responses (GET and HEAD) and requests.
TEST(message, small_body_is_visible_through_body_and_serialized_like_a_large_one) {
  {
    response res;
    res.set_body("hi");
    EXPECT_FALSE(res.body_empty());
    const response& cres = res;
    EXPECT_EQ(to_string(cres.body()), "hi");
    res.body().append("!");
    res.body().flush();
    EXPECT_EQ(to_string(res.body()), "hi!");
    res.set_body(std::string_view{});
    EXPECT_TRUE(res.body_empty());
  }
  const std::size_t cap = message_base::small_body_capacity;
  for (std::size_t n : {std::size_t{1}, cap - 1, cap, cap + 1, 3 * cap}) {
    const std::string body(n, 'b');
    for (bool head : {false, true}) {
      response small;
      small.set_body(body);  // kept inline up to cap
      response linked;
      link_buffer bytes;
      bytes.append(body);
      bytes.flush();
      linked.set_body(std::move(bytes));  // always a link_buffer
      write_options wo;
      wo.request_method = head ? method::head : method::get;
      link_buffer a, b;
      ASSERT_TRUE(write_response(a, small, wo));
      ASSERT_TRUE(write_response(b, linked, wo));
      const std::string wa = written(a);
      EXPECT_EQ(wa, written(b)) << n << (head ? " HEAD" : " GET");
      EXPECT_NE(wa.find("Content-Length: " + std::to_string(n) + "\r\n"), std::string::npos);
      EXPECT_EQ(wa.size() - wa.find("\r\n\r\n") - 4, head ? 0 : n);
      EXPECT_TRUE(small.body_empty());  // consumed, as a linked body is
    }
    request small_req;
    small_req.set_method(method::post);
    small_req.set_target("/u");
    small_req.headers().add("Host", "h");
    small_req.set_body(body);
    link_buffer out;
    ASSERT_TRUE(write_request(out, small_req));
    const std::string w = written(out);
    EXPECT_NE(w.find("Content-Length: " + std::to_string(n) + "\r\n"), std::string::npos) << w;
    EXPECT_EQ(w.substr(w.find("\r\n\r\n") + 4), body);
  }
  // A 204 sends no body even when one was set.
  response none;
  none.set_status(204);
  none.set_body("x");
  link_buffer out;
  ASSERT_TRUE(write_response(out, none));
  const std::string w = written(out);
  EXPECT_EQ(w.substr(w.find("\r\n\r\n") + 4), "");
}

TEST(write_response, refuses_header_injection) {
  for (auto [name, value] : {std::pair<std::string, std::string>{"X-A", "a\r\nInjected: 1"},
                             {"X-A", std::string("a\0b", 3)},
                             {"X A", "v"},
                             {"", "v"},
                             {"X-A\r\n", "v"},
                             // Near misses of the known names (classified "other", so checked).
                             {"Content Type", "v"},
                             {"Content-Type\r", "v"},
                             {"Host\n", "v"},
                             {"Content-Type", "a\rb"}}) {
    response res;
    res.headers().add(name, value);
    link_buffer out;
    auto r = write_response(out, res);
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::invalid_argument));
    out.flush();
    EXPECT_TRUE(out.empty());
  }
  {
    // Known names in any case are tokens: written as given.
    response ok;
    ok.headers().add("content-TYPE", "text/plain");
    ok.headers().add("HOST", "h");
    link_buffer out;
    ASSERT_TRUE(write_response(out, ok));
    out.flush();
    const std::string wire = out.read_string(out.size());
    EXPECT_NE(wire.find("\r\ncontent-TYPE: text/plain\r\n"), std::string::npos) << wire;
    EXPECT_NE(wire.find("\r\nHOST: h\r\n"), std::string::npos) << wire;
  }
  response res;
  res.set_reason("bad\r\nreason");
  link_buffer out;
  EXPECT_FALSE(write_response(out, res));
  // The Server value is checked too, unless the caller says it has checked it.
  write_options bad_server;
  bad_server.server = "khz\r\nInjected: 1";
  response plain;
  link_buffer out2;
  EXPECT_FALSE(write_response(out2, plain, bad_server));
  write_options checked;
  checked.server = "khz";
  checked.server_checked = true;
  ASSERT_TRUE(write_response(out2, plain, checked));
  out2.flush();
  EXPECT_NE(out2.read_string(out2.size()).find("\r\nServer: khz\r\n"), std::string::npos);
}

// Every byte at every position of values shorter than, equal to and longer than one
// 16-byte step: refused exactly when it is a control byte other than HTAB, or DEL.
TEST(write_response, field_value_bytes_exhaustive) {
  for (std::size_t len : {1u, 7u, 8u, 15u, 16u, 17u, 31u, 33u, 100u}) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        const auto byte = static_cast<unsigned char>(b);
        const bool allowed = byte == '\t' || (byte >= 0x20 && byte != 0x7f);
        std::string value(len, 'a');
        value[pos] = static_cast<char>(byte);
        response res;
        res.headers().add("X-V", value);
        link_buffer out;
        ASSERT_EQ(static_cast<bool>(write_response(out, res)), allowed)
            << "byte " << b << " at " << pos << " of " << len;
      }
    }
  }
}

TEST(write_response, chunked_needs_http11) {
  response res;
  res.set_version({1, 0});
  res.set_chunked(true);
  link_buffer out;
  EXPECT_EQ(write_response(out, res).error(), make_error_code(errc::invalid_argument));
}

TEST(write_response_head, streaming_head_then_chunks) {
  response res;
  res.set_chunked(true);
  link_buffer out;
  ASSERT_TRUE(write_response_head(out, res, std::nullopt));
  write_chunk(out, "hello ");
  link_buffer piece;
  piece.append("world");
  write_chunk(out, std::move(piece));
  write_chunk(out, std::string_view{});  // nothing: an empty chunk would end the body
  write_last_chunk(out);
  EXPECT_EQ(written(out),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
}

TEST(write_request, request_line_framing_and_round_trip) {
  request req;
  req.set_method(method::post);
  req.set_target("/submit?x=1");
  req.headers().add("Host", "example.com");
  req.set_body("payload");
  link_buffer out;
  ASSERT_TRUE(write_request(out, req));
  std::string wire = written(out);
  EXPECT_EQ(wire, "POST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 7\r\n\r\npayload");

  request_parser p;
  request parsed;
  ASSERT_EQ(p.parse(out, parsed), parse_status::headers_complete);
  ASSERT_EQ(p.parse(out, parsed), parse_status::message_complete);
  EXPECT_EQ(parsed.method(), method::post);
  EXPECT_EQ(parsed.target(), "/submit?x=1");
  EXPECT_EQ(to_string(parsed.body()), "payload");

  request get;
  get.set_method(method::get);
  get.set_target("/");
  get.headers().add("Host", "h");
  link_buffer out2;
  ASSERT_TRUE(write_request(out2, get));
  EXPECT_EQ(written(out2), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");

  request post;
  post.set_method(method::post);
  post.set_target("/");
  post.headers().add("Host", "h");
  link_buffer out3;
  ASSERT_TRUE(write_request(out3, post));
  EXPECT_EQ(written(out3), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");

  request bad;
  bad.set_target("/a b");
  link_buffer out4;
  EXPECT_FALSE(write_request(out4, bad));
}

TEST(write_response, chunked_round_trip_through_response_parser) {
  response res;
  res.set_status(status::created);
  res.set_chunked(true);
  res.headers().add("X-A", "1");
  res.set_body(std::string(9000, 'q'));
  res.trailers().add("X-T", "done");
  link_buffer wire;
  ASSERT_TRUE(write_response(wire, res));
  wire.flush();
  std::string bytes = to_string(wire);
  for (feed_mode m : {feed_mode::whole, feed_mode::random_blocks, feed_mode::bytewise}) {
    outcome o = run_parser<response_parser, response>(bytes, m, 7);
    ASSERT_EQ(o.messages.size(), 1u) << o.str();
    EXPECT_NE(o.messages[0].find("RES 201 'Created'"), std::string::npos);
    EXPECT_NE(o.messages[0].find("body=" + std::string(9000, 'q')), std::string::npos);
    EXPECT_NE(o.messages[0].find("trailers=[X-T=done;]"), std::string::npos);
  }
}

}  // namespace
}  // namespace khz::test
