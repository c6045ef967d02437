#pragma once
// Streaming bodies, both ways. The entry points are on khz::context:
//
//   Response (a coroutine handler):
//     auto w = c.stream(200, "text/plain");             // chunked; or stream(200, type, length)
//     w.write("piece");                                 // buffered (copied, or linked: link_buffer&&)
//     if (auto r = co_await w.flush(); !r) co_return;   // errc::closed: the client is gone
//     co_await w.finish();                              // the end of the body (optional, see below)
//
//   Request body, with server_options::stream_request_body on:
//     for (;;) {
//       khz::body_piece p = co_await c.read_body();
//       if (p.error) { c.string(400, "{}", p.error.message()); co_return; }
//       consume(p.data);                                // zero-copy slices of the input
//       if (p.last) break;
//     }
//
// Response semantics:
//   - write() buffers in the context; nothing reaches the connection before flush().
//   - flush() hands the buffered bytes to the connection (the status line and headers
//     first time: set them before the first flush). It suspends while the response may not
//     go on the wire yet: responses leave in request order, so a stream waits until every
//     earlier response of its connection was written (and later ones wait until the
//     stream has ended); and while the connection's unsent output is above the server's
//     high-water mark (a slow reader): memory stays bounded by configuration.
//     It returns errc::closed when the connection closed (the client is gone): stop then.
//   - finish() writes what is buffered and ends the body (chunked: the last chunk, with
//     the trailers set in response().trailers()). When the chain ends without finish(),
//     the server finishes the stream itself. After finish() nothing more may be written.
//   - A known length (stream(code, type, length)) is a contract: writing more than
//     `length` bytes, or ending with fewer, fails with errc::invalid_argument and the
//     connection is closed after what was sent (the framing cannot be repaired: the
//     client sees a truncated body).
//   - A response to HEAD, and a 204/304, gets the head only: written bytes are dropped.
//   - An HTTP/1.0 client cannot take chunked framing: a chunked stream is sent to it
//     unframed and the connection is closed at its end.
//   - An exception escaping the chain (or an answer set with string()/data(), as
//     recovery() does) after the head went out closes the connection without ending the
//     body: the client sees it truncated. Before that, the whole answer replaces the
//     stream (a 500 for an exception).
//
// Request body semantics (server_options::stream_request_body):
//   - The request is dispatched as soon as its head is complete; read_body() returns the
//     bytes received since the previous call (at most stream_body_buffer of them), waiting
//     when there are none yet. The last piece has last == true (its data may be empty). An error (errc::closed: the client
//     closed before the end; errc::too_large: the body passed max_request_body_size;
//     errc::protocol_error: bad chunked framing) comes after the bytes received before it;
//     the connection is closed after the handler's response.
//   - Read backpressure: while the bytes received and not yet read reach
//     server_options::stream_body_buffer, the server stops parsing the body; the bytes stay
//     in the connection's input and the socket is no longer read once that input reaches
//     max_input_bytes. The bytes held for the handler stay under about stream_body_buffer
//     + max_input_bytes, whatever the size of the body (with io_uring, add what the
//     kernel delivered before the reads could be stopped: see docs/server.md).
//   - read_body_all() waits for the rest of the body and leaves it in request().body()
//     (then body(), form()... work as usual): it buffers the whole body, up to the limit.
//   - A handler that ends without reading the whole body: the rest is read and dropped
//     (bounded by max_request_body_size) before the next request of the connection is
//     parsed; the response does not wait for it.
//   - Without the option (the default), the body is complete before dispatch: read_body()
//     returns it as one last piece, read_body_all() returns at once.
//
// Lifetimes: a response_writer is a handle on its context's stream; using it after the
// request ended throws std::logic_error (as context_ref does). Pieces are link_buffer
// slices: they own their bytes and may outlive the request.
//
// Without a server (khz::testing::perform_request) the stream collects into
// response().body() and flush() never waits; read_body() hands out request().body().

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>
#include <khz/base/result.hpp>
#include <khz/buffer/link_buffer.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

KHZ_BEGIN_NAMESPACE

class context;

// One piece of a streamed request body.
struct body_piece {
  link_buffer data;       // the bytes received since the previous read (may be empty when last or error)
  bool last = false;      // the body is complete: nothing follows
  std::error_code error;  // the body cannot be read further (see the file comment); data is then empty
};

// The connection side of streaming, implemented by the server for each request it runs
// (core does not depend on the server) and set with context::set_stream_backend().
class stream_backend {
 public:
  // Hands the buffered bytes of ctx's response stream to the connection (the head the
  // first time; the end of the body when `last`). Returns true when done (the stream
  // state's error says whether it failed). Returns false when the response must wait
  // (see "Response semantics"): the backend has then recorded the request (want_flush)
  // and later writes and resumes the stream state's waiter itself, never from inside
  // this call.
  virtual bool flush_stream(context& ctx, bool last) = 0;
  // Bytes written to ctx's connection and not yet taken by the kernel.
  virtual std::size_t pending_output(const context& ctx) const noexcept = 0;
  // The handler took body bytes or waits for more: resume feeding the body if it stopped.
  virtual void body_wanted(context& ctx) = 0;

 protected:
  ~stream_backend() = default;
};

namespace detail {

// The response stream of one request (owned by its context).
struct response_stream_state {
  enum class framing : std::uint8_t { none, chunked, length };
  framing mode = framing::none;  // none: not streaming
  bool head_sent = false;
  bool ended = false;       // the body was ended (or failed): nothing more goes out
  bool want_flush = false;  // a flush() waits for the backend
  bool want_last = false;   // ... and it is finish()
  bool failed = false;      // an exception escaped the chain after the head went out
  bool head_only = false;   // HEAD, 1xx/204/304: the head carries no body, written bytes are dropped
  bool unframed = false;    // chunked asked, HTTP/1.0 client: sent raw, ended by closing
  std::uint64_t content_length = 0;
  std::uint64_t sent = 0;   // body bytes handed to the connection (or counted, for HEAD)
  link_buffer buffered;     // written, not yet flushed
  std::error_code error;    // sticky
  std::coroutine_handle<> waiter;

  void reset() noexcept {
    mode = framing::none;
    head_sent = ended = want_flush = want_last = failed = head_only = unframed = false;
    content_length = sent = 0;
    buffered.clear();
    error = {};
    waiter = {};
  }
};

// The request body as the handler reads it (owned by its context). The bytes received
// and not yet read are in request().body().
struct request_body_state {
  bool streaming = false;  // the body arrives after dispatch
  bool complete = false;   // every byte was received
  bool want_all = false;   // read_body_all(): no backpressure, wake at the end only
  bool wake_posted = false;
  std::error_code error;   // reading failed (after the bytes in request().body())
  std::uint64_t taken = 0; // bytes handed out by read_body()
  std::size_t max_piece = 0;  // largest piece read_body() hands out (0: no cap)
  std::coroutine_handle<> waiter;

  void reset() noexcept {
    streaming = complete = want_all = wake_posted = false;
    error = {};
    taken = 0;
    max_piece = 0;
    waiter = {};
  }
};

}  // namespace detail

// co_await w.flush() / w.finish(): result<void>.
class stream_flush_awaiter {
 public:
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) noexcept;
  result<void> await_resume() noexcept;

 private:
  friend class response_writer;
  stream_flush_awaiter(context& ctx, bool last) noexcept : ctx_(&ctx), last_(last) {}
  context* ctx_;
  bool last_;
};

// co_await c.read_body(): body_piece.
class body_read_awaiter {
 public:
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) noexcept;
  body_piece await_resume();

 private:
  friend class context;
  explicit body_read_awaiter(context& ctx) noexcept : ctx_(&ctx) {}
  context* ctx_;
};

// co_await c.read_body_all(): result<void>; the body is then in request().body().
class body_read_all_awaiter {
 public:
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) noexcept;
  result<void> await_resume() noexcept;

 private:
  friend class context;
  explicit body_read_all_awaiter(context& ctx) noexcept : ctx_(&ctx) {}
  context* ctx_;
};

// A handle on the response stream of a request (see the file comment). Cheap to copy.
class response_writer {
 public:
  response_writer() noexcept = default;

  // Buffers bytes (copied) / links them (no copy). Never suspends. After an error, after
  // finish(), or past a known length, the bytes are dropped and the error is returned
  // by the next flush()/finish().
  void write(std::string_view bytes);
  void write(link_buffer&& bytes);

  // Sends what is buffered (see the file comment); result: ok, or errc::closed /
  // errc::invalid_argument.
  [[nodiscard]] stream_flush_awaiter flush();
  // Sends what is buffered and ends the body.
  [[nodiscard]] stream_flush_awaiter finish();

  // Bytes buffered since the last flush.
  std::size_t buffered() const;
  // Body bytes handed to the connection so far.
  std::uint64_t bytes_sent() const;
  // Bytes of the connection's output not yet taken by the kernel (0 without a server).
  std::size_t pending_output() const;
  // The sticky error, if any.
  std::error_code error() const;
  // True while the request this writer belongs to is running.
  bool valid() const noexcept;

 private:
  friend class context;
  explicit response_writer(context& ctx) noexcept;
  context& ctx() const;  // throws std::logic_error once the request ended

  context* ctx_ = nullptr;
  std::uint64_t generation_ = 0;
};

KHZ_END_NAMESPACE
