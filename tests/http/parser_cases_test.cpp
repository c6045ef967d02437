// Table-driven conformance tests: every case is run whole, byte by byte (in one buffer
// and with each byte in a block of its own) and split at random points (same buffer and
// separate blocks), and every run must give the same outcome as the whole one.
// docs/http-conformance.md maps each RFC 9112 rule to the cases here (by name).
#include "harness.hpp"

#include <khz/http/parser.hpp>
#include <support/test_support.hpp>

#include "http/llhttp_run.hpp"  // which llhttp build runs (src/)

#include <gtest/gtest.h>

#include <string>
#include <algorithm>
#include <vector>

namespace khz::test {
namespace {

struct wire_case {
  std::string name;
  std::string wire;
  unsigned status;        // expected error status (0: no error)
  std::size_t messages;   // complete messages expected
  std::string expect{};   // a substring the outcome must contain
  bool eof = false;       // tell the parser the peer closed after the last byte
  method request_method = method::get;  // responses: the request they answer
  http_limits limits{};
};

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

http_limits small_limits() {
  http_limits l;
  l.max_target_length = 64;
  l.max_header_bytes = 512;
  l.max_header_count = 8;
  l.max_body_size = 100;
  return l;
}

const std::string H = "Host: example.com\r\n";

std::vector<wire_case> request_cases() {
  std::vector<wire_case> c;
  auto ok = [&](std::string name, std::string wire, std::size_t n, std::string expect = {}) {
    c.push_back({std::move(name), std::move(wire), 0, n, std::move(expect)});
  };
  auto bad = [&](std::string name, std::string wire, unsigned status, std::size_t n = 0, std::string expect = {}) {
    c.push_back({std::move(name), std::move(wire), status, n, std::move(expect)});
  };

  // ------------------------------------------------------------------ valid requests
  ok("get_minimal", "GET / HTTP/1.1\r\n" + H + "\r\n", 1, "REQ GET / 1.1 ka=1 [Host=example.com;] body=");
  ok("get_query", "GET /a/b?x=1&y=2 HTTP/1.1\r\n" + H + "\r\n", 1, "GET /a/b?x=1&y=2");
  ok("get_browser",
     "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
     "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n"
     "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
     1, "Accept-Language=en-US,en;q=0.5;");
  ok("head", "HEAD /x HTTP/1.1\r\n" + H + "\r\n", 1, "REQ HEAD /x");
  ok("options_asterisk", "OPTIONS * HTTP/1.1\r\n" + H + "\r\n", 1, "REQ OPTIONS *");
  ok("options_path", "OPTIONS /p HTTP/1.1\r\n" + H + "\r\n", 1, "REQ OPTIONS /p");
  ok("connect_authority", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 1,
     "REQ CONNECT example.com:443");
  ok("absolute_form", "GET http://example.com/a?b HTTP/1.1\r\n" + H + "\r\n", 1, "GET http://example.com/a?b");
  ok("absolute_form_no_path", "GET http://example.com HTTP/1.1\r\n" + H + "\r\n", 1, "GET http://example.com");
  ok("delete", "DELETE /r/1 HTTP/1.1\r\n" + H + "\r\n", 1, "REQ DELETE");
  ok("put_body", "PUT /r HTTP/1.1\r\n" + H + "Content-Length: 3\r\n\r\nabc", 1, "body=abc");
  ok("patch_body", "PATCH /r HTTP/1.1\r\n" + H + "Content-Length: 2\r\n\r\n{}", 1, "REQ PATCH");
  ok("trace", "TRACE / HTTP/1.1\r\n" + H + "\r\n", 1, "REQ TRACE");
  ok("extension_method_known_to_llhttp", "PROPFIND /d HTTP/1.1\r\n" + H + "\r\n", 1, "REQ PROPFIND /d");
  ok("post_content_length", "POST /e HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhello", 1,
     "Content-Length=5;] body=hello");
  ok("post_content_length_zero", "POST /e HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n", 1, "body=\n");
  ok("content_length_leading_zeros", "POST / HTTP/1.1\r\n" + H + "Content-Length: 005\r\n\r\nhello", 1,
     "body=hello");
  ok("content_length_ows", "POST / HTTP/1.1\r\n" + H + "Content-Length:  2  \r\n\r\nhi", 1, "body=hi");
  ok("chunked_one", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 1,
     "chunked");
  ok("chunked_many",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n", 1,
     "body=abcdef");
  ok("chunked_hex_upper_lower",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n",
     1, "body=01234567890123456789a");
  ok("chunked_leading_zeros", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n000\r\n\r\n",
     1, "body=abc");
  ok("chunked_ext_name", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3;foo\r\nabc\r\n0\r\n\r\n", 1,
     "body=abc");
  ok("chunked_ext_token_value",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3;foo=bar;baz\r\nabc\r\n0;last=1\r\n\r\n", 1,
     "body=abc");
  ok("chunked_ext_quoted_value",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3;n=\"a \\\" ; b\"\r\nabc\r\n0\r\n\r\n", 1,
     "body=abc");
  ok("chunked_ext_bws",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3 ; n = v \r\nabc\r\n0\r\n\r\n", 1, "body=abc");
  ok("chunked_trailers",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-B:  x y \r\n\r\n", 1,
     "trailers=[X-Sum=42;X-B=x y;]");
  ok("chunked_case_insensitive", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 1,
     "chunked");
  ok("chunked_empty_list_elements", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 1,
     "chunked");
  ok("chunked_binary_data",
     "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n4\r\n\r\n\r\n\r\n0\r\n\r\n", 1, "body=\r\n\r\n");
  ok("leading_empty_line", "\r\nGET / HTTP/1.1\r\n" + H + "\r\n", 1, "REQ GET /");
  ok("http10_no_host", "GET / HTTP/1.0\r\n\r\n", 1, "1.0 ka=0");
  ok("http10_keep_alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", 2, "GET /2 1.0 ka=0");
  ok("http11_connection_close", "GET / HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n", 1, "ka=0");
  ok("connection_token_list", "GET / HTTP/1.1\r\n" + H + "Connection: foo, Close\r\n\r\n", 1, "ka=0");
  ok("expect_continue", "POST / HTTP/1.1\r\n" + H + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 1,
     "expect100");
  ok("upgrade_websocket",
     "GET /ws HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n", 1,
     "upgrade=websocket");
  ok("upgrade_without_connection_token", "GET / HTTP/1.1\r\n" + H + "Upgrade: websocket\r\n\r\n", 1,
     "REQ GET / 1.1 ka=1 [");
  ok("empty_value", "GET / HTTP/1.1\r\n" + H + "X-Empty:\r\n\r\n", 1, "X-Empty=;");
  ok("empty_value_with_ows", "GET / HTTP/1.1\r\n" + H + "X-Empty: \t \r\n\r\n", 1, "X-Empty=;");
  ok("value_ows_trimmed", "GET / HTTP/1.1\r\n" + H + "X-A:   a  b \t\r\n\r\n", 1, "X-A=a  b;");
  ok("value_obs_text", "GET / HTTP/1.1\r\n" + H + "X-A: caf\xc3\xa9\r\n\r\n", 1, "X-A=caf\xc3\xa9;");
  ok("value_inner_tab", "GET / HTTP/1.1\r\n" + H + "X-A: a\tb\r\n\r\n", 1, "X-A=a\tb;");
  ok("duplicate_fields_kept", "GET / HTTP/1.1\r\n" + H + "X-A: 1\r\nx-a: 2\r\nX-A: 3\r\n\r\n", 1, "X-A=1;x-a=2;X-A=3;");
  ok("name_all_tchars", "GET / HTTP/1.1\r\n" + H + "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", 1, "!#$%&'*+-.^_`|~09azAZ=v;");
  ok("host_with_port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 1, "Host=example.com:8080;");
  ok("host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 1, "Host=[::1]:8080;");
  ok("host_empty_value_allowed", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 1, "Host=;");
  ok("target_percent_encoded", "GET /a%20b/%E2%82%AC?q=%3D HTTP/1.1\r\n" + H + "\r\n", 1, "GET /a%20b/%E2%82%AC?q=%3D");
  ok("target_sub_delims", "GET /a;b,c=d!e$f'g(h)i*j+k:l@m~n HTTP/1.1\r\n" + H + "\r\n", 1, "GET /a;b,c=d!e$f'g(h)i*j+k:l@m~n");
  ok("pipeline_three_gets",
     "GET /1 HTTP/1.1\r\n" + H + "\r\nGET /2 HTTP/1.1\r\n" + H + "\r\nGET /3 HTTP/1.1\r\n" + H + "\r\n", 3, "GET /3");
  ok("pipeline_post_then_get",
     "POST /1 HTTP/1.1\r\n" + H + "Content-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\n" + H + "\r\n", 2, "body=abc");
  ok("pipeline_chunked_then_get",
     "POST /1 HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /2 HTTP/1.1\r\n" + H +
         "\r\n",
     2, "GET /2");
  ok("pipeline_stops_after_close",
     "GET /1 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\n" + H + "\r\n", 1, "end=closed");
  ok("incomplete_head_pending", "GET / HTTP/1.1\r\nHost: a", 0, "end=pending");
  ok("incomplete_body_pending", "POST / HTTP/1.1\r\n" + H + "Content-Length: 10\r\n\r\nabc", 0, "end=pending");
  ok("body_bytes_not_parsed_as_head", "POST / HTTP/1.1\r\n" + H + "Content-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n", 1,
     "body=GET / HTTP/1.1\r\n\r\n");
  ok("long_header_value", "GET / HTTP/1.1\r\n" + H + "X-Long: " + repeat('v', 6000) + "\r\n\r\n", 1, "X-Long=vvvv");
  ok("many_fields", [] {
       std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
       for (int i = 0; i < 60; ++i) s += "X-F" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
       return s + "\r\n";
     }(), 1, "X-F59=59;");
  ok("large_body_content_length",
     "POST / HTTP/1.1\r\n" + H + "Content-Length: 20000\r\n\r\n" + repeat('b', 20000), 1, "body=bbbb");
  ok("echo_bench_request",
     "POST /echo HTTP/1.1\r\n" + H + "test-header: " + repeat('h', 1024) + "\r\nContent-Length: 1024\r\n\r\n" +
         repeat('x', 1024),
     1, "test-header=hhh");

  // ------------------------------------------------------------------ 400: framing
  bad("cl_and_te", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  bad("te_and_cl", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
  bad("cl_differing", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400);
  bad("cl_duplicate_same", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400);
  bad("cl_list", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello", 400);
  bad("cl_non_numeric", "POST / HTTP/1.1\r\n" + H + "Content-Length: abc\r\n\r\n", 400);
  bad("cl_trailing_garbage", "POST / HTTP/1.1\r\n" + H + "Content-Length: 1a\r\n\r\n", 400);
  bad("cl_plus_sign", "POST / HTTP/1.1\r\n" + H + "Content-Length: +1\r\n\r\nx", 400);
  bad("cl_negative", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n", 400);
  bad("cl_empty", "POST / HTTP/1.1\r\n" + H + "Content-Length:\r\n\r\n", 400);
  bad("cl_overflow", "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999\r\n\r\n", 400);
  bad("cl_inner_space", "POST / HTTP/1.1\r\n" + H + "Content-Length: 1 2\r\n\r\n", 400);
  bad("te_chunked_not_final", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400);
  bad("te_chunked_then_field", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
  bad("te_gzip_only", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", 400);
  bad("te_identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\n", 400);
  bad("te_chunked_twice", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
  bad("te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  bad("connect_with_body", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 2\r\n\r\nhi", 400);
  // ------------------------------------------------------------------ 400: chunked body
  const std::string te = "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n";
  bad("chunk_size_invalid_char", te + "5x\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_empty", te + "\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_negative", te + "-5\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_0x_prefix", te + "0x5\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_overflow", te + "10000000000000000\r\n", 400);
  bad("chunk_size_trailing_space", te + "5 \r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_bare_lf", te + "5\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_size_bare_cr", te + "5\rhello\r\n0\r\n\r\n", 400);
  bad("chunk_data_no_crlf", te + "5\r\nhelloXX0\r\n\r\n", 400);
  bad("chunk_data_bare_lf", te + "5\r\nhello\n0\r\n\r\n", 400);
  bad("chunk_data_bare_cr", te + "5\r\nhello\r0\r\n\r\n", 400);
  bad("chunk_data_too_long", te + "3\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_ext_ctl", te + "5;a\x01\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_ext_no_name", te + "5;\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_ext_no_value", te + "5;a=\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_ext_bad_quoted", te + "5;a=\"x\x01\"\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_ext_unterminated_quote", te + "5;a=\"xy\r\nhello\r\n0\r\n\r\n", 400);
  bad("chunk_last_bare_lf", te + "5\r\nhello\r\n0\r\n\n", 400);
  bad("chunk_last_bare_cr", te + "5\r\nhello\r\n0\r\n\rX", 400);
  bad("trailer_space_before_colon", te + "0\r\nX-T : v\r\n\r\n", 400);
  bad("trailer_obs_fold", te + "0\r\nX-T: v\r\n w\r\n\r\n", 400);
  bad("trailer_ctl_in_value", te + "0\r\nX-T: a\x01\r\n\r\n", 400);
  bad("trailer_bare_lf", te + "0\r\nX-T: v\n\r\n", 400);
  bad("trailer_no_colon", te + "0\r\nX-T\r\n\r\n", 400);
  // ------------------------------------------------------------------ 400: head syntax
  bad("bare_lf_after_request_line", "GET / HTTP/1.1\n" + H + "\r\n", 400);
  bad("bare_lf_after_field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
  bad("bare_lf_head_end", "GET / HTTP/1.1\r\n" + H + "\n", 400);
  bad("bare_cr_head_end", "GET / HTTP/1.1\r\n" + H + "\rX", 400);
  bad("bare_cr_in_value", "GET / HTTP/1.1\r\n" + H + "X-A: a\rb\r\n\r\n", 400);
  bad("bare_cr_after_request_line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
  bad("bare_lf_leading_line", "\nGET / HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("space_before_colon", "GET / HTTP/1.1\r\n" + H + "X-A : v\r\n\r\n", 400);
  bad("tab_before_colon", "GET / HTTP/1.1\r\n" + H + "X-A\t: v\r\n\r\n", 400);
  bad("space_in_name", "GET / HTTP/1.1\r\n" + H + "X A: v\r\n\r\n", 400);
  bad("empty_name", "GET / HTTP/1.1\r\n" + H + ": v\r\n\r\n", 400);
  bad("leading_space_field_line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
  bad("obs_fold", "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n b\r\n\r\n", 400);
  bad("obs_fold_tab", "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n\tb\r\n\r\n", 400);
  bad("ctl_in_value_soh", "GET / HTTP/1.1\r\n" + H + "X-A: a\x01z\r\n\r\n", 400);
  bad("ctl_in_value_del", "GET / HTTP/1.1\r\n" + H + "X-A: a\x7fz\r\n\r\n", 400);
  bad("ctl_in_value_nul", std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: a") + '\0' + "z\r\n\r\n", 400);
  bad("ctl_in_value_vt", "GET / HTTP/1.1\r\n" + H + "X-A: a\x0bz\r\n\r\n", 400);
  bad("ctl_in_name", "GET / HTTP/1.1\r\n" + H + "X\x01" "A: v\r\n\r\n", 400);
  bad("non_token_in_name", "GET / HTTP/1.1\r\n" + H + "X(A): v\r\n\r\n", 400);
  bad("double_space_after_method", "GET  / HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("double_space_before_version", "GET /  HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("tab_after_method", "GET\t/ HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("space_after_version", "GET / HTTP/1.1 \r\n" + H + "\r\n", 400);
  bad("http09_request", "GET /\r\n\r\n", 400);
  bad("lowercase_http_version", "GET / http/1.1\r\n" + H + "\r\n", 400);
  bad("bad_version_chars", "GET / HTTP/1.x\r\n" + H + "\r\n", 400);
  bad("version_two_digits", "GET / HTTP/01.1\r\n" + H + "\r\n", 400);
  bad("extra_token_request_line", "GET / HTTP/1.1 x\r\n" + H + "\r\n", 400);
  bad("target_fragment", "GET /a#frag HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_tab", "GET /a\tb HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_ctl", "GET /a\x01 HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_del", "GET /a\x7f HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_non_ascii", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_asterisk_not_options", "GET * HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_connect_origin_form", "CONNECT / HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_connect_no_port", "CONNECT example.com HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_relative", "GET a/b HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("target_absolute_no_authority", "GET http:/a HTTP/1.1\r\n" + H + "\r\n", 400);
  bad("missing_host_http11", "GET / HTTP/1.1\r\n\r\n", 400);
  bad("two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  bad("two_hosts_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400);
  bad("host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
  bad("host_with_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
  bad("host_bad_port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400);
  bad("garbage_tls_hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400);
  bad("error_after_good_message",
      "GET /1 HTTP/1.1\r\n" + H + "\r\nGET /2 HTTP/1.1\r\n" + H + "X A: b\r\n\r\n", 400, 1, "GET /1");
  // ------------------------------------------------------------------ 501 / 505
  bad("unknown_method", "FOO / HTTP/1.1\r\n" + H + "\r\n", 501);
  bad("lowercase_method", "get / HTTP/1.1\r\n" + H + "\r\n", 501);
  bad("method_prefix_token", "GE / HTTP/1.1\r\n" + H + "\r\n", 501);
  bad("te_gzip_then_chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
  bad("te_two_fields_gzip_chunked",
      "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501);
  bad("http20_request_line", "GET / HTTP/2.0\r\n" + H + "\r\n", 505);
  bad("http30_request_line", "GET / HTTP/3.0\r\n" + H + "\r\n", 505);
  bad("http12_request_line", "GET / HTTP/1.2\r\n" + H + "\r\n", 505);
  bad("h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
  return c;
}

std::vector<wire_case> limit_cases() {
  std::vector<wire_case> c;
  auto add = [&](std::string name, std::string wire, unsigned status, std::size_t n, std::string expect = {}) {
    c.push_back({std::move(name), std::move(wire), status, n, std::move(expect), false, method::get, small_limits()});
  };
  add("target_at_limit", "GET /" + repeat('a', 63) + " HTTP/1.1\r\nHost: a\r\n\r\n", 0, 1);
  add("target_over_limit_414", "GET /" + repeat('a', 64) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, 0);
  add("target_huge_414", "GET /" + repeat('a', 5000), 414, 0);
  add("header_bytes_at_limit", [] {
        std::string s = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
        s += repeat('v', 512 - s.size() - 4);
        return s + "\r\n\r\n";
      }(), 0, 1);
  add("header_bytes_over_limit_431", [] {
        std::string s = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
        s += repeat('v', 512 - s.size() - 3);
        return s + "\r\n\r\n";
      }(), 431, 0);
  add("header_bytes_unterminated_431", "GET / HTTP/1.1\r\nHost: a\r\nX: " + repeat('v', 4000), 431, 0);
  add("header_count_at_limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n\r\n", 0, 1);
  add("header_count_over_limit_431",
      "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\n\r\n", 431, 0);
  add("body_at_limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + repeat('b', 100), 0, 1);
  add("content_length_over_limit_413", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413, 0);
  add("content_length_huge_413", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", 413, 0);
  add("chunked_at_limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" + repeat('b', 50) +
                              "\r\n32\r\n" + repeat('c', 50) + "\r\n0\r\n\r\n",
      0, 1);
  add("chunked_over_limit_413", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" +
                                    repeat('b', 50) + "\r\n33\r\n",
      413, 0);
  add("chunk_line_too_long", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + repeat('e', 5000),
      400, 0);
  add("trailer_count_over_limit_431", [] {
        std::string s = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
        for (int i = 0; i < 9; ++i) s += "T" + std::to_string(i) + ": v\r\n";
        return s + "\r\n";
      }(), 431, 0);
  add("trailer_bytes_over_limit_431",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + repeat('v', 600) + "\r\n\r\n", 431, 0);
  return c;
}

std::vector<wire_case> response_cases() {
  std::vector<wire_case> c;
  auto ok = [&](std::string name, std::string wire, std::size_t n, std::string expect = {}, bool eof = false,
                method m = method::get) {
    c.push_back({std::move(name), std::move(wire), 0, n, std::move(expect), eof, m});
  };
  auto bad = [&](std::string name, std::string wire, unsigned status, std::size_t n = 0, bool eof = false,
                 method m = method::get) {
    c.push_back({std::move(name), std::move(wire), status, n, {}, eof, m});
  };
  ok("res_200_content_length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1, "RES 200 'OK' 1.1 ka=1");
  ok("res_404", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1, "RES 404 'Not Found'");
  ok("res_custom_reason", "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n", 1, "'Fine Thanks'");
  ok("res_empty_reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 1, "RES 200 ''");
  ok("res_reason_obs_text", "HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n", 1, "'\xc3\xa9t\xc3\xa9'");
  ok("res_599", "HTTP/1.1 599 Custom\r\nContent-Length: 0\r\n\r\n", 1, "RES 599");
  ok("res_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, "body=abc");
  ok("res_chunked_trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n", 1,
     "trailers=[T=1;]");
  ok("res_until_close", "HTTP/1.1 200 OK\r\n\r\nall of it", 1, "ka=0 [] body=all of it", true);
  ok("res_until_close_empty", "HTTP/1.1 200 OK\r\n\r\n", 1, "body=\n", true);
  ok("res_until_close_pending", "HTTP/1.1 200 OK\r\n\r\nmore", 0, "end=pending", false);
  ok("res_204_ignores_length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
     2, "body=x");
  ok("res_304_ignores_length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 1, "RES 304");
  ok("res_head_no_body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, "Content-Length=5;] body=\n", false,
     method::head);
  ok("res_head_chunked_no_body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, "body=\n", false,
     method::head);
  ok("res_100_then_200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 2,
     "RES 100 'Continue'");
  ok("res_103_then_200", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     2, "Link=</s.css>;");
  ok("res_101_switch", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x7f",
     1, "end=closed left=2");
  ok("res_connect_tunnel", "HTTP/1.1 200 Connection established\r\n\r\ntunnel-bytes", 1, "end=closed left=12", false,
     method::connect);
  ok("res_http10_close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 1, "1.0 ka=0");
  ok("res_http10_keep_alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 1, "1.0 ka=1");
  ok("res_connection_close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 1, "end=closed");
  ok("res_pipeline", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb",
     2, "body=b");
  ok("res_large_body", "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + repeat('z', 10000), 1, "body=zzz");
  bad("res_no_space_after_code", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_double_space", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_two_digit_code", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_four_digit_code", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_code_below_100", "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_code_600", "HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_ctl_in_reason", "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_bare_lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 400);
  bad("res_bare_cr", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", 400);
  bad("res_cl_and_te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  bad("res_cl_differing", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", 400);
  bad("res_te_gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501);
  bad("res_te_gzip_chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
  bad("res_te_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  bad("res_obs_fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", 400);
  bad("res_space_before_colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 400);
  bad("res_http2_status_line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 505);
  bad("res_bad_chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
  bad("res_body_cut_by_eof", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 400, 0, true);
  bad("res_head_cut_by_eof", "HTTP/1.1 200 OK\r\nContent-Len", 400, 0, true);
  bad("res_not_http", "HELLO\r\n\r\n", 400);
  return c;
}

template <class Parser, class Message>
void check_case(const wire_case& tc) {
  SCOPED_TRACE("case " + tc.name);
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  outcome whole = run_parser<Parser, Message>(tc.wire, feed_mode::whole, seed, tc.eof, tc.limits, tc.request_method);
  EXPECT_EQ(whole.error, tc.status) << whole.str();
  EXPECT_EQ(whole.messages.size(), tc.messages) << whole.str();
  if (!tc.expect.empty()) {
    EXPECT_NE(whole.str().find(tc.expect), std::string::npos) << "want: " << tc.expect << "\n" << whole.str();
  }

  std::vector<std::pair<feed_mode, std::uint64_t>> runs = {{feed_mode::bytewise, seed}};
  if (tc.wire.size() <= 4096) runs.push_back({feed_mode::bytewise_blocks, seed});
  for (std::uint64_t i = 0; i < 3; ++i) {
    runs.push_back({feed_mode::random_same, seed + i});
    runs.push_back({feed_mode::random_blocks, seed + i});
  }
  for (auto [mode, s] : runs) {
    outcome o = run_parser<Parser, Message>(tc.wire, mode, s, tc.eof, tc.limits, tc.request_method);
    EXPECT_EQ(o.str(), whole.str()) << "mode " << to_string(mode) << " seed " << s;
  }
}

class uncached_blocks : public ::testing::Test {
 protected:
  // Blocks go back to the allocator as soon as they are free, so that a view that
  // outlived its block is a use-after-free ASan reports.
  void SetUp() override {
    saved_ = block_pool::local().max_cached_bytes();
    block_pool::local().set_max_cached_bytes(0);
  }
  void TearDown() override { block_pool::local().set_max_cached_bytes(saved_); }
  std::size_t saved_ = 0;
};

using request_cases_test = uncached_blocks;
using response_cases_test = uncached_blocks;

TEST_F(request_cases_test, every_case_same_result_in_every_splitting) {
  auto cases = request_cases();
  auto limits = limit_cases();
  cases.insert(cases.end(), limits.begin(), limits.end());
  for (const auto& tc : cases) check_case<request_parser, request>(tc);
}

TEST_F(response_cases_test, every_case_same_result_in_every_splitting) {
  for (const auto& tc : response_cases()) check_case<response_parser, response>(tc);
}

#if KHZ_LLHTTP_RUN_DISPATCH
// Every llhttp build the parser can run (src/http/llhttp_run.hpp) must give the same
// outcome on every input: the hooked build (khz's own hooks) and the stock one (its
// callbacks through llhttp_settings_t), each plain and with SSE4.2 where there is an
// SSE4.2 build: the whole corpus, and every byte at every position of a field value
// long enough for the 16-byte steps (each offset of a step, and the tail).
//
// Running an SSE4.2 build needs a CPU that has SSE4.2 (every x86-64 CPU of the last 15
// years); on one without, configure with -DKHZ_LLHTTP_SSE42=OFF.
struct llhttp_build {
  bool hooks;
  bool sse42;
};
std::string to_string(llhttp_build b) {
  return std::string(b.hooks ? "hooked" : "stock") + (b.sse42 ? "+sse4.2" : "");
}
std::vector<llhttp_build> llhttp_builds_here() {
  std::vector<llhttp_build> builds;
  for (bool hooks : {true, false}) {
    if (hooks && !KHZ_LLHTTP_RUN_HOOKS) continue;
    for (bool sse42 : {true, false}) {
      if (sse42 && !KHZ_LLHTTP_RUN_SSE42) continue;
      builds.push_back({hooks, sse42});
    }
  }
  return builds;
}

class llhttp_builds : public uncached_blocks {
 protected:
  void SetUp() override {
    uncached_blocks::SetUp();
#if KHZ_LLHTTP_RUN_SSE42
    ASSERT_TRUE(saved_sse42_) << "this CPU has no SSE4.2: configure with -DKHZ_LLHTTP_SSE42=OFF";
#endif
    ASSERT_GE(llhttp_builds_here().size(), 2u);
  }
  void TearDown() override {
    use(saved_);
    uncached_blocks::TearDown();
  }
  static void use(llhttp_build b) {
#if KHZ_LLHTTP_RUN_HOOKS
    detail::llhttp_use_hooks = b.hooks;
#endif
#if KHZ_LLHTTP_RUN_SSE42
    detail::llhttp_use_sse42 = b.sse42;
#endif
    (void)b;
  }
  bool saved_sse42_ = detail::llhttp_use_sse42;
  llhttp_build saved_{detail::llhttp_use_hooks, detail::llhttp_use_sse42};

 public:
  template <class Parser, class Message>
  static std::string run_with(llhttp_build b, const std::string& wire, std::uint64_t seed, feed_mode mode,
                              bool eof = false, const http_limits& limits = {}, method request_method = method::get) {
    use(b);
    return run_parser<Parser, Message>(wire, mode, seed, eof, limits, request_method).str();
  }
};

// The dispatcher runs the SSE4.2 builds exactly where the CPU has SSE4.2, and the hooked
// build wherever there is one.
TEST(llhttp_dispatch, follows_the_cpu) {
  __builtin_cpu_init();
  EXPECT_EQ(detail::llhttp_use_sse42, KHZ_LLHTTP_RUN_SSE42 && __builtin_cpu_supports("sse4.2") != 0);
  EXPECT_EQ(detail::llhttp_use_hooks, KHZ_LLHTTP_RUN_HOOKS != 0);
}

TEST_F(llhttp_builds, every_build_gives_the_same_outcome_for_every_case) {
  auto cases = request_cases();
  auto limits = limit_cases();
  cases.insert(cases.end(), limits.begin(), limits.end());
  const auto builds = llhttp_builds_here();
  const llhttp_build ref = builds.front();
  for (const auto& tc : cases) {
    for (feed_mode mode : {feed_mode::whole, feed_mode::random_same}) {
      const std::string want = run_with<request_parser, request>(ref, tc.wire, 7, mode, tc.eof, tc.limits);
      for (std::size_t i = 1; i < builds.size(); ++i)
        EXPECT_EQ(want, (run_with<request_parser, request>(builds[i], tc.wire, 7, mode, tc.eof, tc.limits)))
            << tc.name << " " << to_string(mode) << " " << to_string(builds[i]);
    }
  }
  for (const auto& tc : response_cases()) {
    const std::string want = run_with<response_parser, response>(ref, tc.wire, 7, feed_mode::whole, tc.eof,
                                                                 tc.limits, tc.request_method);
    for (std::size_t i = 1; i < builds.size(); ++i)
      EXPECT_EQ(want, (run_with<response_parser, response>(builds[i], tc.wire, 7, feed_mode::whole, tc.eof,
                                                           tc.limits, tc.request_method)))
          << tc.name << " " << to_string(builds[i]);
  }
}

TEST_F(llhttp_builds, every_byte_at_every_position_of_a_long_value) {
  constexpr std::size_t len = 40;  // two 16-byte steps and a tail
  const auto builds = llhttp_builds_here();
  std::size_t refused = 0;
  for (std::size_t pos = 0; pos < len; ++pos) {
    for (int b = 0; b < 256; ++b) {
      std::string value(len, 'v');
      value[pos] = static_cast<char>(b);
      const std::string wire = "GET / HTTP/1.1\r\nHost: h\r\nX-V: " + value + "\r\n\r\n";
      const std::string a = run_with<request_parser, request>(builds.front(), wire, 1, feed_mode::whole);
      for (std::size_t i = 1; i < builds.size(); ++i)
        ASSERT_EQ(a, (run_with<request_parser, request>(builds[i], wire, 1, feed_mode::whole)))
            << "byte " << b << " at " << pos << " " << to_string(builds[i]);
      refused += a.find("error=0 ") == std::string::npos;
    }
  }
  // Some bytes are refused (control bytes, DEL, bare CR/LF...), most are not.
  EXPECT_GT(refused, len * 20);
  EXPECT_LT(refused, len * 60);
}
#endif

TEST(parser_cases, corpus_has_at_least_150_cases_with_unique_names) {
  auto a = request_cases();
  auto b = limit_cases();
  auto r = response_cases();
  std::size_t total = a.size() + b.size() + r.size();
  EXPECT_GE(total, 150u);
  std::vector<std::string> names;
  for (const auto* v : {&a, &b, &r})
    for (const auto& tc : *v) names.push_back(tc.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end()) << "duplicate case name";
}

}  // namespace
}  // namespace khz::test
