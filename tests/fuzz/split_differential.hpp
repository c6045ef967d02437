#pragma once
// The body the parser fuzz targets share: parse a wire whole, then again split into
// pseudo-random pieces (some appended in blocks of their own), and compare. Each run
// summarises every message it completed (read after the input buffer is gone, so ASan
// checks the views' lifetimes), the streamed body bytes, and how the run ended; the
// peer closes after the last byte (eof).
#include "../http/harness.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace khz::fuzz {

struct split_options {
  http_limits limits;
  bool stream = false;          // bodies go to a sink through parse_body()
  std::uint32_t seed = 1;       // of the splitting
  std::uint32_t max_piece = 37; // pieces are 1..max_piece bytes
  unsigned block_bit = 8;       // which bit of the generator puts a piece in its own block
};

// Parser: request_parser or response_parser; Message: request or response. `setup`
// is called on the parser before the first byte (e.g. set_request_method).
template <class Parser, class Message, class Setup>
std::string run_split(std::string_view wire, const split_options& o, bool split, Setup&& setup) {
  std::uint32_t seed = o.seed;
  std::vector<Message> done;
  std::string streamed;
  std::string end;
  {
    Parser parser(o.limits);
    setup(parser);
    link_buffer in;
    Message current;
    bool stop = false;
    bool in_body = false;
    std::size_t pos = 0;
    auto complete = [&] {
      in_body = false;
      done.push_back(std::move(current));
      current = Message();
      streamed += "|";
    };
    while (pos < wire.size() && !stop) {
      std::size_t n = wire.size() - pos;
      bool own_block = false;
      if (split) {
        seed = seed * 1103515245u + 12345u;
        n = std::min<std::size_t>(n, 1 + (seed >> 16) % o.max_piece);
        own_block = (seed >> o.block_bit) & 1;
      }
      if (own_block) {
        link_buffer piece;
        piece.append(wire.substr(pos, n));
        in.append(std::move(piece));
      } else {
        in.append(wire.substr(pos, n));
      }
      in.flush();
      pos += n;
      for (;;) {
        parse_status st;
        if (in_body && o.stream) {
          link_buffer sink;
          st = parser.parse_body(in, sink);
          streamed += khz::test::to_string(sink);
        } else {
          st = parser.parse(in, current);
        }
        if (st == parse_status::headers_complete) {
          in_body = true;
          continue;
        }
        if (st == parse_status::message_complete) {
          complete();
          continue;
        }
        if (st == parse_status::error) {
          end = "error " + std::to_string(parser.error().status);
          stop = true;
        } else if (st == parse_status::closed) {
          // What was left unread must not depend on the splitting either.
          end = "closed left " + std::to_string(in.size() + wire.size() - pos);
          stop = true;
        }
        break;
      }
      in.release();
    }
    if (!stop) {
      parse_status st = parser.eof();
      if (st == parse_status::message_complete) complete();  // a body read until close
      end = st == parse_status::error ? "eof-error" : "eof-ok";
    }
  }
  std::string out;
  for (const Message& m : done) out += khz::test::summarize(m) + "\n";
  return out + streamed + "\n" + end;
}

// Runs whole and split; aborts (the fuzzer's finding) when they differ.
template <class Parser, class Message, class Setup>
void check_split_differential(std::string_view wire, const split_options& o, Setup&& setup) {
  const std::string whole = run_split<Parser, Message>(wire, o, false, setup);
  const std::string split = run_split<Parser, Message>(wire, o, true, setup);
  if (whole != split) {
    std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", whole.c_str(), split.c_str());
    std::abort();
  }
}

}  // namespace khz::fuzz
