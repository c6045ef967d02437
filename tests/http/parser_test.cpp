// Parser behaviour beyond the conformance table: the headers_complete step, streaming
// bodies, limits per message, zero copy and view lifetimes, reuse, end of stream.
#include "harness.hpp"

#include <khz/http/parser.hpp>

#include "http/llhttp_run.hpp"  // which llhttp build runs (src/)

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace khz::test {
namespace {

void feed(link_buffer& in, std::string_view bytes) {
  in.append(bytes);
  in.flush();
}

// Appends bytes in a block of their own (the input then has a block boundary here).
void feed_block(link_buffer& in, std::string_view bytes) {
  link_buffer own;
  own.append(bytes);
  in.append(std::move(own));
  in.flush();
}

bool inside(std::string_view part, const char* begin, std::size_t size) {
  return part.data() >= begin && part.data() + part.size() <= begin + size;
}

parse_status parse_whole(std::string_view wire, request& r, request_parser& p) {
  link_buffer in;
  feed(in, wire);
  parse_status st = p.parse(in, r);
  if (st == parse_status::headers_complete) st = p.parse(in, r);
  return st;
}

// The parser relies on llhttp's byte tables for field values and names (it only adds
// what llhttp's loose mode lets through): these two tests pin that down for every byte.
TEST(request_parser, header_value_bytes_exhaustive) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-A: a";
    wire += c;
    wire += "z\r\n\r\n";
    request_parser p;
    request r;
    const bool allowed = b == '\t' || (b >= 0x20 && b != 0x7f);
    parse_status st = parse_whole(wire, r, p);
    EXPECT_EQ(st, allowed ? parse_status::message_complete : parse_status::error) << "byte " << b;
    if (allowed && st == parse_status::message_complete) {
      EXPECT_EQ(r.headers().get("X-A").size(), 3u) << b;
    }
    if (!allowed) {
      EXPECT_EQ(p.error().status, 400u) << b;
    }
  }
}

// khz's build of llhttp answers "how many value bytes from here" for a whole run of a
// field value (and of '~' in a name) at once (the wide runs in src/http/llhttp_hooks.h:
// 16 bytes inline, then 64 a step, with SSE2 or AVX2), where llhttp asks 16 bytes at a
// time. Every byte value at every offset across those steps, and at the end of the input,
// gets the byte rules' answer.
void check_wide_range_runs() {
  std::vector<std::size_t> offsets;
  for (std::size_t at = 0; at < 150; ++at) offsets.push_back(at);
  for (std::size_t at : {191u, 192u, 193u, 255u, 256u, 257u, 500u}) offsets.push_back(at);
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (c == '\r' || c == '\n') continue;  // line ends: field_line_scan_at_every_offset
    const bool value_byte = b == '\t' || (b >= 0x20 && b != 0x7f);
    for (std::size_t at : offsets) {
      std::string value(at, 'v');
      value += c;
      value += std::string(520 - at, 'w');  // the run continues past the byte
      std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + value + "\r\n\r\n";
      request_parser p;
      request r;
      const parse_status st = parse_whole(wire, r, p);
      ASSERT_EQ(st, value_byte ? parse_status::message_complete : parse_status::error) << "byte " << b << " at " << at;
      if (value_byte) {
        // Leading SP or HTAB (the byte at offset 0) is OWS, not part of the value.
        const std::string_view expect =
            at == 0 && (c == ' ' || c == '\t') ? std::string_view(value).substr(1) : std::string_view(value);
        ASSERT_EQ(r.headers().get("x-a"), expect) << b << " " << at;
      } else {
        ASSERT_EQ(p.error().status, 400u) << b << " " << at;
      }
      // Names: a sample of the offsets is enough; a colon ends the name (another field).
      if (at % 7 != 0 || c == ':') continue;
      // A name made of '~' (the one-range site) with the byte in it.
      std::string name(at, '~');
      name += c;
      name += std::string(150 - std::min<std::size_t>(at, 150), '~');
      wire = "GET / HTTP/1.1\r\nHost: a\r\nZ" + name + ": v\r\n\r\n";
      request_parser q;
      request r2;
      const bool name_byte = detail::http_chars::is_tchar(c);
      ASSERT_EQ(parse_whole(wire, r2, q), name_byte ? parse_status::message_complete : parse_status::error)
          << "name byte " << b << " at " << at;
      if (name_byte) {
        ASSERT_EQ(r2.headers()[1].name, "Z" + name);
      }
    }
  }
  // The run reaching the end of the input (fewer than 16 bytes after it, or none): the
  // head arrives in two reads, the first ending inside the value.
  for (std::size_t v : {16u, 17u, 31u, 64u, 79u, 80u, 81u, 95u, 96u, 200u}) {
    for (std::size_t cut = 30; cut < 30 + v; cut += 5) {
      const std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + std::string(v, 'v') + "\r\n\r\n";
      request_parser p;
      request r;
      link_buffer in;
      feed(in, wire.substr(0, cut));
      ASSERT_EQ(p.parse(in, r), parse_status::need_more) << v << " " << cut;
      feed(in, wire.substr(cut));
      ASSERT_EQ(p.parse(in, r), parse_status::message_complete) << v << " " << cut;
      ASSERT_EQ(r.headers().get("x-a"), std::string(v, 'v'));
    }
  }
}

TEST(request_parser, wide_range_runs) {
#if KHZ_LLHTTP_RUN_SSE42 && KHZ_LLHTTP_RUN_HOOKS
  // Both ways of the long runs: SSE2, and AVX2 where the CPU has it.
  const int saved = khz_llhttp_wide_avx2;
  for (const int avx2 : {0, 1}) {
    if (avx2 == 1 && !detail::cpu_has_avx2) continue;
    SCOPED_TRACE(avx2 ? "AVX2" : "SSE2");
    khz_llhttp_wide_avx2 = avx2;
    check_wide_range_runs();
  }
  khz_llhttp_wide_avx2 = saved;
  EXPECT_EQ(saved != 0, detail::cpu_has_avx2);
#else
  check_wide_range_runs();
#endif
}

TEST(request_parser, header_name_bytes_exhaustive) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (c == ':') continue;  // "X:A: v" is the field X with value "A: v"
    std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX";
    wire += c;
    wire += "A: v\r\n\r\n";
    request_parser p;
    request r;
    const bool allowed = detail::http_chars::is_tchar(c);
    parse_status st = parse_whole(wire, r, p);
    EXPECT_EQ(st, allowed ? parse_status::message_complete : parse_status::error) << "byte " << b;
    if (!allowed) {
      EXPECT_EQ(p.error().status, 400u) << b;
    }
  }
}

// Field lines are read 16 bytes at a time (long values with memchr): a name, a colon, a
// bad byte or a line end at every offset of those steps (and past them) must give the
// same answer as one byte at a time would.
TEST(request_parser, field_line_scan_at_every_offset) {
  for (std::size_t n = 1; n <= 40; ++n) {
    const std::string name = "X" + std::string(n - 1, 'n');
    for (std::size_t v : {0, 1, 2, 3, 7, 8, 9, 14, 15, 16, 17, 18, 30, 31, 32, 33, 40, 63, 64, 65, 80, 81, 100, 130}) {
      const std::string value = std::string(v, 'v');
      {  // good: name, OWS, value, trailing OWS
        request_parser p;
        request r;
        std::string wire = "GET / HTTP/1.1\r\nHost: a\r\n" + name + ": \t" + value + " \t\r\nZ: z\r\n\r\n";
        ASSERT_EQ(parse_whole(wire, r, p), parse_status::message_complete) << n << " " << v;
        ASSERT_EQ(r.headers().size(), 3u);
        EXPECT_EQ(r.headers()[1].name, name);
        EXPECT_EQ(r.headers()[1].value, value);
        EXPECT_EQ(r.headers().get("z"), "z");
      }
      // A SP at every place in the name is refused.
      if (v == 0) {
        for (std::size_t at = 1; at <= n; ++at) {
          request_parser p;
          request r;
          std::string bad = name;
          bad.insert(at, " ");
          std::string wire = "GET / HTTP/1.1\r\nHost: a\r\n" + bad + ": x\r\n\r\n";
          EXPECT_EQ(parse_whole(wire, r, p), parse_status::error) << n << " " << at;
          EXPECT_EQ(p.error().status, 400u);
        }
      }
      // A bare CR or LF anywhere in the value (llhttp may take it as a line end) is
      // refused; so is an obs-fold after it.
      for (std::size_t at = 0; at <= v; ++at) {
        for (const char* cut : {"\n", "\r", "\r\n "}) {
          request_parser p;
          request r;
          std::string val = value;
          val.insert(at, cut);
          std::string wire = "GET / HTTP/1.1\r\nHost: a\r\n" + name + ": y" + val + "\r\n\r\n";
          parse_status st = parse_whole(wire, r, p);
          EXPECT_EQ(st, parse_status::error) << n << " " << v << " " << at;
          if (st == parse_status::error) {
            EXPECT_EQ(p.error().status, 400u);
          }
        }
      }
    }
  }
}

// Values past 80 bytes are scanned 64 bytes per step (AVX2 where the CPU has it, else
// memchr): a bare CR or LF at any offset of those steps, or the line end there, must
// give the same answer as a byte loop.
TEST(request_parser, long_value_scan_at_every_offset) {
  for (std::size_t v : {127, 128, 129, 159, 160, 161, 191, 192, 193, 200, 255, 256, 257, 300, 383, 384, 385, 447, 448, 449, 511, 512, 513, 1024, 1100}) {
    const std::string value(v, 'v');
    {
      request_parser p;
      request r;
      std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + value + "\r\nZ: z\r\n\r\n";
      ASSERT_EQ(parse_whole(wire, r, p), parse_status::message_complete) << v;
      EXPECT_EQ(r.headers().get("x-long"), value);
      EXPECT_EQ(r.headers().get("z"), "z");
    }
    for (std::size_t at = 0; at <= v; ++at) {
      for (const char* cut : {"\n", "\r"}) {
        request_parser p;
        request r;
        std::string val = value;
        val.insert(at, cut);
        std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + val + "\r\n\r\n";
        EXPECT_EQ(parse_whole(wire, r, p), parse_status::error) << v << " " << at;
        EXPECT_EQ(p.error().status, 400u) << v << " " << at;
      }
    }
  }
}

// Host values are checked 16 bytes at a time when they are short (letters, digits, '.',
// '-', then an optional port) and byte by byte otherwise; both must agree.
TEST(request_parser, host_fast_and_byte_paths_agree) {
  struct host_case {
    const char* host;
    bool ok;
  };
  for (host_case hc : std::initializer_list<host_case>{
           {"a", true}, {"www.example.com", true}, {"127.0.0.1:8080", true}, {"a-b.c:", true},
           {"0123456789abcdef", true}, {"0123456789abcdefg", true}, {"a_b~c!$&'()*+,;=%", true},
           {"a:8x", false}, {"a:80:80", false}, {"a/b", false}, {"a@b", false}, {"[::1]", true},
           {"[::1]:443", true}, {"[::g]", false}, {"a b", false}, {"exa\x80mple", false},
           {"ex|ample.com", false}, {"", true}}) {
    for (const char* tail : {"\r\n\r\n", "\r\nX-Pad: 0123456789abcdef0123456789\r\n\r\n"}) {
      request_parser p;
      request r;
      std::string wire = std::string("GET / HTTP/1.1\r\nHost: ") + hc.host + tail;
      parse_status st = parse_whole(wire, r, p);
      EXPECT_EQ(st, hc.ok ? parse_status::message_complete : parse_status::error) << hc.host << tail;
      if (!hc.ok) {
        EXPECT_EQ(p.error().status, 400u) << hc.host;
      }
    }
  }
}

// Connection values of one token are compared as words; every case mix and near miss
// must read as the list parser would.
TEST(request_parser, connection_one_token_fast_path) {
  struct conn_case {
    const char* value;
    bool keep_alive;  // on HTTP/1.0
    bool close;       // on HTTP/1.1
  };
  for (conn_case cc : std::initializer_list<conn_case>{{"keep-alive", true, false},
                                                       {"Keep-Alive", true, false},
                                                       {"KEEP-ALIVE", true, false},
                                                       {"keep-alivf", false, false},
                                                       {"keep_alive", false, false},
                                                       {"close", false, true},
                                                       {"Close", false, true},
                                                       {"closf", false, false},
                                                       {"close, keep-alive", false, true},
                                                       {"keep-alive, close", false, true},
                                                       {"upgrade", false, false}}) {
    {
      request_parser p;
      request r;
      std::string wire = std::string("GET / HTTP/1.0\r\nConnection: ") + cc.value + "\r\n\r\n";
      ASSERT_EQ(parse_whole(wire, r, p), parse_status::message_complete) << cc.value;
      EXPECT_EQ(r.keep_alive(), cc.keep_alive && !cc.close) << cc.value;
    }
    {
      request_parser p;
      request r;
      std::string wire = std::string("GET / HTTP/1.1\r\nHost: a\r\nConnection: ") + cc.value + "\r\n\r\n";
      ASSERT_EQ(parse_whole(wire, r, p), parse_status::message_complete) << cc.value;
      EXPECT_EQ(r.keep_alive(), !cc.close) << cc.value;
    }
  }
}

// The parser classifies field names with word compares; they must agree with
// classify_field() on every case mix and on every one-byte change to a token byte.
TEST(request_parser, field_classification_matches_classify_field) {
  const std::string tchars =
      "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::vector<std::string> names;
  for (std::string known : {"host", "expect", "upgrade", "connection", "content-type", "content-length",
                            "transfer-encoding"}) {
    std::uint32_t seed = 12345;
    for (int k = 0; k < 24; ++k) {  // case mixes
      std::string n = known;
      for (char& ch : n) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) & 1) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      names.push_back(n);
    }
    for (std::size_t at = 0; at < known.size(); ++at) {  // one byte changed
      for (char ch : tchars) {
        std::string n = known;
        n[at] = ch;
        names.push_back(n);
      }
    }
  }
  for (const std::string& n : names) {
    request_parser p;
    request r;
    // Values every known field accepts, so that only the name decides.
    std::string wire = "GET / HTTP/1.1\r\nHost: a\r\n" + n + ": 0\r\n\r\n";
    const known_field want = classify_field(n);
    if (want == known_field::host || want == known_field::transfer_encoding) continue;  // framing rules apply
    ASSERT_EQ(parse_whole(wire, r, p), parse_status::message_complete) << n;
    ASSERT_EQ(r.headers().size(), 2u);
    EXPECT_EQ(r.headers()[1].id, want) << n;
  }
  {
    request_parser p;
    request r;
    ASSERT_EQ(parse_whole("GET / HTTP/1.1\r\nhOsT: a\r\nTRANSFER-encoding: chunked\r\n\r\n0\r\n\r\n", r, p),
              parse_status::message_complete);
    EXPECT_EQ(r.headers()[0].id, known_field::host);
    EXPECT_EQ(r.headers()[1].id, known_field::transfer_encoding);
    EXPECT_TRUE(r.chunked());
  }
}

TEST(request_parser, target_bytes_exhaustive) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    std::string wire = "GET /a";
    wire += c;
    wire += "z HTTP/1.1\r\nHost: a\r\n\r\n";
    request_parser p;
    request r;
    // VCHAR but '#' (no fragment on the wire); anything else (SP included) is refused.
    const bool allowed = b > 0x20 && b < 0x7f && b != '#';
    parse_status st = parse_whole(wire, r, p);
    EXPECT_EQ(st, allowed ? parse_status::message_complete : parse_status::error) << "byte " << b;
  }
}

TEST(request_parser, expect_continue_is_surfaced_before_the_body) {
  request_parser p;
  request r;
  link_buffer in;
  feed(in, "PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  EXPECT_TRUE(r.expect_continue());
  EXPECT_TRUE(r.has_body());
  EXPECT_EQ(r.content_length(), 4u);
  EXPECT_TRUE(in.empty());  // the head left the input; the body has not arrived
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed(in, "da");
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed(in, "ta");
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_EQ(to_string(r.body()), "data");
}

TEST(request_parser, content_length_over_limit_is_refused_at_the_head) {
  http_limits limits;
  limits.max_body_size = 10;
  request_parser p(limits);
  request r;
  link_buffer in;
  feed(in, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
  EXPECT_EQ(p.parse(in, r), parse_status::error);
  EXPECT_EQ(p.error().status, 413u);
  EXPECT_EQ(p.error().code(), make_error_code(errc::too_large));
  // A failed parser stays failed until reset().
  EXPECT_EQ(p.parse(in, r), parse_status::error);
  p.reset();
  link_buffer in2;
  feed(in2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(p.parse(in2, r), parse_status::message_complete);
}

TEST(request_parser, streaming_content_length_body_to_a_sink) {
  request_parser p;
  request r;
  link_buffer in;
  feed(in, "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123");
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  link_buffer sink;
  EXPECT_EQ(p.parse_body(in, sink), parse_status::need_more);
  EXPECT_EQ(to_string(sink), "0123");
  sink.skip(sink.size());
  sink.release();
  feed(in, "456789GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(p.parse_body(in, sink), parse_status::message_complete);
  EXPECT_EQ(to_string(sink), "456789");
  EXPECT_TRUE(r.body().empty());
  request next;
  ASSERT_EQ(p.parse(in, next), parse_status::message_complete);
  EXPECT_EQ(next.target(), "/next");
}

TEST(request_parser, streaming_chunked_body_with_raised_limit_and_trailers) {
  http_limits limits;
  limits.max_body_size = 4;
  request_parser p(limits);
  request r;
  link_buffer in;
  feed(in, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  EXPECT_TRUE(r.chunked());
  p.set_body_limit(1000);  // this route streams large uploads
  link_buffer sink;
  std::vector<std::string> pieces;
  for (std::string_view part : {"a\r\n0123456789\r\n", "5;x=y\r\nab", "cde\r\n0\r\nX-T: t\r\n\r\n"}) {
    feed_block(in, part);
    parse_status st = p.parse_body(in, sink);
    pieces.push_back(to_string(sink));
    sink.clear();
    if (st == parse_status::message_complete) break;
    ASSERT_EQ(st, parse_status::need_more);
  }
  EXPECT_EQ(pieces, (std::vector<std::string>{"0123456789", "ab", "cde"}));
  EXPECT_EQ(r.trailers().get("x-t"), "t");
}

TEST(request_parser, chunked_body_over_default_limit_is_413) {
  http_limits limits;
  limits.max_body_size = 4;
  request_parser p(limits);
  request r;
  link_buffer in;
  feed(in, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  EXPECT_EQ(p.parse(in, r), parse_status::error);
  EXPECT_EQ(p.error().status, 413u);
}

TEST(request_parser, head_and_body_are_zero_copy_slices_of_the_input) {
  request_parser p;
  request r;
  link_buffer in;
  const std::string wire = "POST /z HTTP/1.1\r\nHost: a\r\nX-V: value\r\nContent-Length: 5\r\n\r\nhello";
  feed(in, wire);
  const char* block = in.front().data();
  ASSERT_EQ(in.front().size(), wire.size());
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_TRUE(inside(r.target(), block, wire.size()));
  EXPECT_TRUE(inside(r.headers().get("X-V"), block, wire.size()));
  EXPECT_EQ(r.body().front().data(), block + wire.size() - 5);
  EXPECT_EQ(r.head_size(), wire.size() - 5);
}

TEST(request_parser, head_straddling_blocks_is_copied_once_and_stays_valid) {
  request_parser p;
  request r;
  link_buffer in;
  feed_block(in, "GET /split HTTP/1.1\r\nHo");
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed_block(in, "st: a\r\nX-Long: ");
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed_block(in, "0123456789\r\n\r\nGET /second HTTP/1.1\r\nHost: b\r\n\r\n");
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  request second;
  ASSERT_EQ(p.parse(in, second), parse_status::message_complete);
  in.clear();  // every view must survive the input
  EXPECT_EQ(r.target(), "/split");
  EXPECT_EQ(r.headers().get("host"), "a");
  EXPECT_EQ(r.headers().get("x-long"), "0123456789");
  EXPECT_EQ(second.target(), "/second");
  EXPECT_EQ(second.headers().get(known_field::host), "b");
}

TEST(request_parser, messages_outlive_the_input_buffer) {
  block_pool::local().trim();
  std::vector<request> kept;
  {
    request_parser p;
    link_buffer in;
    std::string wire;
    for (int i = 0; i < 20; ++i)
      wire += "POST /m" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nb" +
              std::to_string(i % 10) + "!";
    feed(in, wire);
    for (;;) {
      request r;
      parse_status st = p.parse(in, r);
      if (st == parse_status::headers_complete) st = p.parse(in, r);
      if (st != parse_status::message_complete) break;
      kept.push_back(std::move(r));
    }
    in.release();
  }
  ASSERT_EQ(kept.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(kept[static_cast<std::size_t>(i)].target(), "/m" + std::to_string(i));
    EXPECT_EQ(to_string(kept[static_cast<std::size_t>(i)].body()), "b" + std::to_string(i % 10) + "!");
  }
}

TEST(request_parser, reused_request_object_and_pipeline_in_one_go) {
  request_parser p;
  request r;
  link_buffer in;
  std::string wire;
  for (int i = 0; i < 16; ++i) wire += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\nX-I: " + std::to_string(i) + "\r\n\r\n";
  feed(in, wire);
  int count = 0;
  while (p.parse(in, r) == parse_status::message_complete) {
    EXPECT_EQ(r.target(), "/p" + std::to_string(count));
    EXPECT_EQ(r.headers().size(), 2u);
    EXPECT_EQ(r.headers().get("X-I"), std::to_string(count));
    ++count;
  }
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(in.empty());
  EXPECT_TRUE(p.idle());
}

// The fields are written straight into the headers' storage, whose inline part holds
// 24: past it the storage grows mid-head; the count limit is checked at the same
// field whatever the capacity, and the known-field index points at the right fields.
TEST(request_parser, many_fields_grow_the_storage_and_meet_the_count_limit) {
  for (std::size_t n : {23u, 24u, 25u, 47u, 48u, 49u, 120u}) {
    for (std::size_t max : {n, n + 1, n - 1}) {
      std::string wire = "GET / HTTP/1.1\r\n";
      for (std::size_t i = 0; i + 2 < n; ++i) wire += "X-F" + std::to_string(i) + ": v" + std::to_string(i) + "\r\n";
      wire += "Host: h\r\nExpect: 100-continue\r\n\r\n";  // the known fields come last
      http_limits limits;
      limits.max_header_count = max;
      request_parser p(limits);
      request r;
      r.headers().add("Stale", "field");  // a reused request: cleared when the message starts
      parse_status st = parse_whole(wire, r, p);
      if (n > max) {
        EXPECT_EQ(st, parse_status::error) << n << " " << max;
        EXPECT_EQ(p.error().status, 431u) << n << " " << max;
        continue;
      }
      ASSERT_EQ(st, parse_status::message_complete) << n << " " << max;
      ASSERT_EQ(r.headers().size(), n);
      for (std::size_t i = 0; i + 2 < n; ++i) {
        EXPECT_EQ(r.headers()[i].name, "X-F" + std::to_string(i));
        EXPECT_EQ(r.headers()[i].value, "v" + std::to_string(i));
      }
      EXPECT_EQ(r.headers().get(known_field::host), "h");
      EXPECT_EQ(r.headers().find(known_field::host), &r.headers()[n - 2]);
      EXPECT_EQ(r.headers().find(known_field::expect), &r.headers()[n - 1]);
      EXPECT_TRUE(r.expect_continue());
      EXPECT_FALSE(r.headers().contains("Stale"));
    }
  }
}

// The first block of a message is run through llhttp by parse() itself; the rest of the
// head in later blocks takes the general path. Each message of a pipeline starts the
// fast path again, in a request cleared by the parser or already cleared by its owner.
TEST(request_parser, head_split_after_the_first_block_and_messages_after_a_clear) {
  const std::string head = "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: split-test\r\nAccept: */*\r\n\r\n";
  for (std::size_t cut = 1; cut < head.size(); ++cut) {
    request_parser p;
    request r;
    link_buffer in;
    feed(in, head.substr(0, cut));
    ASSERT_EQ(p.parse(in, r), parse_status::need_more) << cut;
    feed_block(in, head.substr(cut));  // the head goes on in another block
    feed_block(in, head);              // and a second message follows
    ASSERT_EQ(p.parse(in, r), parse_status::message_complete) << cut;
    EXPECT_EQ(summarize(r), "REQ GET /a 1.1 ka=1 [Host=h;User-Agent=split-test;Accept=*/*;] body=") << cut;
    r.clear();  // what the server does at the end of a request: parse() clears again
    ASSERT_EQ(p.parse(in, r), parse_status::message_complete) << cut;
    EXPECT_EQ(summarize(r), "REQ GET /a 1.1 ka=1 [Host=h;User-Agent=split-test;Accept=*/*;] body=") << cut;
    EXPECT_EQ(r.head_size(), head.size());
    EXPECT_EQ(p.parse(in, r), parse_status::need_more);
    EXPECT_TRUE(p.idle());
  }
}

TEST(request_parser, end_of_stream) {
  {
    request_parser p;
    EXPECT_EQ(p.eof(), parse_status::closed);
  }
  {
    request_parser p;
    request r;
    link_buffer in;
    feed(in, "GET / HTTP/1.1\r\nHo");
    EXPECT_EQ(p.parse(in, r), parse_status::need_more);
    EXPECT_EQ(p.eof(), parse_status::error);
    EXPECT_EQ(p.error().status, 400u);
  }
  {
    request_parser p;
    request r;
    link_buffer in;
    feed(in, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab");
    EXPECT_EQ(p.parse(in, r), parse_status::headers_complete);
    EXPECT_EQ(p.parse(in, r), parse_status::need_more);
    EXPECT_EQ(p.eof(), parse_status::error);
  }
}

TEST(request_parser, upgrade_and_connect_leave_the_decision_to_the_server) {
  request_parser p;
  request r;
  link_buffer in;
  feed(in, "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
           "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_EQ(r.upgrade(), "websocket");
  EXPECT_TRUE(r.keep_alive());
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_EQ(r.method(), method::connect);
  EXPECT_EQ(r.split().host, "a");
  EXPECT_FALSE(r.has_body());
}

TEST(response_parser, request_method_per_response) {
  response_parser p;
  response r;
  link_buffer in;
  feed(in, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  p.set_request_method(method::head);
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_TRUE(r.body().empty());
  EXPECT_EQ(r.content_length(), 5u);
  p.set_request_method(method::get);
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_EQ(to_string(r.body()), "hello");
}

TEST(response_parser, interim_then_final_and_read_until_close) {
  response_parser p;
  response r;
  link_buffer in;
  feed(in, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\npart one, ");
  ASSERT_EQ(p.parse(in, r), parse_status::message_complete);
  EXPECT_TRUE(r.is_interim());
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed(in, "part two");
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  ASSERT_EQ(p.eof(), parse_status::message_complete);
  EXPECT_EQ(to_string(r.body()), "part one, part two");
  EXPECT_EQ(p.parse(in, r), parse_status::closed);
}

TEST(response_parser, until_close_body_respects_the_limit) {
  http_limits limits;
  limits.max_body_size = 8;
  response_parser p(limits);
  response r;
  link_buffer in;
  feed(in, "HTTP/1.1 200 OK\r\n\r\n12345");
  ASSERT_EQ(p.parse(in, r), parse_status::headers_complete);
  EXPECT_EQ(p.parse(in, r), parse_status::need_more);
  feed(in, "6789");
  EXPECT_EQ(p.parse(in, r), parse_status::error);
  EXPECT_EQ(p.error().status, 413u);
}

TEST(parse_error, codes) {
  EXPECT_FALSE(parse_error{}.code());
  EXPECT_EQ((parse_error{400, ""}.code()), make_error_code(errc::protocol_error));
  EXPECT_EQ((parse_error{414, ""}.code()), make_error_code(errc::too_large));
  EXPECT_EQ((parse_error{431, ""}.code()), make_error_code(errc::too_large));
  EXPECT_EQ((parse_error{501, ""}.code()), make_error_code(errc::not_supported));
  EXPECT_EQ((parse_error{505, ""}.code()), make_error_code(errc::not_supported));
}

}  // namespace
}  // namespace khz::test
