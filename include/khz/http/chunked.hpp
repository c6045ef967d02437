#pragma once
// The chunked transfer coding (RFC 9112 §7.1): a strict incremental decoder and the
// encoder helpers the serializer uses.
//
// Decoder: a byte-exact state machine that never copies chunk data. Each call to
// next() looks at the front of the bytes not yet decoded and reports how many of them
// are framing (to drop) and how many are data that follow (to slice into the body);
// the caller consumes exactly skip + data bytes and calls again with what follows.
// Chunk extensions are checked for syntax and ignored; trailer field lines are checked
// and collected (copied: they are rare and small) into trailer_section().
// Strictness: hex digits only, no sign, no "0x", no overflow of 64 bits, CRLF after the
// size line and after the data (no bare CR or LF), extensions per the RFC grammar,
// trailer names that are tokens directly followed by ':', trailer values without
// control bytes, no obs-fold.

#include <khz/base/config.hpp>
#include <khz/buffer/link_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

class headers;

struct chunked_limits {
  std::size_t max_line_bytes = 4096;          // chunk-size line, extensions included (400)
  std::size_t max_trailer_bytes = 16 * 1024;  // trailer section (431)
  std::size_t max_trailer_count = 100;        // trailer fields (431)
  std::uint64_t max_body_size = UINT64_MAX;   // sum of chunk sizes (413, before reading)
};

class chunked_decoder {
 public:
  enum class status : std::uint8_t {
    more,   // call again with the bytes after skip + data (the input may be exhausted)
    done,   // the last chunk and the trailer section ended with the step's bytes
    error,  // see error_status() / error_reason(); the decoder stays in error
  };
  struct step {
    std::size_t skip = 0;  // framing bytes at the front of the input: consume and drop
    std::size_t data = 0;  // body bytes right after them: consume into the body
    status st = status::more;
  };

  chunked_decoder() = default;
  explicit chunked_decoder(const chunked_limits& limits) : limits_(limits) {}

  // Decodes from the front of `in` (bytes not given before). Stops after the first run
  // of data, at the end of the message, at an error, or when `in` is exhausted.
  step next(std::string_view in);

  // Back to the start of a chunked body (the limits stay); keeps the trailer capacity.
  void reset() noexcept;
  void set_limits(const chunked_limits& limits) noexcept { limits_ = limits; }

  // Raw trailer field lines ("Name: value\r\n"...), complete once next() said done.
  std::string_view trailer_section() const noexcept { return trailers_; }
  // Appends the trailer fields (copied) to `out`.
  void copy_trailers(headers& out) const;

  std::uint64_t body_bytes() const noexcept { return total_; }
  unsigned error_status() const noexcept { return error_status_; }  // 400, 413 or 431
  const char* error_reason() const noexcept { return error_reason_; }

 private:
  enum class st : std::uint8_t {
    size_first, size, ext_before_semi, ext_name_start, ext_name, ext_after_name, ext_value_start,
    ext_token, ext_quoted, ext_quoted_escape, ext_after_value, size_lf, data, data_cr, data_lf,
    trailer_start, trailer_name, trailer_value, trailer_lf, final_lf, done, error,
  };
  step fail(step s, unsigned code, const char* reason) noexcept;

  chunked_limits limits_{};
  std::string trailers_;
  std::uint64_t chunk_size_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t total_ = 0;
  std::size_t line_bytes_ = 0;
  std::size_t trailer_count_ = 0;
  const char* error_reason_ = "";
  unsigned error_status_ = 0;
  st state_ = st::size_first;
};

// Encoder helpers: append to `out` (written, not flushed).
// "<hex size>\r\n" (a zero size is the caller's business: use write_last_chunk).
void write_chunk_size(link_buffer& out, std::size_t size);
// One chunk holding `data` (nothing when data is empty: an empty chunk would end the body).
void write_chunk(link_buffer& out, std::string_view data);
// One chunk linking `data` without a copy.
void write_chunk(link_buffer& out, link_buffer&& data);
// "0\r\n", the trailer fields if any, "\r\n".
void write_last_chunk(link_buffer& out, const headers* trailers = nullptr);

KHZ_END_NAMESPACE
