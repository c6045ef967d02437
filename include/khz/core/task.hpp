#pragma once
// task<T>: the coroutine type of khz handlers and client calls.
//
// Semantics:
//   - Lazy: calling a coroutine that returns task<T> creates its frame and runs nothing;
//     `co_await t` starts it and resumes the awaiting coroutine when it finishes
//     (symmetric transfer: no stack growth however long a chain of awaits is).
//   - Single-consumer, single-thread: a task is awaited once, on the thread that runs it
//     (the connection's loop). Work that must run elsewhere goes through the loop's
//     offload/post facilities, which resume the coroutine back on its loop.
//   - Exceptions thrown in the coroutine are rethrown from `co_await`.
//   - Frames come from a per-thread pool of size classes (detail::frame_pool), so a
//     steady stream of handler coroutines makes no heap allocation.
//   - A task that is destroyed before it finished destroys its frame (and everything the
//     frame holds); a task must not be destroyed while suspended inside an operation that
//     will resume it later (the owning layer cancels such operations first).
//
// Starting from plain code: `start()` runs the coroutine until its first suspension; the
// owner checks `done()` and, if not done, sets a completion callback with `on_done()`.

#include <khz/base/config.hpp>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

KHZ_BEGIN_NAMESPACE

namespace detail {

// Per-thread free lists for coroutine frames, by 64-byte size class up to 8 KiB;
// larger frames go to the allocator. A frame freed on another thread goes to that
// thread's lists.
void* frame_allocate(std::size_t size);
void frame_deallocate(void* p, std::size_t size) noexcept;

struct frame_stats {
  std::size_t cached = 0;
  std::uint64_t allocated = 0;  // frames handed out, pooled or not
  std::uint64_t from_heap = 0;  // of those, how many needed the allocator
};
frame_stats frame_pool_stats() noexcept;

// Base of every khz promise: pooled frames and the continuation / completion callback.
struct promise_base {
  std::coroutine_handle<> continuation{};  // the coroutine awaiting this one, if any
  void (*done_fn)(void*) = nullptr;        // or a plain completion callback
  void* done_arg = nullptr;
  std::exception_ptr error{};

  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      promise_base& p = h.promise();
      if (p.continuation) return p.continuation;
      if (p.done_fn != nullptr) p.done_fn(p.done_arg);  // may destroy the frame: do not touch p after
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] task {
 public:
  struct promise_type : detail::promise_base {
    std::variant<std::monostate, T> value;
    task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    template <class U>
      requires std::is_convertible_v<U&&, T>
    void return_value(U&& v) {
      value.template emplace<1>(std::forward<U>(v));
    }
  };
  using handle_type = std::coroutine_handle<promise_type>;

  task() noexcept = default;
  task(task&& other) noexcept
      : h_(std::exchange(other.h_, {})), started_(std::exchange(other.started_, false)) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      destroy();
      h_ = std::exchange(other.h_, {});
      started_ = std::exchange(other.started_, false);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }

  // Runs the coroutine until its first suspension (or to the end). Call at most once,
  // before any co_await of this task.
  void start() {
    assert(!started_);
    started_ = true;
    h_.resume();
  }

  // Calls fn(arg) when the coroutine finishes (after start(), when !done()). fn may
  // destroy this task.
  void on_done(void (*fn)(void*), void* arg) noexcept {
    h_.promise().done_fn = fn;
    h_.promise().done_arg = arg;
  }

  // The result of a finished task; rethrows its exception.
  T result() {
    assert(h_ && h_.done());
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    if constexpr (!std::is_void_v<T>) return std::move(std::get<1>(h_.promise().value));
  }

  // co_await: start (or join, when already started) and get the result.
  bool await_ready() const noexcept { return h_.done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    // A fresh task is started now; one suspended mid-way (after start()) will resume
    // itself and, at its end, transfer to `awaiting`.
    if (started_) return std::noop_coroutine();
    started_ = true;
    return h_;
  }
  T await_resume() { return result(); }

 private:
  explicit task(handle_type h) noexcept : h_(h) {}
  void destroy() noexcept {
    if (h_) h_.destroy();
    h_ = {};
  }
  handle_type h_{};
  bool started_ = false;
};

template <>
struct task<void>::promise_type : detail::promise_base {
  task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
  void return_void() noexcept {}
};

KHZ_END_NAMESPACE
