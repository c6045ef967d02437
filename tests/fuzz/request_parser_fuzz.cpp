// libFuzzer target: the request parser.
// Input: byte 0 = options (bit 0: small limits, bit 1: stream bodies to a sink,
// bits 2-7: split seed), then the wire bytes. The wire is parsed whole and again split
// into pieces (some in blocks of their own); both runs must agree, and every view of
// every message is read after the input buffer is gone (ASan checks the lifetimes).
#include "split_differential.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t options = data[0];
  khz::fuzz::split_options o;
  if (options & 1) {
    o.limits.max_target_length = 32;
    o.limits.max_header_bytes = 256;
    o.limits.max_header_count = 6;
    o.limits.max_body_size = 64;
    o.limits.max_chunk_line_bytes = 32;
  }
  o.stream = (options & 2) != 0;
  o.seed = static_cast<std::uint32_t>(options >> 2) * 2654435761u + 1;
  o.max_piece = 37;
  o.block_bit = 8;
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  khz::fuzz::check_split_differential<khz::request_parser, khz::request>(wire, o, [](khz::request_parser&) {});
  return 0;
}
