#pragma once
// loop_group: N event loops, one thread each (default: one per core), sharing nothing.
//
// Serving: listen() gives every loop its own listener bound to the same address with
// SO_REUSEPORT, so the kernel spreads incoming connections over the loops and each
// connection stays on the loop that accepted it, for life (accept_mode::reuse_port).
// Where reuseport is not wanted (or not possible: Unix sockets), accept_mode::dispatch
// keeps one listener on loop 0 that hands each accepted socket round-robin to the loops.
//
// Clients: next_loop() picks loops round-robin for dialing; a dialed connection lives on
// the loop that dialed it.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/net/event_loop.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

KHZ_BEGIN_NAMESPACE

enum class accept_mode { reuse_port, dispatch };

struct loop_group_options {
  std::size_t loops = 0;  // 0: std::thread::hardware_concurrency()
  loop_options loop{};
};

struct group_listen_options : listen_options {
  accept_mode mode = accept_mode::reuse_port;
  // Called on a loop's thread once that loop's listener is registered (not when the loop
  // stopped before it could be: the socket is closed then). A server keeps the listeners
  // to close them when it stops accepting.
  std::function<void(event_loop&, listener&)> on_listening;
};

class loop_group {
 public:
  // Creates the loops (not their threads). Throws like event_loop's constructor.
  explicit loop_group(const loop_group_options& options = {});
  // Stops and joins.
  ~loop_group();
  loop_group(const loop_group&) = delete;
  loop_group& operator=(const loop_group&) = delete;

  // Starts one thread per loop.
  void start();
  // Thread-safe: asks every loop to stop.
  void stop() noexcept;
  // Waits for the threads (after stop()).
  void join();

  std::size_t size() const noexcept { return loops_.size(); }
  event_loop& loop(std::size_t i) noexcept { return *loops_[i]; }
  event_loop& next_loop() noexcept;
  transport kind() const noexcept { return loops_.front()->kind(); }

  // Binds the sockets now (so errors are reported here and the port is known: the
  // returned address has the real port when `addr` had port 0) and registers them with
  // the loops (posted: each loop starts accepting in its own thread). Thread-safe.
  result<address> listen(const address& addr, connection_handler& handler, const group_listen_options& options = {});

 private:
  std::vector<std::unique_ptr<event_loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

KHZ_END_NAMESPACE
