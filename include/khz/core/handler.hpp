#pragma once
// handler<Context>: one link of a handler chain. Either a plain function
// `void(Context&)` or a coroutine `task<>(Context&)`; both kinds mix freely in a chain.
// The chain type is shared by the server (Context = khz::context) and the client
// (its own context), so middleware written against basic_context works on both.

#include <khz/base/config.hpp>
#include <khz/core/task.hpp>

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE

template <class Context>
class handler {
 public:
  using plain_fn = std::function<void(Context&)>;
  using async_fn = std::function<task<>(Context&)>;

  handler() = default;

  // Any callable taking Context&: returning void makes a plain handler, returning
  // task<> a coroutine handler. `name` is what route listings show.
  template <class F>
    requires std::invocable<F&, Context&> && (!std::same_as<std::remove_cvref_t<F>, handler>)
  handler(F&& f, std::string name = "handler") : name_(std::move(name)) {  // NOLINT: implicit on purpose
    using result = std::invoke_result_t<F&, Context&>;
    static_assert(std::is_void_v<result> || std::is_same_v<result, task<>>,
                  "a khz handler must return void or khz::task<>");
    if constexpr (std::is_void_v<result>) {
      plain_ = std::forward<F>(f);
    } else {
      async_ = std::forward<F>(f);
    }
  }

  bool is_async() const noexcept { return static_cast<bool>(async_); }
  explicit operator bool() const noexcept { return plain_ || async_; }
  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Precondition: !is_async().
  void call_plain(Context& ctx) const { plain_(ctx); }
  // Precondition: is_async().
  task<> call_async(Context& ctx) const { return async_(ctx); }

 private:
  plain_fn plain_;
  async_fn async_;
  std::string name_;
};

// The name route listings show for a handler (an ADL customization point the router uses).
template <class Context>
std::string_view name_of(const handler<Context>& h) noexcept {
  return h.name();
}

template <class Context>
using handler_chain = std::vector<handler<Context>>;

KHZ_END_NAMESPACE
