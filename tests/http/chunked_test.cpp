// The chunked decoder on its own: step semantics and strictness.
#include <khz/http/chunked.hpp>
#include <khz/http/headers.hpp>

#include <gtest/gtest.h>

#include <string>

namespace khz {
namespace {

// Decodes `wire` in pieces of `piece` bytes; returns the data, or "ERR <status>".
std::string decode(std::string_view wire, std::size_t piece, chunked_decoder& d, std::size_t* left = nullptr) {
  std::string data;
  std::string pending;
  std::size_t pos = 0;
  while (pos < wire.size() || !pending.empty()) {
    if (pos < wire.size()) {
      std::size_t n = std::min(piece, wire.size() - pos);
      pending.append(wire.substr(pos, n));
      pos += n;
    }
    for (;;) {
      if (pending.empty()) break;
      chunked_decoder::step s = d.next(pending);
      if (s.st == chunked_decoder::status::error) return "ERR " + std::to_string(d.error_status());
      data.append(pending, s.skip, s.data);
      pending.erase(0, s.skip + s.data);
      if (s.st == chunked_decoder::status::done) {
        if (left != nullptr) *left = pending.size() + (wire.size() - pos);
        return data;
      }
    }
    if (pos >= wire.size()) break;
  }
  return "INCOMPLETE " + data;
}

TEST(chunked_decoder, steps_report_framing_then_data) {
  chunked_decoder d;
  auto s = d.next("5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(s.st, chunked_decoder::status::more);
  EXPECT_EQ(s.skip, 3u);
  EXPECT_EQ(s.data, 5u);
  s = d.next("\r\n0\r\n\r\nNEXT");
  EXPECT_EQ(s.st, chunked_decoder::status::done);
  EXPECT_EQ(s.skip, 7u);
  EXPECT_EQ(s.data, 0u);
  EXPECT_EQ(d.body_bytes(), 5u);
}

TEST(chunked_decoder, same_result_for_every_piece_size) {
  const std::string wire = "4;a=b\r\nWiki\r\n5\r\npedia\r\nE ; q=\"x y\"\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\nrest";
  for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
    chunked_decoder d;
    std::size_t left = 0;
    EXPECT_EQ(decode(wire, piece, d, &left), "Wikipedia in\r\n\r\nchunks.") << piece;
    EXPECT_EQ(left, 4u) << piece;
    EXPECT_EQ(d.trailer_section(), "T: v\r\n");
  }
}

TEST(chunked_decoder, trailers_are_copied_into_headers) {
  chunked_decoder d;
  EXPECT_EQ(decode("0\r\nA: 1\r\nB:2 \r\nC:\r\n\r\n", 3, d), "");
  headers h;
  d.copy_trailers(h);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.get("a"), "1");
  EXPECT_EQ(h.get("B"), "2");
  EXPECT_EQ(h.get("C"), "");
}

TEST(chunked_decoder, rejects_malformed_framing) {
  for (const char* bad : {"g\r\n", "\r\n", " 5\r\n", "5 x\r\n", "5\n", "5\r\rhello", "5\r\nhelloX\r\n",
                          "5\r\nhello\n\r\n", "5;\r\n", "5;=\r\n", "5;a=\"\x01\"\r\n", "5;a=b c\r\n",
                          "0\r\n\n", "0\r\nA : b\r\n\r\n", "0\r\n b\r\n\r\n", "0\r\nA: b\rX", "0\r\nA\r\n\r\n",
                          "10000000000000000\r\n", "-1\r\n", "+1\r\n"}) {
    chunked_decoder d;
    EXPECT_EQ(decode(bad, 1, d), "ERR 400") << bad;
  }
}

TEST(chunked_decoder, limits) {
  chunked_limits limits;
  limits.max_body_size = 10;
  limits.max_line_bytes = 16;
  limits.max_trailer_count = 1;
  limits.max_trailer_bytes = 20;
  {
    chunked_decoder d(limits);
    EXPECT_EQ(decode("a\r\n0123456789\r\n0\r\n\r\n", 4, d), "0123456789");
  }
  {
    chunked_decoder d(limits);
    EXPECT_EQ(decode("a\r\n0123456789\r\n1\r\n", 4, d), "ERR 413");
  }
  {
    chunked_decoder d(limits);
    EXPECT_EQ(decode("1;aaaaaaaaaaaaaaaaaaaaaaa\r\n", 4, d), "ERR 400");
  }
  {
    chunked_decoder d(limits);
    EXPECT_EQ(decode("0\r\nA: 1\r\nB: 2\r\n\r\n", 4, d), "ERR 431");
  }
  {
    chunked_decoder d(limits);
    EXPECT_EQ(decode("0\r\nA: 0123456789012345678901\r\n\r\n", 4, d), "ERR 431");
  }
}

TEST(chunked_decoder, reset_and_sticky_states) {
  chunked_decoder d;
  EXPECT_EQ(decode("z", 1, d), "ERR 400");
  EXPECT_EQ(d.next("0\r\n\r\n").st, chunked_decoder::status::error);
  d.reset();
  EXPECT_EQ(decode("0\r\n\r\n", 1, d), "");
  EXPECT_EQ(d.next("anything").st, chunked_decoder::status::done);
}

}  // namespace
}  // namespace khz
