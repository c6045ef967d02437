#pragma once
// dialer: non-blocking connect on an event_loop, with a timeout.
//
// dial() starts a connect(2) and returns at once; the callback runs later on the loop's
// thread, exactly once, with the open connection (already registered, on_open called),
// or with an error: a system error such as ECONNREFUSED, errc::timeout when the
// handshake did not finish in time, errc::cancelled when the loop stopped first.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/net/address.hpp>
#include <khz/net/connection.hpp>
#include <khz/net/move_function.hpp>

#include <chrono>

KHZ_BEGIN_NAMESPACE

struct dial_options {
  std::chrono::milliseconds timeout{10'000};  // zero: no timeout
  connection_options connection{};
};

using dial_callback = detail::move_function<void(result<connection_ptr>)>;

class dialer {
 public:
  explicit dialer(event_loop& loop, dial_options options = {}) noexcept
      : loop_(&loop), options_(options) {}

  // On the loop's thread (or before the loop runs, from the thread that owns it).
  void dial(const address& to, connection_handler& handler, dial_callback done);

  event_loop& loop() const noexcept { return *loop_; }
  const dial_options& options() const noexcept { return options_; }

 private:
  event_loop* loop_;
  dial_options options_;
};

KHZ_END_NAMESPACE
