#pragma once
// detail::move_function<R(Args...)>: a move-only type-erased callable (C++23's
// std::move_only_function, reduced to what the loop needs). Unlike std::function it
// accepts lambdas that own move-only state (a unique_ptr, a connection handle, a file
// descriptor guard). Callables up to three pointers in size are stored inline.

#include <khz/base/config.hpp>

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

KHZ_BEGIN_NAMESPACE

namespace detail {

template <class Signature>
class move_function;

template <class R, class... Args>
class move_function<R(Args...)> {
  static constexpr std::size_t inline_size = 3 * sizeof(void*);

  struct ops {
    R (*invoke)(void* self, Args&&... args);
    void (*move)(void* from, void* to) noexcept;  // move-constructs at `to`, destroys `from`
    void (*destroy)(void* self) noexcept;
  };

  template <class F>
  static constexpr bool stored_inline = sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<F>;

  template <class F>
  static F* target(void* storage) noexcept {
    if constexpr (stored_inline<F>) {
      return std::launder(reinterpret_cast<F*>(storage));
    } else {
      return *static_cast<F**>(storage);
    }
  }

  template <class F>
  static constexpr ops ops_for{
      [](void* self, Args&&... args) -> R { return (*target<F>(self))(std::forward<Args>(args)...); },
      [](void* from, void* to) noexcept {
        if constexpr (stored_inline<F>) {
          ::new (to) F(std::move(*target<F>(from)));
          target<F>(from)->~F();
        } else {
          *static_cast<F**>(to) = *static_cast<F**>(from);
        }
      },
      [](void* self) noexcept {
        if constexpr (stored_inline<F>) {
          target<F>(self)->~F();
        } else {
          delete target<F>(self);
        }
      }};

 public:
  move_function() noexcept = default;
  move_function(std::nullptr_t) noexcept {}

  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, move_function>) &&
            std::is_invocable_r_v<R, std::decay_t<F>&, Args...>
  move_function(F&& f) {  // NOLINT: implicit, like std::function
    using D = std::decay_t<F>;
    if constexpr (stored_inline<D>) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    } else {
      *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
    }
    ops_ = &ops_for<D>;
  }

  move_function(move_function&& other) noexcept : ops_(other.ops_) {
    if (ops_ != nullptr) {
      ops_->move(other.storage_, storage_);
      other.ops_ = nullptr;
    }
  }

  move_function& operator=(move_function&& other) noexcept {
    if (this != &other) {
      reset();
      if (other.ops_ != nullptr) {
        other.ops_->move(other.storage_, storage_);
        ops_ = std::exchange(other.ops_, nullptr);
      }
    }
    return *this;
  }

  move_function(const move_function&) = delete;
  move_function& operator=(const move_function&) = delete;
  ~move_function() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // Precondition: *this holds a callable.
  R operator()(Args... args) { return ops_->invoke(storage_, std::forward<Args>(args)...); }

  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(storage_);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[inline_size];
  const ops* ops_ = nullptr;
};

}  // namespace detail

KHZ_END_NAMESPACE
