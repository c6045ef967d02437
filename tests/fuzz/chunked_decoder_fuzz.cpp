// libFuzzer target: the chunked decoder and encoder.
// Input: byte 0 = split seed, then either a chunked body to decode (byte 1 even) or
// data to encode and decode back (byte 1 odd). Decoding whole and in pieces must give
// the same data, trailers, end and leftover; an encoded body must decode to its data.
#include <khz/buffer/link_buffer.hpp>
#include <khz/http/chunked.hpp>
#include <khz/http/headers.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using namespace khz;

std::string decode(std::string_view wire, std::uint32_t seed, bool split) {
  chunked_limits limits;
  limits.max_body_size = 1 << 20;
  limits.max_line_bytes = 64;
  limits.max_trailer_bytes = 512;
  limits.max_trailer_count = 8;
  chunked_decoder d(limits);
  std::string data;
  std::string pending;
  std::size_t pos = 0;
  for (;;) {
    if (pos < wire.size()) {
      std::size_t n = wire.size() - pos;
      if (split) {
        seed = seed * 1103515245u + 12345u;
        n = std::min<std::size_t>(n, 1 + (seed >> 16) % 23);
      }
      pending.append(wire.substr(pos, n));
      pos += n;
    }
    while (!pending.empty()) {
      chunked_decoder::step s = d.next(pending);
      if (s.skip + s.data > pending.size()) std::abort();
      if (s.st == chunked_decoder::status::error) return data + "\nerror " + std::to_string(d.error_status());
      data.append(pending, s.skip, s.data);
      pending.erase(0, s.skip + s.data);
      if (s.st == chunked_decoder::status::done) {
        headers h;
        d.copy_trailers(h);
        std::string t;
        for (const header_field& f : h) t.append(f.name).append("=").append(f.value).append(";");
        return data + "\ndone " + t + " left " + std::to_string(pending.size() + wire.size() - pos);
      }
    }
    if (pos >= wire.size()) return data + "\nincomplete";
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t seed = bytes[0];
  const bool encode = (bytes[1] & 1) != 0;
  std::string_view input(reinterpret_cast<const char*>(bytes + 2), size - 2);
  if (encode) {
    // Cut the data into chunks at seed-chosen places, encode, decode whole.
    link_buffer out;
    std::uint32_t s = seed + 1;
    std::size_t pos = 0;
    while (pos < input.size()) {
      s = s * 1103515245u + 12345u;
      std::size_t n = std::min<std::size_t>(input.size() - pos, 1 + (s >> 16) % 300);
      write_chunk(out, input.substr(pos, n));
      pos += n;
    }
    headers trailers;
    trailers.add("X-Len", std::to_string(input.size()));
    write_last_chunk(out, &trailers);
    out.flush();
    std::string wire = out.read_string(out.size());
    std::string expect = std::string(input) + "\ndone X-Len=" + std::to_string(input.size()) + "; left 0";
    if (decode(wire, seed, false) != expect || decode(wire, seed, true) != expect) std::abort();
    return 0;
  }
  std::string whole = decode(input, seed, false);
  std::string split = decode(input, seed, true);
  if (whole != split) {
    std::fprintf(stderr, "whole:\n%s\nsplit:\n%s\n", whole.c_str(), split.c_str());
    std::abort();
  }
  return 0;
}
