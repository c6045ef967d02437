// libFuzzer target: the response parser.
// Input: byte 0 = options (bits 0-1: the request method: GET, HEAD, CONNECT, POST;
// bit 2: small limits; bit 3: stream bodies; bits 4-7: split seed), then the wire bytes.
// Whole and split runs must agree; the peer closes after the last byte (eof), which
// completes bodies read until close.
#include "../http/harness.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using namespace khz;

std::string run(std::string_view wire, std::uint8_t options, bool split) {
  static constexpr method methods[] = {method::get, method::head, method::connect, method::post};
  http_limits limits;
  if (options & 4) {
    limits.max_header_bytes = 256;
    limits.max_header_count = 6;
    limits.max_body_size = 64;
    limits.max_chunk_line_bytes = 32;
  }
  const bool stream = (options & 8) != 0;
  std::uint32_t seed = static_cast<std::uint32_t>(options >> 4) * 2654435761u + 7;
  std::vector<response> done;
  std::string streamed;
  std::string end;
  {
    response_parser parser(limits);
    parser.set_request_method(methods[options & 3]);
    link_buffer in;
    response current;
    bool stop = false;
    bool in_body = false;
    std::size_t pos = 0;
    auto complete = [&] {
      in_body = false;
      done.push_back(std::move(current));
      current = response();
      streamed += "|";
    };
    while (pos < wire.size() && !stop) {
      std::size_t n = wire.size() - pos;
      bool own_block = false;
      if (split) {
        seed = seed * 1103515245u + 12345u;
        n = std::min<std::size_t>(n, 1 + (seed >> 16) % 41);
        own_block = (seed >> 9) & 1;
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
          complete();
          continue;
        }
        if (st == parse_status::error) {
          end = "error " + std::to_string(parser.error().status);
          stop = true;
        } else if (st == parse_status::closed) {
          end = "closed left " + std::to_string(in.size() + wire.size() - pos);
          stop = true;
        }
        break;
      }
      in.release();
    }
    if (!stop) {
      parse_status st = parser.eof();
      if (st == parse_status::message_complete) complete();
      end = st == parse_status::error ? "eof-error" : "eof-ok";
    }
  }
  std::string out;
  for (const response& r : done) out += khz::test::summarize(r) + "\n";
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
