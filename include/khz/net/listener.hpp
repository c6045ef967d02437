#pragma once
// listener: a listening socket registered with one event_loop; every connection it
// accepts is opened on that loop (or, in dispatch mode, handed round-robin to the loops
// of a loop_group) with the listener's handler and connection options.
//
// Accept errors: when accept fails for lack of descriptors or memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM) the listener backs off (accept_backoff_min, doubling up to
// accept_backoff_max) and tries again; the connections it already has keep being served.
//
// Lifetime: the loop owns its listeners. A listener* stays valid until close() (on the
// loop thread) or until the loop stops; closing the loop closes them all.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/net/address.hpp>
#include <khz/net/connection.hpp>

#include <chrono>
#include <cstdint>

KHZ_BEGIN_NAMESPACE

struct listen_options {
  int backlog = 4096;          // capped by net.core.somaxconn
  bool reuse_port = false;     // SO_REUSEPORT: one listener per loop on the same port
  bool reuse_address = true;   // SO_REUSEADDR
  bool unlink_existing = true; // Unix sockets: remove a stale socket file before bind()
  std::chrono::milliseconds accept_backoff_min{10};
  std::chrono::milliseconds accept_backoff_max{1000};
  connection_options connection{};
};

// Opens a non-blocking, close-on-exec socket bound to `addr` and listening. For a Unix
// path the file is removed first when unlink_existing is set.
result<int> open_listen_socket(const address& addr, const listen_options& opts);

class listener {
 public:
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  // The bound address (with the real port when bound to port 0).
  const address& local_address() const noexcept { return local_; }
  std::uint64_t accepted() const noexcept { return accepted_; }
  int native_handle() const noexcept { return fd_; }
  event_loop& loop() const noexcept { return *loop_; }

  // Stops accepting and closes the socket (and removes a Unix socket file it created).
  // On the loop thread. The listener* is invalid afterwards.
  void close() noexcept;

 protected:
  listener() = default;
  ~listener() = default;

  address local_;
  event_loop* loop_ = nullptr;
  int fd_ = -1;
  std::uint64_t accepted_ = 0;
};

KHZ_END_NAMESPACE
