#include <khz/http/headers.hpp>

#include "../base/thread_free_list.hpp"

#include <algorithm>

KHZ_BEGIN_NAMESPACE
namespace detail {
namespace {

// Chunks of the standard size are recycled through a per-thread free list, so that a
// message built afresh per call (a client request with a copied target, a response
// with copied fields) takes no heap allocation in steady state. A chunk released on
// another thread goes to that thread's list.
constexpr std::size_t standard_chunk_capacity = 1024;
constexpr std::size_t max_cached_chunks = 256;  // 256 KiB a thread at most

struct arena_chunk_tag;
using chunk_cache = thread_free_list<arena_chunk_tag, max_cached_chunks>;

void* allocate_chunk(std::size_t bytes, std::size_t capacity) {
  if (capacity == standard_chunk_capacity) {
    if (void* p = chunk_cache::pop()) return p;
  }
  return ::operator new(bytes);
}

void free_chunk(void* p, std::size_t capacity) noexcept {
  if (capacity == standard_chunk_capacity && chunk_cache::push(p)) return;
  ::operator delete(p);
}

}  // namespace

char* string_arena::allocate(std::size_t n) {
  // Find room in the current chunk or a later (kept) one before allocating.
  while (current_ != nullptr && current_->capacity - current_->used < n && current_->next != nullptr) {
    current_ = current_->next;
    current_->used = 0;
  }
  if (current_ == nullptr || current_->capacity - current_->used < n) {
    std::size_t capacity = std::max<std::size_t>(n, standard_chunk_capacity);
    void* memory = allocate_chunk(sizeof(chunk) + capacity, capacity);
    auto* c = new (memory) chunk{nullptr, capacity, 0};
    if (current_ == nullptr) {
      // Chunks after head_ may exist unused only when current_ != nullptr.
      c->next = head_;
      head_ = c;
    } else {
      c->next = current_->next;
      current_->next = c;
    }
    current_ = c;
  }
  char* p = current_->data() + current_->used;
  current_->used += n;
  return p;
}

std::string_view string_arena::store(std::string_view s) {
  if (s.empty()) return {};
  char* p = allocate(s.size());
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

void string_arena::release_all() noexcept {
  while (head_ != nullptr) {
    chunk* next = head_->next;
    free_chunk(static_cast<void*>(head_), head_->capacity);
    head_ = next;
  }
  current_ = nullptr;
}

}  // namespace detail

std::size_t headers::erase(std::string_view name) noexcept {
  std::size_t removed = 0;
  for (std::size_t i = fields_.size(); i-- > 0;) {
    if (detail::http_chars::iequals(fields_[i].name, name)) {
      fields_.erase_at(i);
      ++removed;
    }
  }
  if (removed != 0) rebuild_index();
  return removed;
}

void headers::rebuild_index() noexcept {
  clear_index();
  for (std::size_t i = 0; i < fields_.size() && i < no_index; ++i) {
    auto& slot = index_[static_cast<std::size_t>(fields_[i].id)];
    if (fields_[i].id != known_field::other && slot == no_index) slot = static_cast<std::uint16_t>(i);
  }
}

KHZ_END_NAMESPACE
