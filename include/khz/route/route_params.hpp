#pragma once
// route_params: the (name, value) pairs a route lookup captured for `:name` and `*name`.
//
// Lifetimes:
//  - Keys are views into the router's tree: valid while the router lives and is not modified.
//  - Values are views into the path string the caller passed to match(), so they are valid while
//    that string is (for the server: while the request is). A value is held inside this object
//    instead when the router had to transform it: percent-decoded (raw-path matching, or a default
//    match on a path that contained %XX) or taken from a cleaned path (remove_extra_slash). Such
//    values live as long as this object; copying or moving the object re-points them at the copy.
//
// Allocation: up to inline_capacity pairs and inline_buffer_bytes of transformed bytes live inline;
// only beyond that does a lookup allocate (a vector for extra pairs, a string for long paths).

#include <khz/base/config.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE

namespace detail {
class route_tree;
class router_core;
}  // namespace detail

// One captured parameter. `key` is the name without its ':' or '*'.
struct route_param {
  std::string_view key;
  std::string_view value;
};

class route_params {
 public:
  static constexpr std::size_t inline_capacity = 8;
  static constexpr std::size_t inline_buffer_bytes = 256;

  route_params() noexcept {}
  route_params(const route_params& other) { copy_from(other); }
  route_params& operator=(const route_params& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  // A move is a copy: the inline storage cannot be stolen, and views must be re-pointed anyway.
  route_params(route_params&& other) { copy_from(other); }
  route_params& operator=(route_params&& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  ~route_params() = default;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Precondition: i < size(). Parameters are in path order.
  route_param operator[](std::size_t i) const noexcept { return slot_at(i); }

  // The value of the first parameter named `key`; empty when there is none (an empty value and an
  // absent parameter look the same here: use find() to tell them apart).
  std::string_view get(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      const route_param& s = slot_at(i);
      if (s.key == key) return s.value;
    }
    return {};
  }
  std::optional<std::string_view> find(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      const route_param& s = slot_at(i);
      if (s.key == key) return s.value;
    }
    return std::nullopt;
  }
  bool contains(std::string_view key) const noexcept { return find(key).has_value(); }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = route_param;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = route_param;

    iterator() noexcept = default;
    route_param operator*() const noexcept { return (*owner_)[index_]; }
    iterator& operator++() noexcept {
      ++index_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++index_;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.index_ == b.index_;
    }

   private:
    friend class route_params;
    iterator(const route_params* owner, std::size_t index) noexcept : owner_(owner), index_(index) {}
    const route_params* owner_ = nullptr;
    std::size_t index_ = 0;
  };
  iterator begin() const noexcept { return {this, 0}; }
  iterator end() const noexcept { return {this, size_}; }

  // Forgets every parameter and every transformed byte (keeps heap capacity for reuse).
  void clear() noexcept {
    size_ = 0;
    overflow_.clear();
    buf_size_ = 0;
    heap_active_ = false;
  }

 private:
  friend class detail::route_tree;
  friend class detail::router_core;

  const route_param& slot_at(std::size_t i) const noexcept {
    return i < inline_capacity ? inline_[i] : overflow_[i - inline_capacity];
  }
  route_param& slot_at(std::size_t i) noexcept {
    return i < inline_capacity ? inline_[i] : overflow_[i - inline_capacity];
  }
  // Used by the lookup, which backtracks: push a candidate, pop it when the branch fails.
  void push(std::string_view key, std::string_view value) {
    if (size_ < inline_capacity) {
      inline_[size_] = {key, value};
    } else {
      overflow_.push_back({key, value});
    }
    ++size_;
  }
  void pop() noexcept {
    --size_;
    if (size_ >= inline_capacity) overflow_.pop_back();
  }
  void truncate(std::size_t n) noexcept {
    while (size_ > n) pop();
  }
  // Makes room for `n` transformed bytes and returns where they go. Called at most once per
  // lookup, before any value points into the buffer, so the buffer never moves under a view.
  char* reserve_buffer(std::size_t n) {
    buf_size_ = n;
    if (n <= inline_buffer_bytes) {
      heap_active_ = false;
      return inline_buf_.data();
    }
    if (heap_buf_.size() < n) heap_buf_.resize(n);
    heap_active_ = true;
    return heap_buf_.data();
  }
  const char* buffer_data() const noexcept {
    return heap_active_ ? heap_buf_.data() : inline_buf_.data();
  }

  void copy_from(const route_params& other);

  std::array<route_param, inline_capacity> inline_{};
  std::vector<route_param> overflow_;
  std::size_t size_ = 0;
  // Transformed bytes (decoded or cleaned path, decoded values). inline_buf_ is deliberately left
  // uninitialized: only its first buf_size_ bytes are ever read.
  std::array<char, inline_buffer_bytes> inline_buf_;
  std::string heap_buf_;
  std::size_t buf_size_ = 0;
  bool heap_active_ = false;
};

KHZ_END_NAMESPACE
