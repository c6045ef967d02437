#pragma once
// khz::server: the reactor, the codec and the router wired together.
//
//   khz::server s(khz::server_options{}.with_address("127.0.0.1:8080"));
//   s.get("/", [](khz::context& c) { c.string(200, "Hello, World!"); });
//   s.spin();   // serves until SIGINT/SIGTERM, then shuts down gracefully
//
// A server is a router (register routes, groups and middleware on it before start()).
//
// Per connection, every complete request in the input is parsed (pipelining), run through
// the router and its chain, and answered in request order even when handlers suspend;
// the loop writes all the responses ready in one iteration with one syscall.
//
// Lifecycle:
//   start()    binds every address and starts the loops; returns at once. Throws
//              std::system_error naming the address when one cannot be bound.
//   run()      start() if needed, then blocks until shutdown() has finished.
//   spin()     run(), with SIGINT/SIGTERM starting a graceful shutdown.
//   shutdown() thread-safe: stops accepting, closes idle keep-alive connections at once,
//              lets in-flight requests finish (their responses carry Connection: close),
//              force-closes what is left at the timeout, then stops the loops.
// Hooks: on_run() hooks run once the server is listening; on_shutdown() hooks run when a
// shutdown starts, before connections are drained.
//
// Streaming (docs/server.md, "Streaming"; core/body_stream.hpp): a handler may send its
// response piece by piece (ctx.stream(), flush() with write backpressure, still in request
// order), and with server_options::stream_request_body read the body while it arrives
// (ctx.read_body(), with read backpressure).
//
// Threading: routes and options are set before start(); after that the server's
// configuration is read-only and shared by the loops.

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>
#include <khz/net/address.hpp>
#include <khz/server/options.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

KHZ_BEGIN_NAMESPACE

namespace detail {
struct server_state;
}

class server : public router {
 public:
  explicit server(server_options options = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  void start();
  void run();
  void spin();
  void shutdown();
  void shutdown(std::chrono::milliseconds timeout);

  void on_run(std::function<void()> hook) { run_hooks_.push_back(std::move(hook)); }
  void on_shutdown(std::function<void()> hook) { shutdown_hooks_.push_back(std::move(hook)); }

  // The bound addresses, ports resolved (valid after start()).
  std::vector<address> listen_addresses() const;
  // The transport in use (valid after start()).
  khz::transport transport_in_use() const;
  const server_options& options() const noexcept { return options_; }
  bool running() const noexcept;

  // Open connections across all loops (thread-safe, approximate while it changes).
  std::size_t connection_count() const noexcept;

 private:
  server_options options_;
  std::vector<std::function<void()>> run_hooks_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::unique_ptr<detail::server_state> state_;
};

KHZ_END_NAMESPACE
