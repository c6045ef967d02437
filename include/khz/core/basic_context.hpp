#pragma once
// basic_context<Derived>: the part of a request context that the server and the client
// share — running a handler chain (next / abort), a typed key/value store, and an error
// list. khz::context (server) and the client's context derive from it (CRTP), so a
// middleware written against it runs on both sides.
//
// Chain semantics (Gin's, extended to coroutines):
//   - Handlers run in order. A handler that returns without calling next() lets the
//     chain go on with the following handler; one that calls next() runs the rest of the
//     chain inside itself, so it can act before and after.
//   - next() runs downstream handlers eagerly, up to the first coroutine that suspends.
//     In a coroutine, `co_await ctx.next()` resumes after every downstream handler has
//     finished, suspended ones included: code after it sees the real end of the request
//     (an access log measures an async handler's real duration this way).
//     In a plain handler, `ctx.next()` returns when downstream handlers have finished or
//     suspended (`ctx.next().finished()` tells which); a plain handler cannot wait, so
//     middleware that must act after async handlers is written as a coroutine.
//   - abort() stops the chain after the current handler (and after the handlers that are
//     running further up the stack finish their own code).
//   - An exception from a plain handler propagates out of next() to the handlers above
//     it; one from a coroutine is rethrown from the `co_await` that waits for it. One
//     that escapes the whole chain is reported to the owner (the server answers 500).
//
// Lifetime: a context is owned by the server (or client) and reused for later requests.
// It lives until the chain has finished, suspended handlers included, so handlers may
// keep `Derived&` across co_await. It must not be kept after the chain finished: see
// context_ref for the checked handle to use when something must outlive a handler.

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>
#include <khz/core/handler.hpp>
#include <khz/core/task.hpp>

#include <any>
#include <cassert>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

KHZ_BEGIN_NAMESPACE

// Awaitable result of basic_context::next().
// Not [[nodiscard]]: plain Gin-style middleware calls `ctx.next();` and moves on.
class next_result {
 public:
  next_result() noexcept = default;
  explicit next_result(task<>* rest) noexcept : rest_(rest) {}

  // True when every downstream handler has finished.
  bool finished() const noexcept { return rest_ == nullptr || rest_->done(); }

  bool await_ready() const noexcept { return finished(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    return rest_->await_suspend(awaiting);
  }
  void await_resume() {
    if (rest_ != nullptr) rest_->result();
  }

 private:
  template <class>
  friend class basic_context;
  task<>* rest_ = nullptr;  // owned by the context
};

// One error reported by a handler with ctx.error().
struct context_error {
  std::error_code code;
  std::string message;
};

template <class Derived>
class basic_context {
 public:
  using handler_type = handler<Derived>;
  using chain_type = handler_chain<Derived>;

  basic_context() = default;
  basic_context(const basic_context&) = delete;
  basic_context& operator=(const basic_context&) = delete;

  // ------------------------------------------------------------ chain control
  next_result next();
  void abort() noexcept { aborted_ = true; }
  bool is_aborted() const noexcept { return aborted_; }
  // Index of the running handler in the chain (-1 before the chain starts).
  int handler_index() const noexcept { return index_; }
  const chain_type* chain() const noexcept { return chain_; }

  // ------------------------------------------------------------ keys
  // Stores a value under `key` (replacing any value there).
  template <class T>
  void set(std::string_view key, T value) {
    for (auto& entry : keys_) {
      if (entry.key == key) {
        entry.value = std::move(value);
        return;
      }
    }
    keys_.push_back({std::string(key), std::any(std::move(value))});
  }

  // The value under `key` if it is there and holds a T; nullptr otherwise.
  template <class T>
  T* get(std::string_view key) noexcept {
    for (auto& entry : keys_) {
      if (entry.key == key) return std::any_cast<T>(&entry.value);
    }
    return nullptr;
  }
  template <class T>
  const T* get(std::string_view key) const noexcept {
    return const_cast<basic_context*>(this)->template get<T>(key);
  }

  // The value under `key`; throws std::out_of_range naming the key (and the stored type
  // when it is not T) when there is none.
  template <class T>
  T& must_get(std::string_view key) {
    for (auto& entry : keys_) {
      if (entry.key == key) {
        if (T* v = std::any_cast<T>(&entry.value)) return *v;
        throw std::out_of_range("khz context key '" + std::string(key) + "' holds a " +
                                entry.value.type().name() + ", not the type asked for");
      }
    }
    throw std::out_of_range("khz context key '" + std::string(key) +
                            "' is not set: set it in an earlier middleware with ctx.set()");
  }

  bool has(std::string_view key) const noexcept {
    for (const auto& entry : keys_) {
      if (entry.key == key) return true;
    }
    return false;
  }

  // ------------------------------------------------------------ errors
  void error(std::error_code code, std::string message = {}) {
    errors_.push_back({code, std::move(message)});
  }
  const std::vector<context_error>& errors() const noexcept { return errors_; }

  // ------------------------------------------------------------ owner side
  // Runs `chain` from the start. Returns true when it finished synchronously (the plain
  // path: no coroutine frame, no allocation); otherwise `done(arg)` is called when the
  // last suspended handler finishes. A synchronous exception propagates; an exception
  // from a suspended handler is kept and rethrown by rethrow_if_failed().
  bool run(const chain_type& chain, void (*done)(void*) = nullptr, void* arg = nullptr) {
    chain_ = &chain;
    index_ = -1;
    aborted_ = false;
    next_result r = next();
    if (r.finished()) {
      rethrow_if_failed();
      return true;
    }
    top_ = r.rest_;
    top_->on_done(done, arg);
    return false;
  }

  // After an asynchronous finish: rethrows what escaped the chain, if anything.
  void rethrow_if_failed() {
    if (top_ != nullptr && top_->done()) {
      task<>* t = std::exchange(top_, nullptr);
      t->result();
    }
  }

  // Forgets the request: chain state, keys and errors (capacity is kept for reuse).
  // Precondition: the chain has finished.
  void reset_chain() noexcept {
    runners_.clear();
    keys_.clear();
    errors_.clear();
    chain_ = nullptr;
    index_ = -1;
    aborted_ = false;
    top_ = nullptr;
    pending_ = nullptr;
  }

  // True while a handler of the chain is suspended.
  bool running() const noexcept {
    for (const auto& r : runners_) {
      if (!r.done()) return true;
    }
    return false;
  }

 protected:
  ~basic_context() = default;

 private:
  struct key_value {
    std::string key;
    std::any value;
  };

  Derived& self() noexcept { return static_cast<Derived&>(*this); }

  // Continues the chain after the handler `suspended` (started, not finished) is done.
  task<> continue_after(task<> suspended) {
    co_await suspended;
    co_await next();
  }

  const chain_type* chain_ = nullptr;
  int index_ = -1;
  bool aborted_ = false;
  task<>* pending_ = nullptr;  // runner of the most recent suspension
  task<>* top_ = nullptr;      // what run() waits for
  std::vector<task<>> runners_;
  std::vector<key_value> keys_;
  std::vector<context_error> errors_;
};

template <class Derived>
next_result basic_context<Derived>::next() {
  assert(chain_ != nullptr && "next() called outside a running chain");
  const int size = static_cast<int>(chain_->size());
  for (++index_; index_ < size; ++index_) {
    if (aborted_) break;
    const handler_type& h = (*chain_)[static_cast<std::size_t>(index_)];
    if (!h.is_async()) {
      pending_ = nullptr;
      h.call_plain(self());
      // The handler called next() and something downstream suspended: the runner of
      // that suspension owns the rest of the chain.
      if (pending_ != nullptr && !pending_->done()) return next_result(pending_);
      continue;
    }
    task<> t = h.call_async(self());
    t.start();
    if (!t.done()) {
      // Runners live until reset_chain(); at most one per handler, so reserving the
      // chain's size up front keeps their addresses stable.
      if (runners_.capacity() < chain_->size()) runners_.reserve(chain_->size());
      runners_.push_back(continue_after(std::move(t)));
      task<>& runner = runners_.back();
      pending_ = &runner;
      runner.start();  // suspends at once on the handler it waits for
      return next_result(&runner);
    }
    t.result();  // rethrows
  }
  return next_result();
}

KHZ_END_NAMESPACE
