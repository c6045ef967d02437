#include <khz/http/chunked.hpp>
#include <khz/http/detail/chars.hpp>
#include <khz/http/parser.hpp>
#include <khz/http/serializer.hpp>
#include <khz/http/status.hpp>
#include <khz/net/listener.hpp>
#include <khz/net/loop_group.hpp>
#include <khz/server/server.hpp>

#include <fmt/format.h>

#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <pthread.h>
#include <stdexcept>
#include <system_error>
#include <thread>

KHZ_BEGIN_NAMESPACE
namespace detail {

struct server_loop_state;
struct server_state;

// Per-connection HTTP state. Lives from on_open until the connection is closed AND every
// request it started has finished its chain (a suspended handler keeps it alive) AND no
// task posted for it is pending (holds).
//
// Streaming: a streamed response is written by its handler's flush() only while its
// request is at the head of the queue (queue[head]): every earlier response was written,
// and later ones wait in the queue until the stream's chain has finished. A streamed
// request body (stream_request_body) is fed from the input to body_ctx's request().body()
// while the parser is inside that body; body_ctx stays set until the body has ended,
// even after its chain finished (then the rest is read and dropped, "detached").
struct server_http_conn {
  server_http_conn(server_loop_state& l, connection& c, const http_limits& limits) : ls(&l), conn(&c), parser(limits) {}

  server_loop_state* ls;
  connection_ptr conn;
  request_parser parser;
  context* parsing = nullptr;     // the request being received
  std::vector<context*> queue;    // requests in flight, in arrival order
  std::size_t head = 0;           // first not yet answered
  std::int64_t request_started = 0;  // steady ns when the current request's first byte came; 0: none
  std::int64_t last_activity = 0;
  char peer_ip[46] = {};
  std::size_t peer_ip_len = 0;
  bool closing = false;           // read no further request; close once the queue drains
  bool closed = false;            // on_close seen
  bool continue_pending = false;  // owe a "100 Continue" once earlier responses are out
  bool parse_blocked = false;     // stopped parsing: too many requests in flight
  bool done_writing = false;      // a response announced Connection: close: write nothing more
  bool in_process = false;        // re-entrancy guard for process()
  bool peer_eof = false;          // the peer shut down its sending side
  context* body_ctx = nullptr;    // the request whose body arrives after its dispatch
  bool body_detached = false;     // its chain finished: the rest is read and dropped
  bool body_blocked = false;      // feeding stopped: the handler has not read enough
  bool process_posted = false;    // a deferred process() is queued on the loop
  unsigned holds = 0;             // posted tasks that refer to this connection
  server_http_conn* prev = nullptr;
  server_http_conn* next = nullptr;

  std::size_t in_flight() const noexcept { return queue.size() - head; }
  bool idle() const noexcept { return in_flight() == 0 && parsing == nullptr && parser.idle(); }
};

inline std::int64_t steady_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct server_loop_state {
  server_state* srv = nullptr;
  event_loop* loop = nullptr;
  date_cache date;
  std::int64_t date_checked = -1;  // loop time (steady ns) of the last date.update()
  std::vector<std::unique_ptr<context>> contexts;  // every context this loop made
  std::vector<context*> free_contexts;
  server_http_conn* conns = nullptr;                      // open or finishing connections
  std::atomic<std::size_t> conn_count{0};
  std::vector<listener*> listeners;
  bool draining = false;

  // The Date cache, re-checked against the wall clock once per loop iteration (the
  // loop's cached time moves once per iteration), not once per response.
  const date_cache* current_date() noexcept {
    const std::int64_t now = steady_ns(loop->now());
    if (now != date_checked) {
      date_checked = now;
      date.update(std::chrono::system_clock::now());
    }
    return &date;
  }

  context* acquire() {
    if (!free_contexts.empty()) {
      context* c = free_contexts.back();
      free_contexts.pop_back();
      return c;
    }
    contexts.push_back(std::make_unique<context>());
    return contexts.back().get();
  }
  void release(context* c) noexcept {
    c->end_request();
    c->set_owner(nullptr);
    free_contexts.push_back(c);
  }
  void link(server_http_conn* h) noexcept {
    h->next = conns;
    if (conns != nullptr) conns->prev = h;
    conns = h;
    conn_count.fetch_add(1, std::memory_order_relaxed);
  }
  void destroy(server_http_conn* h) noexcept {
    if (h->prev != nullptr) h->prev->next = h->next;
    if (h->next != nullptr) h->next->prev = h->prev;
    if (conns == h) conns = h->next;
    if (h->parsing != nullptr) release(h->parsing);
    if (h->body_ctx != nullptr && h->body_detached) release(h->body_ctx);
    delete h;
    conn_count.fetch_sub(1, std::memory_order_relaxed);
  }
};

struct server_state final : connection_handler, stream_backend {
  server_state(server& s, const server_options& o)
      : srv(s), opts(o), ip_rules(o.client_ip), workers(o.worker_threads) {
    limits.max_target_length = o.max_target_length;
    limits.max_header_bytes = o.max_header_bytes;
    limits.max_header_count = o.max_header_count;
    limits.max_body_size = o.max_request_body_size;
  }

  server& srv;
  const server_options& opts;
  http_limits limits;
  client_ip_resolver ip_rules;
  worker_pool workers;
  std::unique_ptr<loop_group> group;
  std::vector<std::unique_ptr<server_loop_state>> loops;
  std::vector<address> bound;
  std::atomic<bool> running{false};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable cv;
  bool stopped = false;
  std::chrono::nanoseconds sweep_period{std::chrono::seconds(1)};

  server_loop_state& state_of(const event_loop& l) noexcept {
    for (auto& ls : loops) {
      if (ls->loop == &l) return *ls;
    }
    return *loops.front();  // unreachable: every connection and listener is on one of our loops
  }
  server_loop_state& state_of(const connection& c) noexcept { return state_of(c.loop()); }

  // ------------------------------------------------------------------ connection events
  void on_open(connection& c) override {
    server_loop_state& ls = state_of(c);
    if (ls.draining) {
      c.close();
      return;
    }
    auto* h = new server_http_conn(ls, c, limits);
    h->last_activity = steady_ns(ls.loop->now());
    if (auto peer = c.peer_address(); peer && peer->is_ip()) {
      std::string ip = peer->to_string();
      // "1.2.3.4:80" / "[::1]:80" -> the address alone
      std::size_t colon = ip.rfind(':');
      std::string_view host(ip.data(), colon == std::string::npos ? ip.size() : colon);
      if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
      h->peer_ip_len = std::min(host.size(), sizeof h->peer_ip);
      host.copy(h->peer_ip, h->peer_ip_len);
    }
    c.set_user_data(h);
    ls.link(h);
  }

  void on_data(connection& c) override {
    auto* h = static_cast<server_http_conn*>(c.user_data());
    if (h == nullptr) {
      c.input().skip(c.input().size());
      return;
    }
    h->last_activity = steady_ns(h->ls->loop->now());
    process(*h);
  }

  void on_peer_shutdown(connection& c) override {
    auto* h = static_cast<server_http_conn*>(c.user_data());
    if (h == nullptr) {
      c.close();
      return;
    }
    // The peer sent everything it will send: answer what is in flight, then close. A
    // request cut short is a 400 (the parser says so). Handlers in flight see
    // cancelled(): most peers that stop sending are gone; a half-closing one still gets
    // its answers.
    for (std::size_t i = h->head; i < h->queue.size(); ++i) h->queue[i]->set_cancelled();
    h->peer_eof = true;
    if (h->body_ctx != nullptr) {
      // A streamed body may still be complete in the unparsed input (backpressure kept
      // it there): feed it; feed_body() ends it with errc::closed when it is short.
      h->closing = true;
      process(*h);
      return;
    }
    if (!h->closing && h->parsing != nullptr) {
      if (h->parser.eof() == parse_status::error) fail_request(*h, h->parser.error().status, h->parser.error().reason);
    }
    h->closing = true;
    flush_ready(*h);
  }

  void on_write_drained(connection& c) override {
    if (auto* h = static_cast<server_http_conn*>(c.user_data())) service_stream(*h);
  }

  void on_close(connection& c, std::error_code) override {
    auto* h = static_cast<server_http_conn*>(c.user_data());
    if (h == nullptr) return;
    c.set_user_data(nullptr);
    h->closed = true;
    h->closing = true;
    if (h->parsing != nullptr) {
      h->ls->release(h->parsing);
      h->parsing = nullptr;
    }
    const std::error_code gone = make_error_code(errc::closed);
    if (h->body_ctx != nullptr) {
      if (h->body_detached) {
        h->ls->release(h->body_ctx);
      } else {
        auto& rb = h->body_ctx->body_stream();
        if (!rb.complete && !rb.error) rb.error = gone;
        wake_body(*h->body_ctx);
      }
      h->body_ctx = nullptr;
      h->body_detached = false;
    }
    for (std::size_t i = h->head; i < h->queue.size(); ++i) {
      context& ctx = *h->queue[i];
      ctx.set_cancelled();
      auto& st = ctx.response_stream();
      if (st.want_flush) {
        // A handler waiting in flush() learns that nobody will read it.
        st.want_flush = false;
        if (!st.error) st.error = gone;
        wake_stream(ctx);
      }
    }
    flush_ready(*h);  // answered ones are dropped; destroys h when nothing is in flight
  }

  // ------------------------------------------------------------------ requests
  void process(server_http_conn& h) {
    if (h.in_process) return;
    h.in_process = true;
    connection& c = *h.conn;
    link_buffer& in = c.input();
    std::int64_t now = 0;
    while (!h.closed) {
      if (h.body_ctx != nullptr) {  // a streamed body goes on even when no request follows
        if (!feed_body(h)) break;
        continue;
      }
      if (h.closing) break;
      if (h.in_flight() >= opts.max_pipelined_requests) {
        h.parse_blocked = true;  // leave the bytes; read backpressure bounds the rest
        break;
      }
      if (h.parsing == nullptr) {
        if (in.empty()) break;
        h.parsing = h.ls->acquire();
        if (now == 0) now = steady_ns(h.ls->loop->now());  // the loop's time, fixed for this call
        h.request_started = now;
      }
      parse_status st = h.parser.parse(in, h.parsing->request());
      if (st == parse_status::need_more) break;
      if (st == parse_status::headers_complete) {
        if (h.parsing->request().expect_continue() && !answer_expect(h)) break;
        if (opts.stream_request_body) {
          // Dispatch now; the body follows through feed_body().
          context* ctx = std::exchange(h.parsing, nullptr);
          ctx->body_stream().streaming = true;
          ctx->body_stream().max_piece = std::max<std::size_t>(opts.stream_body_buffer, 1);
          h.body_ctx = ctx;
          h.body_detached = false;
          h.body_blocked = false;
          start_request(h, *ctx);
        }
        continue;
      }
      if (st == parse_status::message_complete) {
        context* ctx = std::exchange(h.parsing, nullptr);
        h.request_started = 0;
        start_request(h, *ctx);
        continue;
      }
      if (st == parse_status::closed) {
        h.closing = true;
        break;
      }
      fail_request(h, h.parser.error().status, h.parser.error().reason);
      break;
    }
    // Nothing more will be read from this connection.
    if (h.closing && h.body_ctx == nullptr) in.skip(in.size());
    h.in_process = false;
    flush_ready(h);
  }

  // ------------------------------------------------------------------ streamed request body
  // Moves body bytes from the input to body_ctx's request().body(). Returns false to stop
  // the process() loop: more bytes needed, backpressure, or the body failed.
  bool feed_body(server_http_conn& h) {
    context& ctx = *h.body_ctx;
    auto& rb = ctx.body_stream();
    link_buffer& sink = ctx.request().body();
    if (!h.body_detached && !rb.want_all && sink.size() >= std::max<std::size_t>(opts.stream_body_buffer, 1)) {
      // The handler has not read enough: leave the bytes in the input, where
      // max_input_bytes stops the socket reads.
      h.body_blocked = true;
      return false;
    }
    if (h.body_blocked) {
      h.body_blocked = false;
      h.request_started = steady_ns(h.ls->loop->now());  // the read deadline counts our reading time only
    }
    link_buffer& in = h.conn->input();
    const std::size_t before = sink.size();
    parse_status st = h.parser.parse_body(in, sink);
    if (h.body_detached) sink.clear();  // nobody reads it any more
    if (st == parse_status::need_more) {
      if (h.peer_eof && in.empty()) {
        end_body(h, make_error_code(errc::closed));
        return false;
      }
      if (sink.size() != before && !rb.want_all) wake_body(ctx);
      return false;
    }
    if (st == parse_status::message_complete) {
      rb.complete = true;
      end_body(h, {});
      return true;
    }
    end_body(h, h.parser.error().code());
    return false;
  }

  // The streamed body ended (complete, or failed with `ec`: then the connection closes
  // after the responses owed).
  void end_body(server_http_conn& h, std::error_code ec) {
    context* ctx = std::exchange(h.body_ctx, nullptr);
    h.body_blocked = false;
    h.request_started = 0;
    if (ec) {
      h.closing = true;
      h.conn->pause_read();
      h.continue_pending = false;
    }
    if (h.body_detached) {
      h.body_detached = false;
      h.ls->release(ctx);
      return;
    }
    if (ec) ctx->body_stream().error = ec;
    wake_body(*ctx);
  }

  // Resumes a handler waiting in read_body() / read_body_all(), from the loop's task
  // queue (never from inside a connection callback or process()).
  static void wake_body(context& ctx) {
    auto& rb = ctx.body_stream();
    if (!rb.waiter || rb.wake_posted) return;
    rb.wake_posted = true;
    ctx.loop()->post([c = &ctx] {
      auto& b = c->body_stream();
      b.wake_posted = false;
      if (auto w = std::exchange(b.waiter, {})) w.resume();  // the request is in flight until it resumes
    });
  }

  void body_wanted(context& ctx) override {
    auto& h = *static_cast<server_http_conn*>(ctx.owner());
    if (h.body_ctx != &ctx || !h.body_blocked) return;
    // Parse from the loop's task queue: the handler calling this is on the stack.
    post_process(h);
  }

  // Runs process() from the loop's task queue, then re-checks read backpressure (input
  // consumed outside on_data). The connection is kept alive until the task ran.
  void post_process(server_http_conn& h) {
    if (h.process_posted || h.closed) return;
    h.process_posted = true;
    ++h.holds;
    h.ls->loop->post([this, hp = &h] {
      server_http_conn& c = *hp;
      --c.holds;
      c.process_posted = false;
      if (c.closed) {
        flush_ready(c);  // destroys it when nothing else refers to it
        return;
      }
      process(c);
      if (c.closed) return;
      c.conn->input().release();
      if (!(c.closing && c.body_ctx == nullptr)) c.conn->resume_read();  // re-checks read backpressure
    });
  }

  // Expect: 100-continue. Returns false when the request was refused.
  bool answer_expect(server_http_conn& h) {
    unsigned verdict = opts.continue_handler ? opts.continue_handler(*h.parsing) : 0;
    if (verdict != 0) {
      fail_request(h, verdict, "expectation refused");
      return false;
    }
    if (h.in_flight() == 0) {
      write_continue(h);
    } else {
      h.continue_pending = true;  // after the earlier responses: bytes leave in order
    }
    return true;
  }

  void write_continue(server_http_conn& h) {
    h.conn->output().append("HTTP/1.1 100 Continue\r\n\r\n");
    (void)h.conn->flush();
  }

  void start_request(server_http_conn& h, context& ctx) {
    h.queue.push_back(&ctx);
    ctx.set_owner(&h);
    ctx.set_runtime(h.ls->loop, &workers);
    ctx.set_stream_backend(this);
    ctx.begin_request(std::string_view(h.peer_ip, h.peer_ip_len), &ip_rules);
    if (ctx.dispatch(srv, &server_state::chain_done, &ctx)) ctx.set_response_ready(true);
    if (!opts.keep_alive || !ctx.request().keep_alive()) h.closing = true;
  }

  static void chain_done(void* p) {
    auto* ctx = static_cast<context*>(p);
    ctx->set_response_ready(true);
    auto* h = static_cast<server_http_conn*>(ctx->owner());
    h->ls->srv->flush_ready(*h);
  }

  // A request that cannot be served: answer `status` after the earlier responses, then close.
  void fail_request(server_http_conn& h, unsigned status, std::string_view reason) {
    context* ctx = h.parsing != nullptr ? std::exchange(h.parsing, nullptr) : h.ls->acquire();
    h.request_started = 0;
    ctx->request().clear();
    ctx->set_owner(&h);
    response& res = ctx->response();
    res.clear();
    if (!is_valid_status(status)) status = 400;
    res.set_status(status);
    res.headers().set("Content-Type", "text/plain; charset=utf-8");
    res.set_body(fmt::format("{} {}: {}\n", status, reason_phrase(status), reason));
    res.set_keep_alive(false);
    ctx->set_response_ready(true);
    h.queue.push_back(ctx);
    h.closing = true;
    h.conn->pause_read();
  }

  // Writes every response ready at the head of the queue, in order.
  void flush_ready(server_http_conn& h) {
    bool wrote = false;
    while (h.head < h.queue.size() && h.queue[h.head]->response_ready()) {
      context* ctx = h.queue[h.head++];
      if (!h.closed && !h.done_writing) {
        if (ctx->streaming()) {
          end_stream(h, *ctx);
        } else {
          continue_before_answer(h, *ctx);
          write_response_of(h, *ctx);
        }
        wrote = true;
      }
      if (ctx == h.body_ctx) {
        h.body_detached = true;  // released when its body has ended
        if (h.body_blocked) post_process(h);  // nobody will read it: drop the rest now
      } else {
        h.ls->release(ctx);
      }
    }
    if (h.head == h.queue.size()) {
      h.queue.clear();
      h.head = 0;
    }
    if (h.closed) {
      if (h.in_flight() == 0 && h.holds == 0) h.ls->destroy(&h);
      return;
    }
    if (h.continue_pending) {
      // Owed to the request being received, once every earlier response is out.
      bool due = h.body_ctx != nullptr ? !h.body_detached && h.queue[h.head] == h.body_ctx
                                       : h.in_flight() == 0 && h.parsing != nullptr;
      if (due) {
        h.continue_pending = false;
        write_continue(h);
      }
    }
    service_stream(h);
    if (wrote) (void)h.conn->flush();
    if (h.done_writing || (h.closing && h.in_flight() == 0)) {
      h.conn->close();  // flushes the output first
      return;
    }
    if (h.parse_blocked && h.in_flight() < opts.max_pipelined_requests && !h.in_process) {
      h.parse_blocked = false;
      process(h);
      h.conn->resume_read();
    }
  }

  // "100 Continue" still owed to ctx goes before its final response.
  void continue_before_answer(server_http_conn& h, context& ctx) {
    if (h.continue_pending && h.body_ctx == &ctx) {
      h.continue_pending = false;
      h.conn->output().append("HTTP/1.1 100 Continue\r\n\r\n");
    }
  }

  // ------------------------------------------------------------------ streamed responses
  bool flush_stream(context& ctx, bool last) override {
    auto& h = *static_cast<server_http_conn*>(ctx.owner());
    auto& st = ctx.response_stream();
    if (h.closed || h.done_writing) {
      st.error = make_error_code(errc::closed);
      return true;
    }
    const bool turn = h.queue[h.head] == &ctx;  // ctx is in flight: head < size
    if (!turn || h.conn->pending_output() > opts.stream_write_high_water) {
      st.want_flush = true;
      st.want_last = last;
      // Serviced from on_write_drained once everything written has left (no polling).
      if (turn) h.conn->notify_drained();
      return false;
    }
    write_stream(h, ctx, last, h.queue.size() - h.head - 1);
    return true;
  }

  std::size_t pending_output(const context& ctx) const noexcept override {
    return static_cast<const server_http_conn*>(ctx.owner())->conn->pending_output();
  }

  // Performs the flush a handler waits for, when its turn came and the output allows.
  void service_stream(server_http_conn& h) {
    if (h.closed || h.head >= h.queue.size()) return;
    context& ctx = *h.queue[h.head];
    auto& st = ctx.response_stream();
    if (!st.want_flush) return;
    if (h.done_writing) {
      st.error = make_error_code(errc::closed);
    } else if (h.conn->pending_output() > opts.stream_write_high_water) {
      h.conn->notify_drained();
      return;
    } else {
      write_stream(h, ctx, st.want_last, h.queue.size() - h.head - 1);
    }
    st.want_flush = false;
    wake_stream(ctx);
  }

  static void wake_stream(context& ctx) {
    ctx.loop()->post([c = &ctx] {
      if (auto w = std::exchange(c->response_stream().waiter, {})) w.resume();  // in flight until it resumes
    });
  }

  // Writes what ctx's stream holds: the head the first time, the end of the body when
  // `last`. Precondition: every earlier response of the connection was written and the
  // connection may be written. `later`: requests in flight after this one.
  void write_stream(server_http_conn& h, context& ctx, bool last, std::size_t later) {
    auto& st = ctx.response_stream();
    response& res = ctx.response();
    const request& req = ctx.request();
    link_buffer& out = h.conn->output();
    st.buffered.flush();
    if (!st.head_sent) {
      continue_before_answer(h, ctx);
      const bool http10 = req.version() == http_version{1, 0};
      st.head_only = status_forbids_body(res.status_code()) || req.method() == method::head;
      st.unframed = st.mode == detail::response_stream_state::framing::chunked && http10 && !st.head_only;
      const bool last_one = h.closing && later == 0 && h.parsing == nullptr;
      const bool keep = opts.keep_alive && req.keep_alive() && res.keep_alive() && !last_one && !st.unframed;
      res.set_keep_alive(keep);
      res.set_chunked(st.mode == detail::response_stream_state::framing::chunked && !st.unframed);
      if (http10) res.set_version(http_version{1, 0});
      write_options wo = response_options(h, req);
      std::optional<std::uint64_t> length;
      if (st.mode == detail::response_stream_state::framing::length) length = st.content_length;
      if (auto r = write_response_head(out, res, length, wo); !r) {
        // A field the serializer refuses (header injection): answer 500 and end here.
        res.headers().clear();
        res.set_status(500);
        res.set_chunked(false);
        res.set_keep_alive(false);
        res.set_body(std::string_view("500 Internal Server Error: invalid response header\n"));
        (void)write_response(out, res, wo);
        st.head_sent = true;
        st.ended = true;
        st.error = r.error();
        st.buffered.clear();
        h.closing = true;
        h.done_writing = true;
        (void)h.conn->flush();
        return;
      }
      st.head_sent = true;
      if (!keep) h.closing = true;  // nothing after this response; done_writing at its end
    }
    if (!st.buffered.empty()) {
      st.sent += st.buffered.size();
      if (st.head_only) {
        st.buffered.clear();
      } else if (res.chunked()) {
        write_chunk(out, std::move(st.buffered));
      } else {
        out.append(std::move(st.buffered));
      }
    }
    if (last) {
      st.ended = true;
      if (st.mode == detail::response_stream_state::framing::length && !st.head_only &&
          st.sent != st.content_length) {
        // Short (or an overflowing write was refused): the framing cannot be completed.
        if (!st.error) st.error = make_error_code(errc::invalid_argument);
        h.closing = true;
        h.done_writing = true;
      } else if (res.chunked() && !st.head_only) {
        write_last_chunk(out, valid_trailers(res.trailers()) ? &res.trailers() : nullptr);
      }
      if (!res.keep_alive()) {
        h.closing = true;
        h.done_writing = true;
      }
    }
    (void)h.conn->flush();
  }

  static bool valid_trailers(const headers& t) noexcept {
    if (t.empty()) return false;
    for (const header_field& f : t) {
      if (f.name.empty()) return false;
      for (char c : f.name) {
        auto u = static_cast<unsigned char>(c);
        if (u <= ' ' || u == ':' || u == 0x7f) return false;
      }
      for (char c : f.value) {
        auto u = static_cast<unsigned char>(c);
        if ((u < ' ' && u != '\t') || u == 0x7f) return false;
      }
    }
    return true;
  }

  // The chain of a streamed response finished: end its body (when the handler did not),
  // or close after what was sent when an exception cut it short.
  void end_stream(server_http_conn& h, context& ctx) {
    auto& st = ctx.response_stream();
    if (st.failed) {
      h.closing = true;
      h.done_writing = true;  // no last chunk: the client sees the body truncated
      return;
    }
    if (!st.ended) write_stream(h, ctx, true, h.queue.size() - h.head);
  }

  // The serializer's options for a response to `req`: Date (cached per loop iteration)
  // and Server (added by the serializer when the handler set none).
  write_options response_options(server_http_conn& h, const request& req) noexcept {
    write_options wo;
    if (opts.date_header) wo.date = h.ls->current_date();
    wo.server = opts.server_name;
    wo.server_checked = true;  // server::start() refused an invalid one
    wo.request_method = req.method();
    return wo;
  }

  void write_response_of(server_http_conn& h, context& ctx) {
    response& res = ctx.response();
    const request& req = ctx.request();
    // When the connection is closing (the client asked, the server is draining, the peer
    // half-closed), only the last response announces it: earlier pipelined ones are
    // answered normally, so no request is lost.
    bool last = h.closing && h.in_flight() == 0 && h.parsing == nullptr;
    bool keep = opts.keep_alive && req.keep_alive() && res.keep_alive() && !last;
    res.set_keep_alive(keep);
    if (req.version() == http_version{1, 0}) res.set_version(http_version{1, 0});
    write_options wo = response_options(h, req);
    if (auto r = write_response(h.conn->output(), res, wo); !r) {
      // A handler set a field the serializer refuses (header injection): answer 500.
      res.clear();
      res.set_status(500);
      res.set_keep_alive(keep);
      res.set_body(std::string_view("500 Internal Server Error: invalid response header\n"));
      (void)write_response(h.conn->output(), res, wo);
    }
    if (!keep) {
      h.closing = true;
      h.done_writing = true;
    }
  }

  // ------------------------------------------------------------------ timeouts
  void schedule_sweep(server_loop_state& ls) {
    ls.loop->run_after(sweep_period, [this, &ls] {
      sweep(ls);
      if (!ls.loop->stopped()) schedule_sweep(ls);
    });
  }

  void sweep(server_loop_state& ls) {
    std::int64_t now = steady_ns(ls.loop->now());
    auto read_limit = std::chrono::duration_cast<std::chrono::nanoseconds>(opts.read_timeout).count();
    auto idle_limit = std::chrono::duration_cast<std::chrono::nanoseconds>(opts.idle_timeout).count();
    for (server_http_conn* h = ls.conns; h != nullptr;) {
      server_http_conn* next = h->next;
      if (!h->closed && !h->closing) {
        if (read_limit > 0 && h->request_started != 0 && !h->body_blocked && now - h->request_started > read_limit) {
          h->conn->abort(make_error_code(errc::timeout));  // slow peer: no answer owed
        } else if (idle_limit > 0 && h->idle() && h->conn->pending_output() == 0 &&
                   now - h->last_activity > idle_limit) {
          h->conn->close();
        }
      }
      h = next;
    }
  }

  // ------------------------------------------------------------------ shutdown
  void begin_drain(server_loop_state& ls) {
    ls.draining = true;
    for (listener* l : ls.listeners) l->close();
    ls.listeners.clear();
    for (server_http_conn* h = ls.conns; h != nullptr;) {
      server_http_conn* next = h->next;
      if (!h->closed) {
        if (h->idle()) {
          h->conn->close();
        } else {
          // In flight: finish it; the response says Connection: close.
          h->closing = true;
        }
      }
      h = next;
    }
  }

  std::size_t open_connections() const noexcept {
    std::size_t n = 0;
    for (const auto& ls : loops) n += ls->conn_count.load(std::memory_order_relaxed);
    return n;
  }
};

}  // namespace detail

// ====================================================================== server

server::server(server_options options) : router(options.router), options_(std::move(options)) {
  if (options_.addresses.empty()) {
    throw std::invalid_argument("khz::server: no listen address; set server_options::addresses");
  }
}

server::~server() {
  if (state_ && state_->running.load()) shutdown(std::chrono::milliseconds(0));
}

void server::start() {
  if (state_ && state_->running.load()) return;
  state_ = std::make_unique<detail::server_state>(*this, options_);
  auto& st = *state_;

  // The Server field's value is checked once, here, not per response.
  if (!detail::http_chars::all_of_class(options_.server_name, detail::http_chars::cc_field_vchar))
    throw std::invalid_argument("khz::server: server_name is not a valid field value (a control byte such as CR or LF)");

  // Parse every address first: a typo is reported before anything starts.
  std::vector<address> addrs;
  for (const auto& text : options_.addresses) {
    std::string why;
    auto a = address::parse(text, &why);
    if (!a) throw std::invalid_argument("khz::server: bad listen address '" + text + "': " + why);
    addrs.push_back(*a);
  }

  loop_group_options lg;
  lg.loops = options_.loops;
  lg.loop = options_.loop;
  lg.loop.kind = options_.transport;
  st.group = std::make_unique<loop_group>(lg);
  for (std::size_t i = 0; i < st.group->size(); ++i) {
    auto ls = std::make_unique<detail::server_loop_state>();
    ls->srv = &st;
    ls->loop = &st.group->loop(i);
    st.loops.push_back(std::move(ls));
  }

  // The sweep period: fine enough for the shortest timeout.
  auto shortest = std::chrono::milliseconds(1000);
  for (auto t : {options_.read_timeout, options_.idle_timeout}) {
    if (t.count() > 0) shortest = std::min(shortest, t);
  }
  st.sweep_period = std::max(std::chrono::milliseconds(5), shortest / 4);

  listen_options lo;
  lo.connection.max_input_bytes = options_.max_input_bytes;
  lo.connection.write_timeout = options_.write_timeout;
  lo.connection.read_timeout = std::chrono::milliseconds(0);  // the server's own request deadline
  lo.connection.idle_timeout = std::chrono::milliseconds(0);  // the server's own idle sweep

  // One SO_REUSEPORT listener per loop (or one that hands connections out, see
  // reuse_port); each loop keeps its own to close them when it drains.
  group_listen_options g;
  static_cast<listen_options&>(g) = lo;
  g.mode = options_.reuse_port ? accept_mode::reuse_port : accept_mode::dispatch;
  g.on_listening = [&st](event_loop& loop, listener& l) { st.state_of(loop).listeners.push_back(&l); };
  for (const address& addr : addrs) {
    g.reuse_port = options_.reuse_port && addr.is_ip();
    auto bound = st.group->listen(addr, st, g);
    if (!bound) throw std::system_error(bound.error(), "khz::server: cannot listen on " + addr.to_string());
    st.bound.push_back(*bound);
  }

  for (auto& ls : st.loops) {
    detail::server_loop_state* p = ls.get();
    p->loop->post([p, &st] { st.schedule_sweep(*p); });
  }
  st.group->start();
  st.running.store(true);
  if (options_.print_routes) std::fputs(format_routes(routes()).c_str(), stdout);
  for (auto& hook : run_hooks_) hook();
}

void server::run() {
  start();
  std::unique_lock lock(state_->mutex);
  state_->cv.wait(lock, [this] { return state_->stopped; });
}

void server::spin() {
  // Block the signals in this thread before the loops start, so every thread inherits the
  // mask and only the waiter thread receives them (with sigwait).
  sigset_t set;
  sigset_t previous;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &previous);
  start();
  std::atomic<bool> signalled{false};
  std::atomic<bool> finished{false};
  std::thread waiter([this, set, &signalled, &finished] {
    int sig = 0;
    sigwait(&set, &sig);
    if (finished.load()) return;  // woken by spin() itself after a shutdown from elsewhere
    signalled.store(true);
    shutdown();
  });
  run();
  finished.store(true);
  if (!signalled.load()) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  // Consume anything still pending before unblocking, so that it cannot kill the process.
  timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void server::shutdown() { shutdown(options_.exit_wait_timeout); }

void server::shutdown(std::chrono::milliseconds timeout) {
  if (!state_) return;
  auto& st = *state_;
  if (st.stopping.exchange(true)) {
    std::unique_lock lock(st.mutex);
    st.cv.wait(lock, [&st] { return st.stopped; });
    return;
  }
  for (auto& hook : shutdown_hooks_) hook();
  for (auto& ls : st.loops) {
    detail::server_loop_state* p = ls.get();
    p->loop->post([p, &st] { st.begin_drain(*p); });
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (st.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // What is left is force-closed by the loops as they stop; suspended handlers are
  // destroyed with their contexts below, after every thread that could resume them ended.
  st.group->stop();
  st.group->join();
  st.workers.stop();
  for (auto& ls : st.loops) {
    while (ls->conns != nullptr) ls->destroy(ls->conns);
  }
  st.running.store(false);
  {
    std::lock_guard lock(st.mutex);
    st.stopped = true;
  }
  st.cv.notify_all();
}

std::vector<address> server::listen_addresses() const { return state_ ? state_->bound : std::vector<address>{}; }

khz::transport server::transport_in_use() const {
  return state_ && state_->group ? state_->group->kind() : options_.transport;
}

bool server::running() const noexcept { return state_ && state_->running.load(); }

std::size_t server::connection_count() const noexcept { return state_ ? state_->open_connections() : 0; }

KHZ_END_NAMESPACE
