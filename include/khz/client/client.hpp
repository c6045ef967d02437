#pragma once
// khz::client: an HTTP/1.1 client with per-loop connection pools, retries, redirects,
// deadlines, streamed bodies and client middleware.
//
//   khz::client c;                                       // options: see options.hpp
//   auto r = c.fetch(khz::method::get, "http://127.0.0.1:8080/");   // blocking (outside loops)
//   if (r) std::cout << r->status_code();                // r.value() throws instead
//
//   // inside a server handler (stays on the handler's loop, uses that loop's pool):
//   auto r = co_await up.get("http://10.0.0.2/api");
//
// Loops. Every call runs on an event loop and uses that loop's own pools: no lock, no
// thread hop. The client owns one loop thread (started by the constructor) that the
// blocking calls (fetch, run) use. A coroutine call (get/post/.../send/stream) must run on
// a loop thread: the client's own loop, or any running event_loop (a server handler's
// loop, found through event_loop::current(); the first call on a loop sets up its pools).
// attach(loop) does that set-up ahead of time (optional). Calling from a thread that runs
// no loop throws std::logic_error saying so.
//
// Results. A call gives result<response>: the response (any status, 4xx/5xx included), or
// an error code saying what failed: khz::errc (dns, timeout, too_large, protocol_error,
// pool_full, not_supported for https, invalid_argument for a bad URL, cancelled) or
// khz::client_errc (connect_failed, connection_reset, too_many_redirects, redirect_loop,
// body_not_replayable); failure_class() names the class. result::value() throws
// std::system_error: the throwing convenience.
//
// Lifetimes. A response owns its head and its body (zero-copy slices of the received
// blocks) and may move to any thread. A response_stream must be read and destroyed on the
// loop that produced it. The client must outlive its calls, and attached loops must be
// stopped before the client is destroyed (their pooled connections belong to the client).
//
// Middleware: use() adds handlers of type handler<client_context>, the server's chain type
// over basic_context, so middleware written against basic_context installs on both. The
// chain runs once per call, around retries and redirects; the last link sends.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/client/body.hpp>
#include <khz/client/client_error.hpp>
#include <khz/client/options.hpp>
#include <khz/client/url.hpp>
#include <khz/core/basic_context.hpp>
#include <khz/core/handler.hpp>
#include <khz/core/task.hpp>
#include <khz/http/method.hpp>
#include <khz/http/request.hpp>
#include <khz/http/response.hpp>
#include <khz/net/event_loop.hpp>
#include <khz/net/move_function.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

class client;

namespace detail {
struct client_impl;
struct client_loop_state;
struct client_stream_state;
}  // namespace detail

// Per-call settings on top of the client's options.
struct send_options {
  body_source body{};
  // Overrides client_options::deadline for this call (zero: none).
  std::optional<std::chrono::milliseconds> deadline;
  // Allows (true) or forbids (false) retries whatever the method says.
  std::optional<bool> idempotent;
  std::optional<unsigned> max_redirects;
};

// A response whose body is read piece by piece (client::stream). head() is the status and
// header fields; read() returns the next piece of the body (zero-copy slices), an empty
// buffer once the body has ended (then the connection has gone back to the pool), or an
// error. Backpressure: nothing more is read from the socket than max_input_bytes until
// read() is called again. Destroying the stream before the end closes the connection.
// Use it on the loop that produced it only.
class response_stream {
 public:
  response_stream() noexcept = default;
  response_stream(response_stream&& o) noexcept;
  response_stream& operator=(response_stream&& o) noexcept;
  ~response_stream();

  // Status and fields; the trailers too once the body has ended.
  response& head() noexcept { return *head_; }
  const response& head() const noexcept { return *head_; }
  // True once read() returned the end of the body (or an error).
  bool done() const noexcept { return state_ == nullptr; }

  task<result<link_buffer>> read();

 private:
  friend struct detail::client_impl;
  // On the heap: the connection's parser keeps its address while the body is read, and
  // the stream object itself moves.
  std::unique_ptr<response> head_ = std::make_unique<response>();
  detail::client_stream_state* state_ = nullptr;
};

// The context a client middleware sees: the request to send (editable before next()),
// the outcome after next() finished, and the basic_context chain/keys/errors.
class client_context : public basic_context<client_context> {
 public:
  request& req() noexcept { return req_; }
  const url& target() const noexcept { return url_; }
  send_options& options() noexcept { return opts_; }
  // After next() finished: the outcome of the client_exchange (with retries and redirects).
  result<response>& outcome() noexcept { return outcome_; }
  // Ends the call with `ec` without sending (call abort() too, or do not call next()).
  void fail(std::error_code ec) { outcome_ = ec; }
  event_loop& loop() const noexcept { return *loop_; }
  client& owner() const noexcept { return *owner_; }

 private:
  friend struct detail::client_impl;
  request req_;
  url url_;
  send_options opts_;
  result<response> outcome_{errc::cancelled};
  event_loop* loop_ = nullptr;
  client* owner_ = nullptr;
};

// Counters of one loop's pools (read on that loop's thread).
struct client_pool_stats {
  std::size_t open = 0;     // connections open or dialing
  std::size_t idle = 0;     // of which idle in a pool
  std::uint64_t dialed = 0; // connections dialed so far
  std::uint64_t reused = 0; // requests sent on a pooled connection
  std::uint64_t stale_retries = 0;  // requests retried after a reused connection failed
  std::uint64_t discarded = 0;      // pooled connections dropped (dead, unsolicited bytes, too old)
};

class client {
 public:
  explicit client(client_options options = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  const client_options& options() const noexcept { return options_; }

  // Adds a middleware (before any call is made).
  void use(handler<client_context> h);

  // Makes `loop` usable for coroutine calls made on its thread (see the file comment).
  void attach(event_loop& loop);

  // ------------------------------------------------ coroutine calls (on a known loop)
  // (No defaulted class-type arguments here on purpose: g++ 12 mishandles a temporary
  // created for a default argument inside a co_await expression; the overloads without
  // options create theirs inside the call.)
  task<result<response>> get(std::string_view url);
  task<result<response>> get(std::string_view url, send_options o);
  task<result<response>> head(std::string_view url);
  task<result<response>> head(std::string_view url, send_options o);
  task<result<response>> del(std::string_view url);
  task<result<response>> del(std::string_view url, send_options o);
  task<result<response>> post(std::string_view url, body_source body);
  task<result<response>> post(std::string_view url, body_source body, send_options o);
  task<result<response>> put(std::string_view url, body_source body);
  task<result<response>> put(std::string_view url, body_source body, send_options o);
  // Any request: its target is the absolute URL ("http://host/path"); its header fields
  // and body (or o.body) are sent.
  task<result<response>> send(request req);
  task<result<response>> send(request req, send_options o);
  // The same, with the body streamed (see response_stream). Redirects are followed and
  // retries made before the head is returned; the body is then the caller's to read.
  task<result<response_stream>> stream(request req);
  task<result<response_stream>> stream(request req, send_options o);

  // ------------------------------------------------ blocking (outside any loop)
  // Runs the call on the client's own loop thread and waits. Throws std::logic_error when
  // called on that thread (it would wait for itself).
  result<response> fetch(request req, send_options o = {});
  result<response> fetch(method m, std::string_view url, send_options o = {});
  // Runs `fn()` as a coroutine on the client's loop and waits for it to finish
  // (rethrowing what it threw): for several calls or a streamed body from plain code.
  void run(detail::move_function<task<>()> fn);

  // ------------------------------------------------ pools
  // Closes the idle pooled connections of the calling loop (on a known loop thread), or of
  // the client's own loop when called from elsewhere (then blocking).
  void drain();
  // The calling loop's counters (on a known loop thread; from elsewhere: the own loop's).
  client_pool_stats pool_stats();

  // The client's own loop (for tests and tools).
  event_loop& own_loop() noexcept;

 private:
  client_options options_;
  std::unique_ptr<detail::client_impl> impl_;
};

// A request for `url` with method `m` (target = the URL as given).
request make_request(method m, std::string_view url);

KHZ_END_NAMESPACE
