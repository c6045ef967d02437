#pragma once
// server_options: everything a khz::server can be told, with its default. Set fields
// directly or chain the with_* setters:
//   khz::server s(khz::server_options{}.with_address("127.0.0.1:8080").with_loops(2));

#include <khz/base/config.hpp>
#include <khz/core/client_ip.hpp>
#include <khz/net/event_loop.hpp>
#include <khz/net/transport.hpp>
#include <khz/route/route_match.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

KHZ_BEGIN_NAMESPACE

class context;

struct server_options {
  using ms = std::chrono::milliseconds;

  // Where to listen: "host:port", "[v6]:port", "unix:/path". Several at once are fine.
  // Port 0 picks a free port (see server::listen_addresses()).
  std::vector<std::string> addresses{"0.0.0.0:8888"};
  // Event loops (threads); 0: one per core.
  std::size_t loops = 0;
  // epoll, io_uring, or auto (io_uring when the kernel allows it, else epoll).
  khz::transport transport = transport::auto_select;
  // Tuning of every event loop (epoll events per wait; io_uring queue size and ring of
  // receive buffers, see docs/net.md). `transport` above decides the backend: loop.kind is
  // ignored.
  loop_options loop{};
  // Each loop binds its own SO_REUSEPORT listener (kernel load balancing); false: one
  // listener whose loop hands connections out round-robin.
  bool reuse_port = true;

  // Time allowed to receive a whole request (head and body) once its first byte arrived;
  // a slow peer (slowloris) is closed when it passes. 0: no limit.
  ms read_timeout{std::chrono::minutes(3)};
  // A keep-alive connection with no request in progress is closed after this. 0: never.
  ms idle_timeout{std::chrono::minutes(3)};
  // Output pending without progress for this long closes the connection. 0: never.
  ms write_timeout{std::chrono::minutes(1)};
  // Keep connections open between requests (HTTP/1.1 keep-alive).
  bool keep_alive = true;

  // Request-target bytes (longer: 414).
  std::size_t max_target_length = 8 * 1024;
  // Request line + header section bytes (larger: 431).
  std::size_t max_header_bytes = 16 * 1024;
  // Header fields (more: 431).
  std::size_t max_header_count = 100;
  // Request body bytes (larger: 413, before the body is read when Content-Length says so).
  std::uint64_t max_request_body_size = 4 * 1024 * 1024;
  // Requests of one connection in flight at once (pipelining); beyond it the server reads
  // no further until responses have gone out.
  std::size_t max_pipelined_requests = 64;
  // Unconsumed input bytes after which a connection is not read until they are consumed.
  std::size_t max_input_bytes = 1024 * 1024;

  // Streaming (see core/body_stream.hpp and docs/server.md, "Streaming").
  // Off: a request is dispatched once its whole body was received (body() is complete).
  // On: a request with a body is dispatched as soon as its head is complete, and the
  // handler reads the body as it arrives with co_await ctx.read_body() (or waits for all
  // of it with read_body_all()); an unread rest is read and dropped after the handler.
  bool stream_request_body = false;
  // Streamed request body bytes received and not yet read by the handler at which the
  // server stops parsing the body (read backpressure; the socket stops being read once
  // max_input_bytes more are waiting in the input).
  std::size_t stream_body_buffer = 256 * 1024;
  // Unsent output bytes of a connection above which a streamed response's flush() waits
  // for the client to read.
  std::size_t stream_write_high_water = 256 * 1024;

  // Time shutdown() lets in-flight requests finish before closing what is left.
  ms exit_wait_timeout{std::chrono::seconds(5)};
  // "Server: <name>" on every response; empty: no Server field.
  std::string server_name = "khz";
  // A Date field on every response (cached, refreshed once a second per loop).
  bool date_header = true;

  // Threads of the pool ctx.offload() runs on; 0: one per core.
  std::size_t worker_threads = 0;
  // Router behaviour (redirects, 405, raw path...).
  router_options router{};
  // Which peers' forwarding headers client_ip() believes.
  client_ip_options client_ip{};
  // Print the route table to stdout when the server starts.
  bool print_routes = false;
  // Asked for each request with "Expect: 100-continue": return 0 to answer 100 Continue
  // and read the body, or a final status (417, 401, 413...) to refuse it without reading
  // the body. Default: always continue.
  std::function<unsigned(const context&)> continue_handler;

  server_options& with_address(std::string a) {
    addresses = {std::move(a)};
    return *this;
  }
  server_options& with_addresses(std::vector<std::string> a) {
    addresses = std::move(a);
    return *this;
  }
  server_options& with_loops(std::size_t n) { loops = n; return *this; }
  server_options& with_transport(khz::transport t) { transport = t; return *this; }
  server_options& with_loop_options(const loop_options& o) { loop = o; return *this; }
  server_options& with_reuse_port(bool on) { reuse_port = on; return *this; }
  server_options& with_read_timeout(ms t) { read_timeout = t; return *this; }
  server_options& with_idle_timeout(ms t) { idle_timeout = t; return *this; }
  server_options& with_write_timeout(ms t) { write_timeout = t; return *this; }
  server_options& with_keep_alive(bool on) { keep_alive = on; return *this; }
  server_options& with_max_header_bytes(std::size_t n) { max_header_bytes = n; return *this; }
  server_options& with_max_request_body_size(std::uint64_t n) { max_request_body_size = n; return *this; }
  server_options& with_max_input_bytes(std::size_t n) { max_input_bytes = n; return *this; }
  server_options& with_stream_request_body(bool on) { stream_request_body = on; return *this; }
  server_options& with_stream_body_buffer(std::size_t n) { stream_body_buffer = n; return *this; }
  server_options& with_stream_write_high_water(std::size_t n) { stream_write_high_water = n; return *this; }
  server_options& with_exit_wait_timeout(ms t) { exit_wait_timeout = t; return *this; }
  server_options& with_server_name(std::string name) { server_name = std::move(name); return *this; }
  server_options& with_date_header(bool on) { date_header = on; return *this; }
  server_options& with_worker_threads(std::size_t n) { worker_threads = n; return *this; }
  server_options& with_router(router_options r) { router = r; return *this; }
  server_options& with_client_ip(client_ip_options c) { client_ip = std::move(c); return *this; }
  server_options& with_print_routes(bool on) { print_routes = on; return *this; }
  server_options& with_continue_handler(std::function<unsigned(const context&)> f) {
    continue_handler = std::move(f);
    return *this;
  }
};

KHZ_END_NAMESPACE
