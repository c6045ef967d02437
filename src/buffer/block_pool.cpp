#include <khz/buffer/block_pool.hpp>
#include <khz/buffer/file_ref.hpp>

#include <bit>
#include <cassert>
#include <new>
#include <utility>

#if KHZ_ASAN
#include <sanitizer/asan_interface.h>
#define KHZ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define KHZ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define KHZ_POISON(p, n) ((void)(p), (void)(n))
#define KHZ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

KHZ_BEGIN_NAMESPACE

namespace detail {
namespace {

struct external_block : block {
  std::shared_ptr<const void> keep_alive;
};

struct file_block : block {
  std::shared_ptr<const file_ref> file;
};

std::size_t class_size(std::size_t index) noexcept { return block_pool::min_block_size << index; }

std::size_t class_index(std::size_t size) noexcept {
  if (size <= block_pool::min_block_size) return 0;
  return static_cast<std::size_t>(std::bit_width(size - 1)) - 12;  // 4096 == 1 << 12
}

block* new_block(std::size_t capacity, block_kind kind, std::uint8_t size_class) {
  void* memory = ::operator new(sizeof(block) + capacity);
  auto* b = new (memory) block;
  b->kind = kind;
  b->size_class = size_class;
  b->capacity = capacity;
  b->data = static_cast<char*>(memory) + sizeof(block);
  return b;
}

void delete_block(block* b) noexcept {
  b->~block();
  ::operator delete(static_cast<void*>(b));
}

// The pool outlives every use on its thread except those run by later thread_local
// destructors; after the pool is gone, blocks go straight back to the allocator.
thread_local bool pool_destroyed = false;

}  // namespace

void block_release(block* b) noexcept {
  // The only reference (the usual case: a block read, parsed and given back by one
  // owner): no other thread can hold one or take one, so the count needs no atomic
  // read-modify-write. Otherwise drop ours; the last one frees.
  if (b->refs.load(std::memory_order_acquire) != 1 && b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (b->kind == block_kind::external) {
    delete static_cast<external_block*>(b);
    return;
  }
  if (b->kind == block_kind::file) {
    delete static_cast<file_block*>(b);
    return;
  }
  if (pool_destroyed) {
    delete_block(b);
    return;
  }
  block_pool::local().recycle(b);
}

block* make_external_block(const char* data, std::size_t size, std::shared_ptr<const void> keep_alive) {
  auto* b = new external_block;
  b->kind = block_kind::external;
  b->capacity = size;
  b->data = const_cast<char*>(data);  // never written: external nodes are read-only
  b->keep_alive = std::move(keep_alive);
  return b;
}

block* make_file_block(std::shared_ptr<const file_ref> file) {
  auto* b = new file_block;
  b->kind = block_kind::file;
  b->file = std::move(file);
  return b;
}

const file_ref& block_file(const block* b) noexcept { return *static_cast<const file_block*>(b)->file; }

}  // namespace detail

block_pool& block_pool::local() noexcept {
  struct holder {
    block_pool pool;
    ~holder() { detail::pool_destroyed = true; }
  };
  thread_local holder h;
  return h.pool;
}

detail::block* block_pool::allocate(std::size_t min_capacity) {
  ++outstanding_;
  if (min_capacity > max_pooled_block_size) {
    ++misses_;
    return detail::new_block(min_capacity, detail::block_kind::heap, 0);
  }
  std::size_t index = detail::class_index(min_capacity);
  if (detail::block* b = free_[index]) {
    KHZ_UNPOISON(b->data, b->capacity);
    free_[index] = b->next_free;
    --free_count_[index];
    cached_bytes_ -= b->capacity;
    b->next_free = nullptr;
    b->refs.store(1, std::memory_order_relaxed);
    ++hits_;
    return b;
  }
  ++misses_;
  return detail::new_block(detail::class_size(index), detail::block_kind::pooled,
                           static_cast<std::uint8_t>(index));
}

void block_pool::recycle(detail::block* b) noexcept {
  --outstanding_;
  if (b->kind != detail::block_kind::pooled || cached_bytes_ + b->capacity > max_cached_bytes_) {
    detail::delete_block(b);
    return;
  }
  KHZ_POISON(b->data, b->capacity);
  b->next_free = free_[b->size_class];
  free_[b->size_class] = b;
  ++free_count_[b->size_class];
  cached_bytes_ += b->capacity;
}

void block_pool::set_max_cached_bytes(std::size_t bytes) noexcept {
  max_cached_bytes_ = bytes;
  // Trim the largest classes first: they are the costliest to keep.
  for (std::size_t i = class_count; i-- > 0 && cached_bytes_ > max_cached_bytes_;) {
    while (free_[i] != nullptr && cached_bytes_ > max_cached_bytes_) {
      detail::block* b = std::exchange(free_[i], free_[i]->next_free);
      --free_count_[i];
      cached_bytes_ -= b->capacity;
      KHZ_UNPOISON(b->data, b->capacity);
      detail::delete_block(b);
    }
  }
}

void block_pool::trim() noexcept {
  std::size_t keep = max_cached_bytes_;
  set_max_cached_bytes(0);
  max_cached_bytes_ = keep;
}

block_pool_stats block_pool::stats() const noexcept {
  block_pool_stats s;
  for (std::size_t i = 0; i < class_count; ++i) s.cached_blocks += free_count_[i];
  s.cached_bytes = cached_bytes_;
  s.hits = hits_;
  s.misses = misses_;
  s.outstanding = outstanding_;
  return s;
}

block_pool::~block_pool() { trim(); }

KHZ_END_NAMESPACE
