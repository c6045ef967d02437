#pragma once
// khz::context: what a server handler receives — the request, the response being built,
// the route's parameters, and the chain controls and key store of basic_context.
//
// Lifetimes:
//   - Every std::string_view a context returns (method, path, params, query and form
//     values, headers, cookies, body) points into the request or into storage the
//     context owns, and is valid until the request ends: when the chain has finished
//     and the response was handed to the connection. Copy what must outlive it
//     (std::string(ctx.param("id"))).
//   - The context object is reused for a later request. Code that may run after the
//     request ended (a detached task, a callback) must hold a context_ref, not a
//     context&: context_ref::get() throws std::logic_error saying so when the request it
//     was taken from has ended, instead of silently touching the next request.
//   - cancelled() turns true when the peer closed the connection, or shut down its
//     sending side, while the chain was running: the client is most likely gone, and a
//     handler may stop early. What it writes is sent if the connection can still carry it
//     (a half-closing client still reads), and dropped otherwise.

#include <khz/base/config.hpp>
#include <khz/core/basic_context.hpp>
#include <khz/core/body_stream.hpp>
#include <khz/core/client_ip.hpp>
#include <khz/core/cookie.hpp>
#include <khz/core/handler.hpp>
#include <khz/core/worker_pool.hpp>
#include <khz/http/request.hpp>
#include <khz/net/event_loop.hpp>
#include <khz/http/response.hpp>
#include <khz/route/router.hpp>

#include <fmt/format.h>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE

class context;
using router = basic_router<handler<context>>;
using route_group = basic_route_group<handler<context>>;

class context_ref;

class context : public basic_context<context> {
 public:
  context() = default;

  // ------------------------------------------------------------------ request side
  khz::request& request() noexcept { return request_; }
  const khz::request& request() const noexcept { return request_; }

  // The method token ("GET", "PURGE"...).
  std::string_view method() const noexcept { return request_.method_name(); }
  // The path of the request target, raw (percent-encoded as received).
  std::string_view path() const noexcept { return path_; }
  // The matched route's pattern ("/users/:id"); empty when no route matched.
  std::string_view full_path() const noexcept { return match_.full_path; }

  // A route parameter (":id" or "*rest"); empty when the route has none of that name.
  std::string_view param(std::string_view name) const noexcept;
  const route_params& params() const noexcept { return match_.params; }

  // Query string values, percent-decoded. query(): the first value of `key`, nullopt when
  // the key is absent ("?a" gives a present, empty value).
  std::optional<std::string_view> query(std::string_view key);
  std::string_view default_query(std::string_view key, std::string_view fallback);
  // Every value of `key` in order ("?tag=a&tag=b").
  std::vector<std::string_view> query_all(std::string_view key);

  // A request header (first field of that name, case-insensitive); empty when absent.
  std::string_view header(std::string_view name) const noexcept { return request_.headers().get(name); }
  // A cookie of the Cookie header; nullopt when absent.
  std::optional<std::string_view> cookie(std::string_view name) const noexcept;

  // The whole request body as one view (one copy only when it spans several blocks).
  std::string_view body();
  // The body's link_buffer (zero copy; slice() it to keep it beyond the request).
  link_buffer& body_buffer() noexcept { return request_.body(); }

  // Form values of an application/x-www-form-urlencoded body, decoded ('+' is a space);
  // nullopt when absent or when the body is not a form.
  std::optional<std::string_view> form(std::string_view key);
  std::string_view default_form(std::string_view key, std::string_view fallback);

  // The client's IP: the peer's address, or what trusted proxies forwarded (see
  // client_ip.hpp). The peer's own address is remote_ip().
  std::string_view client_ip() const noexcept;
  std::string_view remote_ip() const noexcept { return {remote_ip_, remote_ip_len_}; }

  // ------------------------------------------------------------------ response side
  khz::response& response() noexcept { return response_; }
  const khz::response& response() const noexcept { return response_; }

  context& status(unsigned code) noexcept {
    response_.set_status(code);
    return *this;
  }
  context& set_header(std::string_view name, std::string_view value) {
    response_.headers().set(name, value);
    return *this;
  }
  context& add_header(std::string_view name, std::string_view value) {
    response_.headers().add(name, value);
    return *this;
  }

  // Status, text/plain body formatted with fmt: ctx.string(200, "hello {}", name).
  template <class... Args>
  void string(unsigned code, fmt::format_string<Args...> format, Args&&... args) {
    fmt::memory_buffer out;
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
    data(code, "text/plain; charset=utf-8", std::string_view(out.data(), out.size()));
  }
  // Status, content type and a body (copied into pooled blocks).
  void data(unsigned code, std::string_view content_type, std::string_view bytes);
  // Status, content type and a body linked without a copy.
  void data(unsigned code, std::string_view content_type, link_buffer&& bytes);
  // (string() and data() after stream(): the whole answer replaces the stream when
  // nothing of it was sent yet; after its head went out it cannot, and the connection is
  // closed without ending the streamed body. recovery() relies on this.)
  // A redirect: `code` must be 3xx (throws std::invalid_argument otherwise).
  void redirect(unsigned code, std::string_view location);
  // Adds a Set-Cookie field (throws std::invalid_argument for a malformed cookie).
  void set_cookie(const khz::cookie& c);
  void no_content() noexcept;
  void not_found();
  // Sets the status and stops the chain after the current handler.
  void abort_with_status(unsigned code) noexcept {
    response_.set_status(code);
    abort();
  }
  // Status and a text body, then abort.
  void abort_with_message(unsigned code, std::string_view message);

  // ------------------------------------------------------------------ streaming
  // (semantics in body_stream.hpp)

  // Starts a streamed response: status and Content-Type now; other headers may be set
  // until the first flush(). The first form is chunked; the second promises exactly
  // `content_length` body bytes. Throws std::logic_error when this request's response
  // is already streaming.
  response_writer stream(unsigned code, std::string_view content_type);
  response_writer stream(unsigned code, std::string_view content_type, std::uint64_t content_length);
  // True once stream() was called for this request.
  bool streaming() const noexcept { return stream_.mode != detail::response_stream_state::framing::none; }

  // co_await ctx.read_body(): the next piece of the request body (a body_piece).
  body_read_awaiter read_body() noexcept { return body_read_awaiter(*this); }
  // co_await ctx.read_body_all(): waits for the rest of the body into request().body()
  // (result<void>: errc::closed / too_large / protocol_error when it cannot).
  body_read_all_awaiter read_body_all() noexcept { return body_read_all_awaiter(*this); }

  // ------------------------------------------------------------------ async
  // The event loop running this request (null in perform_request without a loop).
  event_loop* loop() const noexcept { return loop_; }

  // co_await ctx.sleep(d): suspends the handler for d without blocking the loop.
  // Throws std::logic_error when the context has no loop.
  auto sleep(std::chrono::nanoseconds d);

  // co_await ctx.offload(fn): runs fn() on the server's worker pool and resumes the
  // handler on its own loop with fn's result (or rethrows what fn threw). fn must not
  // touch the context: copy what it needs into it. Throws std::logic_error when the
  // context has no loop or pool.
  template <class F>
  auto offload(F fn);

  // ------------------------------------------------------------------ lifetime
  context_ref ref() noexcept;
  // Increases every time the context moves on to another request.
  std::uint64_t generation() const noexcept { return generation_; }
  bool cancelled() const noexcept { return cancelled_; }

  // ------------------------------------------------------------------ owner side
  // (the server, and khz::testing::perform_request)

  // Prepares the context for the request now in request(): route lookup storage, peer
  // address, client-IP rules (not owned; must outlive the context).
  void begin_request(std::string_view peer_ip, const client_ip_resolver* ip_rules) noexcept;
  // Ends the request: invalidates every context_ref and view, keeps capacity.
  void end_request() noexcept;
  void set_cancelled() noexcept { cancelled_ = true; }
  void set_runtime(event_loop* loop, worker_pool* workers) noexcept {
    loop_ = loop;
    workers_ = workers;
  }
  // A slot for the owner (the server's per-connection state) and its "response ready" mark.
  void* owner() const noexcept { return owner_; }
  void set_owner(void* owner) noexcept { owner_ = owner; }
  bool response_ready() const noexcept { return response_ready_; }
  void set_response_ready(bool ready) noexcept { response_ready_ = ready; }
  router::match_type& match() noexcept { return match_; }
  // Streaming (the server): the connection side, and the states it drives.
  void set_stream_backend(stream_backend* b) noexcept { stream_backend_ = b; }
  stream_backend* get_stream_backend() const noexcept { return stream_backend_; }
  detail::response_stream_state& response_stream() noexcept { return stream_; }
  detail::request_body_state& body_stream() noexcept { return body_; }

  // Matches the request against `r` and runs what the match calls for: the route's chain,
  // the no_route chain (404) or the no_method chain (405 with Allow), or a redirect
  // (301/308 with Location). A chain that leaves a 404/405 without a body gets the
  // default text. An exception that escapes the chain becomes a 500 (and an entry in
  // errors()). Returns true when the response is complete; otherwise done(arg) is called
  // when the last suspended handler has finished.
  bool dispatch(const router& r, void (*done)(void*) = nullptr, void* arg = nullptr);

 private:
  std::string_view store_decoded(std::string_view raw, bool plus_as_space);
  template <class Visit>
  void visit_pairs(std::string_view pairs, std::string_view key, bool plus_as_space, Visit&& visit);

  response_writer start_stream(unsigned code, std::string_view content_type, detail::response_stream_state::framing mode,
                               std::uint64_t length);
  void abandon_stream() noexcept;
  void set_content_type(std::string_view content_type);
  static void chain_finished(void* self);
  void finish_dispatch() noexcept;
  void fail_with_500(std::exception_ptr e) noexcept;

  khz::request request_;
  khz::response response_;
  router::match_type match_;
  std::string_view path_;
  std::string_view query_;  // of the target, split once by begin_request()
  std::string scratch_;  // decoding buffer, capacity reused
  const client_ip_resolver* ip_rules_ = nullptr;
  char remote_ip_[46] = {};  // INET6_ADDRSTRLEN
  std::size_t remote_ip_len_ = 0;
  std::uint64_t generation_ = 0;
  bool cancelled_ = false;
  void (*owner_done_)(void*) = nullptr;
  void* owner_arg_ = nullptr;
  event_loop* loop_ = nullptr;
  worker_pool* workers_ = nullptr;
  void* owner_ = nullptr;
  bool response_ready_ = false;
  stream_backend* stream_backend_ = nullptr;
  detail::response_stream_state stream_;
  detail::request_body_state body_;
};

// A checked handle to a context, for code that may run after the request ended.
class context_ref {
 public:
  context_ref() noexcept = default;
  context_ref(context& ctx) noexcept : ctx_(&ctx), generation_(ctx.generation()) {}

  // True while the request this handle was taken from is still running.
  bool valid() const noexcept { return ctx_ != nullptr && ctx_->generation() == generation_; }
  // The context; throws std::logic_error when the request has ended.
  context& get() const {
    if (!valid()) {
      throw std::logic_error(
          "khz: context used after its request ended (the context now serves another request or "
          "none); copy what you need (std::string(ctx.param(...)), body_buffer().slice(...)) before the "
          "handler returns, or finish the work inside the chain with co_await");
    }
    return *ctx_;
  }
  context* operator->() const { return &get(); }

 private:
  context* ctx_ = nullptr;
  std::uint64_t generation_ = 0;
};

inline context_ref context::ref() noexcept { return context_ref(*this); }

namespace detail {
[[noreturn]] void throw_no_runtime(const char* what);
}  // namespace detail

inline auto context::sleep(std::chrono::nanoseconds d) {
  struct awaiter {
    event_loop* loop;
    std::chrono::nanoseconds delay;
    bool await_ready() const noexcept { return delay.count() <= 0; }
    void await_suspend(std::coroutine_handle<> h) const {
      loop->run_after(delay, [h] { h.resume(); });
    }
    void await_resume() const noexcept {}
  };
  if (loop_ == nullptr) detail::throw_no_runtime("sleep");
  return awaiter{loop_, d};
}

template <class F>
auto context::offload(F fn) {
  using result_type = std::invoke_result_t<F&>;
  using stored = std::conditional_t<std::is_void_v<result_type>, bool, result_type>;
  // Lives in the coroutine frame while suspended: the worker writes the result into it,
  // then posts the resumption to the loop (happens-before via the loop's queue).
  struct awaiter {
    event_loop* loop;
    worker_pool* pool;
    F fn;
    std::optional<stored> value{};
    std::exception_ptr error{};
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      bool queued = pool->submit([this, h] {
        try {
          if constexpr (std::is_void_v<result_type>) {
            fn();
            value.emplace(true);
          } else {
            value.emplace(fn());
          }
        } catch (...) {
          error = std::current_exception();
        }
        loop->post([h] { h.resume(); });
      });
      if (!queued) {
        error = std::make_exception_ptr(std::system_error(make_error_code(errc::cancelled), "worker pool stopped"));
        loop->post([h] { h.resume(); });
      }
    }
    result_type await_resume() {
      if (error) std::rethrow_exception(error);
      if constexpr (!std::is_void_v<result_type>) return std::move(*value);
    }
  };
  if (loop_ == nullptr || workers_ == nullptr) detail::throw_no_runtime("offload");
  return awaiter{loop_, workers_, std::move(fn)};
}

KHZ_END_NAMESPACE
