// libFuzzer target: the request parser.
// Input: byte 0 = options (bit 0: small limits, bit 1: stream bodies to a sink,
// bits 2-7: split seed), then the wire bytes. The wire is parsed whole and again split
// into pieces (some in blocks of their own); both runs must agree, and every view of
// every message is read after the input buffer is gone (ASan checks the lifetimes).
#include "../http/harness.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

using namespace khz;

struct run_result {
  std::string text;
};

std::string run(std::string_view wire, std::uint8_t options, bool split) {
  http_limits limits;
  if (options & 1) {
    limits.max_target_length = 32;
    limits.max_header_bytes = 256;
    limits.max_header_count = 6;
    limits.max_body_size = 64;
    limits.max_chunk_line_bytes = 32;
  }
  const bool stream = (options & 2) != 0;
  std::uint32_t seed = static_cast<std::uint32_t>(options >> 2) * 2654435761u + 1;
  std::vector<request> done;
  std::string streamed;
  std::string end;
  {
    request_parser parser(limits);
    link_buffer in;
    request current;
    bool stop = false;
    bool in_body = false;
    std::size_t pos = 0;
    while (pos < wire.size() && !stop) {
      std::size_t n = wire.size() - pos;
      bool own_block = false;
      if (split) {
        seed = seed * 1103515245u + 12345u;
        n = std::min<std::size_t>(n, 1 + (seed >> 16) % 37);
        own_block = (seed >> 8) & 1;
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
        if (in_body && stream) {
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
          in_body = false;
          done.push_back(std::move(current));
          current = request();
          streamed += "|";
          continue;
        }
        if (st == parse_status::error) {
          end = "error " + std::to_string(parser.error().status);
          stop = true;
        } else if (st == parse_status::closed) {
          end = "closed";
          stop = true;
        }
        break;
      }
      in.release();
    }
    if (!stop) end = parser.eof() == parse_status::error ? "eof-error" : "eof-ok";
  }
  std::string out;
  for (const request& r : done) out += khz::test::summarize(r) + "\n";
  return out + streamed + "\n" + end;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t options = data[0];
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string whole = run(wire, options, false);
  std::string split = run(wire, options, true);
  if (whole != split) {
    std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", whole.c_str(), split.c_str());
    std::abort();
  }
  return 0;
}
