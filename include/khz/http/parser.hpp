#pragma once
// Incremental, zero-copy HTTP/1.1 parsers over llhttp: request_parser (server side) and
// response_parser (client side).
//
// Input: the connection's input link_buffer. The parser reads from its front and
// consumes exactly the bytes of what it returns: when parse() says a message is
// complete, the input starts at the next message (pipelining: call parse() again at
// once, until it says need_more). A message may arrive in any number of pieces, split
// anywhere (one byte at a time included).
//
// Zero copy, and when a copy happens:
//   - While a head (start line + header section) is incomplete, its bytes stay
//     unconsumed in the input; the parser remembers how far it got and never re-reads
//     them. When the head is complete it is moved into the message with
//     link_buffer::slice() (no copy, refcounted): the message's views then outlive
//     anything done to the input afterwards.
//   - If the head straddles two blocks of the input, it is copied once into one block
//     of its own (from the block pool; at most max_header_bytes), so that every view is
//     contiguous. This is the only copy of head bytes.
//   - Bodies are never copied: Content-Length bodies are slices of the input; chunked
//     bodies are a link_buffer of slices of the chunk data (framing dropped); trailers
//     are copied (they are rare and tiny).
// Between calls the caller may append to the input and call release() on it; it must
// not consume bytes from it while a message is in progress, and must pass the same
// input buffer and the same message object until the message completes or fails.
//
// Steps: parse() returns
//   - need_more: everything available was used; call again when more bytes arrive;
//   - headers_complete: the head is in the message and a body follows. The caller may
//     now answer "100 Continue" (request::expect_continue()), reject the request (the
//     parser has already refused a Content-Length over the limit with 413), raise the
//     body limit for this message (set_body_limit()), and choose how to read the body:
//     parse() again accumulates it in message.body(); parse_body() hands it to a sink
//     piece by piece as it arrives (streaming, for large bodies);
//   - message_complete: the message is whole (a message without a body goes straight
//     from the head to here);
//   - closed: no further message may be read from this connection: the previous one
//     ended it (Connection: close, HTTP/1.0 without keep-alive, a response read until
//     close, a 101 or a successful CONNECT: what follows is another protocol);
//   - error: error() says which HTTP status to answer (400, 413, 414, 431, 501, 505)
//     and why; the connection must be closed after answering. The parser stays failed
//     until reset(). Nothing throws on the parse path.
//
// Strictness: RFC 9112 without leniency (llhttp's lenient flags are off, and the
// checks llhttp's default build does not make are made here). docs/http-conformance.md
// lists every rule with the test that covers it.
//
// How the head is read: llhttp validates its bytes and finds where it ends, reporting
// only the start line's spans; the header fields are then read from the (contiguous)
// head in one pass, 16 bytes per step, with the line rules llhttp's loose build lacks
// (CRLF only, no obs-fold, no SP in a name). Every decision about a head is taken at a
// fixed byte (the end of the target for 414, the end of the head, or the size cap), so
// it does not depend on how the input was split.

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/http/chunked.hpp>
#include <khz/http/method.hpp>
#include <khz/http/request.hpp>
#include <khz/http/response.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>

KHZ_BEGIN_NAMESPACE

// Limits on what a peer may send. Each one has its answer; the defaults suit a
// general-purpose server (see docs/http.md).
struct http_limits {
  std::size_t max_target_length = 8 * 1024;            // request-target bytes      -> 414
  std::size_t max_header_bytes = 16 * 1024;            // start line + fields + CRLF -> 431
  std::size_t max_header_count = 100;                  // header (and trailer) fields -> 431
  std::uint64_t max_body_size = 8 * 1024 * 1024;       // body bytes (any framing)   -> 413
  std::size_t max_chunk_line_bytes = 4096;             // chunk-size line with extensions -> 400
};

enum class parse_status : std::uint8_t {
  need_more,
  headers_complete,
  message_complete,
  closed,
  error,
};

struct parse_error {
  unsigned status = 0;      // the HTTP status to answer; 0 when there is no error
  const char* reason = "";  // a short static explanation (for logs, or the error body)

  explicit operator bool() const noexcept { return status != 0; }
  // errc::too_large for 413/414/431, errc::not_supported for 501/505,
  // errc::protocol_error otherwise.
  std::error_code code() const noexcept;
};

namespace detail {

struct parser_callbacks;

// The start line's spans as llhttp reports them, in pieces when a read ends inside one
// (the head region is contiguous, so a piece continues the previous one). Written by the
// hooks of khz's llhttp build, which is C: src/http/llhttp_hooks.h declares the same
// layout (struct khz_llhttp_spans), and the parser checks that the two match.
struct llhttp_spans {
  const char* method_b = nullptr;
  const char* method_e = nullptr;
  const char* target_b = nullptr;
  const char* target_e = nullptr;
  const char* version_b = nullptr;
  const char* version_e = nullptr;
  const char* reason_b = nullptr;
  const char* reason_e = nullptr;
  std::size_t max_target_length = 0;  // longer: the target is refused as soon as it ends
  unsigned char target_done = 0;      // the target has ended
  unsigned char target_too_long = 0;  // ... and was longer than max_target_length
};

// The machinery both parsers share. Not copyable or movable (llhttp's state is kept
// inline): construct a parser where it lives (a connection member, for instance).
class parser_core {
 public:
  parser_core(bool requests, const http_limits& limits) noexcept;
  ~parser_core();
  parser_core(const parser_core&) = delete;
  parser_core& operator=(const parser_core&) = delete;

  // Inline: the call that finds nothing new between messages (a pipeline's last parse).
  parse_status parse(link_buffer& in, message_base& out, request* req, response* res) {
    if (idle() && in.empty()) {
      msg_ = &out;
      req_ = req;
      res_ = res;
      return parse_status::need_more;
    }
    return parse_step(in, out, req, res);
  }
  parse_status parse_body(link_buffer& in, link_buffer& sink);
  parse_status eof();
  void reset() noexcept;

  const parse_error& error() const noexcept { return error_; }
  const http_limits& limits() const noexcept { return limits_; }
  void set_limits(const http_limits& limits) noexcept { limits_ = limits; }
  void set_body_limit(std::uint64_t bytes) noexcept;
  void set_request_method(method m) noexcept { request_method_ = m; }
  bool idle() const noexcept { return phase_ == phase::head && fed_ == 0 && owned_ == nullptr; }

 private:
  friend struct parser_callbacks;

  enum class phase : std::uint8_t { head, body_length, body_chunked, body_until_close, closed, failed };

  parse_status parse_step(link_buffer& in, message_base& out, request* req, response* res);
  parse_status parse_head(link_buffer& in);
  parse_status execute_error(int err, const char* data, std::size_t len);
  parse_status head_done(link_buffer& in, std::size_t head_len);
  parse_status finish_message();
  parse_status fail(unsigned status, const char* reason) noexcept;
  parse_status head_too_large();
  void restart_llhttp() noexcept;
  void switch_to_owned(link_buffer& in);
  std::size_t copy_more(link_buffer& in);

  alignas(8) unsigned char llhttp_[96];  // llhttp_t, kept inline (size checked in the .cpp)
  const void* fresh_llhttp_ = nullptr;    // llhttp's initial state for this kind of parser
  http_limits limits_;
  chunked_decoder chunked_;
  parse_error error_{};

  message_base* msg_ = nullptr;
  request* req_ = nullptr;
  response* res_ = nullptr;

  // Head region: contiguous bytes starting at head_begin_, fed_ of them given to llhttp.
  const char* head_begin_ = nullptr;
  std::size_t fed_ = 0;
  block* owned_ = nullptr;     // the head's own copy when it straddled input blocks
  std::size_t owned_size_ = 0;

  // Spans of the start line, written by llhttp (llhttp_t::data points here).
  llhttp_spans spans_{};
  // Where the first line after the start line begins (set when the head is complete).
  const char* line_start_ = nullptr;

  // What the header section said.
  std::uint64_t content_length_ = 0;
  std::uint64_t body_limit_ = 0;
  std::uint64_t body_remaining_ = 0;
  std::uint64_t body_received_ = 0;
  std::size_t header_count_ = 0;
  std::uint8_t host_count_ = 0;
  std::uint8_t cl_count_ = 0;
  bool te_seen_ = false;
  bool te_chunked_last_ = false;
  bool te_chunked_seen_ = false;
  bool te_other_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool conn_upgrade_ = false;
  bool closes_after_ = false;  // the connection carries nothing after this message
  bool expect_seen_ = false;
  bool expect_continue_ = false;  // the first Expect field is "100-continue"
  std::string_view upgrade_value_;
  std::string_view host_value_;  // the first Host field's value

  method request_method_ = method::get;  // response parser: the request answered
  bool requests_;
  phase phase_ = phase::head;
};

}  // namespace detail

class request_parser {
 public:
  explicit request_parser(const http_limits& limits = {}) noexcept : core_(true, limits) {}

  // Parses the next step of a request from `in` into `out` (see the file comment).
  // `out` is cleared when a new request starts.
  parse_status parse(link_buffer& in, request& out) { return core_.parse(in, out, &out, nullptr); }

  // Streaming: after headers_complete, moves the body bytes available in `in` to `sink`
  // (appended and flushed, zero copy). Returns need_more until the body is complete,
  // then message_complete (trailers are in the request given to parse()).
  parse_status parse_body(link_buffer& in, link_buffer& sink) { return core_.parse_body(in, sink); }

  // The peer closed its side: closed at a message boundary, error (400) mid-message.
  parse_status eof() { return core_.eof(); }

  // Overrides the body limit for the message being read (after headers_complete).
  void set_body_limit(std::uint64_t bytes) noexcept { core_.set_body_limit(bytes); }

  const parse_error& error() const noexcept { return core_.error(); }
  const http_limits& limits() const noexcept { return core_.limits(); }
  void set_limits(const http_limits& limits) noexcept { core_.set_limits(limits); }
  // True between messages (nothing of a next message read yet).
  bool idle() const noexcept { return core_.idle(); }
  // Forgets everything: ready for a new connection.
  void reset() noexcept { core_.reset(); }

 private:
  detail::parser_core core_;
};

class response_parser {
 public:
  explicit response_parser(const http_limits& limits = {}) noexcept : core_(false, limits) {}

  // The method of the request the next response answers (HEAD responses have no body;
  // a 2xx answer to CONNECT opens a tunnel). Set it before each request's response; it
  // holds across interim (1xx) responses.
  void set_request_method(method m) noexcept { core_.set_request_method(m); }

  // As request_parser::parse. An interim response (1xx) completes as a message of its
  // own; the final response follows.
  parse_status parse(link_buffer& in, response& out) { return core_.parse(in, out, nullptr, &out); }
  parse_status parse_body(link_buffer& in, link_buffer& sink) { return core_.parse_body(in, sink); }

  // The server closed the connection: completes a body read until close
  // (message_complete); closed at a message boundary; error mid-message.
  parse_status eof() { return core_.eof(); }

  void set_body_limit(std::uint64_t bytes) noexcept { core_.set_body_limit(bytes); }
  const parse_error& error() const noexcept { return core_.error(); }
  const http_limits& limits() const noexcept { return core_.limits(); }
  void set_limits(const http_limits& limits) noexcept { core_.set_limits(limits); }
  bool idle() const noexcept { return core_.idle(); }
  void reset() noexcept { core_.reset(); }

 private:
  detail::parser_core core_;
};

KHZ_END_NAMESPACE
