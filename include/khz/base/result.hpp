#pragma once
// result<T>: a value or a std::error_code, for I/O boundaries (no exceptions on the hot
// path). value() throws std::system_error when there is no value: the throwing
// convenience on top. A small stand-in for C++23 std::expected<T, std::error_code>.

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

KHZ_BEGIN_NAMESPACE

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported: return a pointer");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::error_code>,
                "result<std::error_code> is ambiguous");

 public:
  using value_type = T;

  // Implicit from a value or from an error, so that `return value;` and `return ec;` work.
  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, std::error_code>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, errc>)
  result(U&& value) : storage_(std::in_place_index<0>, std::forward<U>(value)) {}
  result(std::error_code ec) : storage_(std::in_place_index<1>, ec) { assert(ec); }
  result(errc e) : result(make_error_code(e)) {}

  bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // The error; a default (success) error_code when there is a value.
  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(storage_);
  }

  T& value() & { check(); return std::get<0>(storage_); }
  const T& value() const& { check(); return std::get<0>(storage_); }
  T&& value() && { check(); return std::get<0>(std::move(storage_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(storage_) : static_cast<T>(std::forward<U>(fallback));
  }

  // Unchecked access: precondition has_value().
  T& operator*() & noexcept { return *std::get_if<0>(&storage_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&storage_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&storage_)); }
  T* operator->() noexcept { return std::get_if<0>(&storage_); }
  const T* operator->() const noexcept { return std::get_if<0>(&storage_); }

 private:
  void check() const {
    if (!has_value()) throw std::system_error(std::get<1>(storage_));
  }
  std::variant<T, std::error_code> storage_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() noexcept = default;
  result(std::error_code ec) noexcept : ec_(ec) {}
  result(errc e) noexcept : ec_(make_error_code(e)) {}

  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return ec_; }
  void value() const {
    if (ec_) throw std::system_error(ec_);
  }

 private:
  std::error_code ec_{};
};

KHZ_END_NAMESPACE
