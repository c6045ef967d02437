#pragma once
// The serializer: writes responses (server) and requests (client) into a link_buffer.
// It knows nothing of sockets: the caller flushes the buffer to the wire, once per
// batch of pipelined responses.
//
// Output is appended as written-not-flushed bytes (link_buffer::append / commit); the
// caller calls out.flush() when the batch is ready. A head is written in one pass into
// one reserve of an upper bound of its size (status line from a precomputed table,
// fields, framing, cached Date, the caller's Server value). A body up to
// `copy_threshold` bytes is copied next to the head (one iovec); a larger one is linked
// into the output without a copy, and leaves the message.
//
// Framing is the serializer's job: Content-Length and Transfer-Encoding fields set by
// the caller are ignored and replaced by what the message needs:
//   - message::chunked(): "Transfer-Encoding: chunked", the body (if any) as one chunk,
//     then the last chunk with the trailers (message::trailers());
//   - otherwise "Content-Length: <body size>";
//   - responses with 1xx, 204 or 304 get neither and no body; a response to HEAD gets
//     the framing of its body but not the body.
// Connection: "close" is added when keep_alive() is false (unless the caller listed it),
// "keep-alive" for an HTTP/1.0 message that keeps the connection.
//
// Errors: a field name that is not a token, or a value (write_options::server included)
// or reason phrase holding CR, LF or another control byte (header injection), is refused with errc::invalid_argument
// and nothing is written.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/http/method.hpp>
#include <khz/http/request.hpp>
#include <khz/http/response.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

KHZ_BEGIN_NAMESPACE

// The Date field value (IMF-fixdate, RFC 9110 §5.6.7), formatted at most once a second.
// One per event loop: the loop calls update() once per iteration (cheap when the second
// has not changed) and the serializer copies the cached line.
class date_cache {
 public:
  date_cache() noexcept { update(std::chrono::system_clock::now()); }
  explicit date_cache(std::chrono::system_clock::time_point now) noexcept { update(now); }

  // Reformats when `now` is in another second than the cached value; returns whether it
  // did.
  bool update(std::chrono::system_clock::time_point now) noexcept;

  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::string_view value() const noexcept { return {line_ + 6, 29}; }
  // "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
  std::string_view field_line() const noexcept { return {line_, sizeof line_}; }

 private:
  std::int64_t second_ = INT64_MIN;
  char line_[6 + 29 + 2] = {};
};

struct write_options {
  const date_cache* date = nullptr;          // adds a Date field when the message has none
  khz::method request_method = method::get;  // responses: HEAD gets no body
  std::size_t copy_threshold = 4096;         // bodies up to this size are copied
  std::string_view server = {};              // responses: a Server field with this value when
                                             // the message has none (empty: none); not copied
  bool server_checked = false;               // the caller has checked that `server` is a valid
                                             // field value (khz::server does, once, at start):
                                             // not checked again per message
};

// Writes the whole response (head, framing, body, trailers). The body leaves `res`
// (moved into `out`, copied when small). Postcondition on success: res.body() is empty.
result<void> write_response(link_buffer& out, response& res, const write_options& options = {});

// Writes the head only, for a body the caller streams after it: with res.chunked(),
// "Transfer-Encoding: chunked" (then write_chunk()/write_last_chunk() from chunked.hpp);
// otherwise "Content-Length: content_length" when given (nothing when not: the body then
// ends with the connection, and keep_alive must be false).
result<void> write_response_head(link_buffer& out, const response& res, std::optional<std::uint64_t> content_length,
                                 const write_options& options = {});

// Writes the whole request. A request with a body, or a POST/PUT/PATCH without one,
// carries Content-Length (or chunked framing). The body leaves `req` as for responses.
result<void> write_request(link_buffer& out, request& req, const write_options& options = {});

// Same, head only (see write_response_head).
result<void> write_request_head(link_buffer& out, const request& req, std::optional<std::uint64_t> content_length);

KHZ_END_NAMESPACE
