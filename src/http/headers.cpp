#include <khz/http/headers.hpp>

#include <algorithm>

KHZ_BEGIN_NAMESPACE
namespace detail {

char* string_arena::allocate(std::size_t n) {
  // Find room in the current chunk or a later (kept) one before allocating.
  while (current_ != nullptr && current_->capacity - current_->used < n && current_->next != nullptr) {
    current_ = current_->next;
    current_->used = 0;
  }
  if (current_ == nullptr || current_->capacity - current_->used < n) {
    std::size_t capacity = std::max<std::size_t>(n, 1024);
    void* memory = ::operator new(sizeof(chunk) + capacity);
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
    ::operator delete(static_cast<void*>(head_));
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
