// libFuzzer target: the response parser.
// Input: byte 0 = options (bits 0-1: the request method: GET, HEAD, CONNECT, POST;
// bit 2: small limits; bit 3: stream bodies; bits 4-7: split seed), then the wire bytes.
// Whole and split runs must agree; the peer closes after the last byte (eof), which
// completes bodies read until close.
#include "split_differential.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static constexpr khz::method methods[] = {khz::method::get, khz::method::head, khz::method::connect,
                                            khz::method::post};
  const std::uint8_t options = data[0];
  khz::fuzz::split_options o;
  if (options & 4) {
    o.limits.max_header_bytes = 256;
    o.limits.max_header_count = 6;
    o.limits.max_body_size = 64;
    o.limits.max_chunk_line_bytes = 32;
  }
  o.stream = (options & 8) != 0;
  o.seed = static_cast<std::uint32_t>(options >> 4) * 2654435761u + 7;
  o.max_piece = 41;
  o.block_bit = 9;
  const khz::method m = methods[options & 3];
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  khz::fuzz::check_split_differential<khz::response_parser, khz::response>(
      wire, o, [m](khz::response_parser& p) { p.set_request_method(m); });
  return 0;
}
