#pragma once
// Refcounted memory blocks and the per-thread pool they come from.
//
// A block is one allocation: a small header followed by `capacity` bytes of data (or,
// for an external block, a header pointing at caller-owned memory kept alive by a
// handle). Blocks are shared between link_buffers by reference count: a slice of a
// buffer holds references to the blocks it views, so it can outlive the buffer, the
// connection, and the thread that filled it.
//
// Pooling: each thread has a pool (`block_pool::local()`) with one free list per size
// class (4 KiB .. 1 MiB, powers of two). A block whose last reference is dropped goes
// to the pool of the thread that dropped it, up to a cap on the bytes a pool keeps
// (`set_max_cached_bytes`); beyond the cap, and for blocks larger than 1 MiB, memory
// goes back to the allocator at once. Pools take no locks: a pool is only ever touched
// by its own thread. Reference counts are atomic so that a slice may be released on
// another thread (an offloaded job holding a request body, for instance).

#include <khz/base/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

KHZ_BEGIN_NAMESPACE

class file_ref;

namespace detail {

enum class block_kind : std::uint8_t { pooled, heap, external, file };

struct block {
  std::atomic<std::uint32_t> refs{1};
  block_kind kind{block_kind::pooled};
  std::uint8_t size_class{0};  // index of the pool class, for pooled blocks
  std::size_t capacity{0};     // bytes at data
  char* data{nullptr};
  block* next_free{nullptr};   // free-list link while cached in a pool

  char* end() const noexcept { return data + capacity; }
};

// Adds a reference. The block must be alive (refs > 0).
inline void block_acquire(block* b) noexcept { b->refs.fetch_add(1, std::memory_order_relaxed); }

// Drops a reference; the last one returns the block to this thread's pool or frees it.
void block_release(block* b) noexcept;

// A block wrapping caller-owned memory; `keep_alive` is destroyed with the block.
block* make_external_block(const char* data, std::size_t size, std::shared_ptr<const void> keep_alive);

// A block standing for an open file (no memory: data is null, capacity 0); the nodes
// that refer to it carry the file offset and length. `file` is released with the block.
block* make_file_block(std::shared_ptr<const file_ref> file);
// The file of a block made by make_file_block.
const file_ref& block_file(const block* b) noexcept;

}  // namespace detail

struct block_pool_stats {
  std::size_t cached_blocks = 0;  // blocks on the free lists now
  std::size_t cached_bytes = 0;   // their capacity
  std::uint64_t hits = 0;         // allocations served from the free lists
  std::uint64_t misses = 0;       // allocations that went to the allocator
  std::int64_t outstanding = 0;   // blocks this thread took minus blocks it gave back
};

class block_pool {
 public:
  static constexpr std::size_t min_block_size = 4096;
  static constexpr std::size_t max_pooled_block_size = std::size_t{1} << 20;
  static constexpr std::size_t class_count = 9;  // 4 KiB, 8 KiB, ... 1 MiB
  static constexpr std::size_t default_max_cached_bytes = std::size_t{8} << 20;

  // The calling thread's pool.
  static block_pool& local() noexcept;

  // A block with capacity >= min_capacity (rounded up to a size class; larger than
  // max_pooled_block_size: exactly min_capacity, unpooled). The caller owns one reference.
  detail::block* allocate(std::size_t min_capacity);

  // Called by detail::block_release when the last reference of a pooled or heap block
  // is dropped on this thread.
  void recycle(detail::block* b) noexcept;

  // Caps the bytes this pool keeps on its free lists; trims at once if over.
  void set_max_cached_bytes(std::size_t bytes) noexcept;
  std::size_t max_cached_bytes() const noexcept { return max_cached_bytes_; }

  // Frees every cached block.
  void trim() noexcept;

  block_pool_stats stats() const noexcept;

  block_pool() = default;
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;
  ~block_pool();

 private:
  detail::block* free_[class_count] = {};
  std::size_t free_count_[class_count] = {};
  std::size_t cached_bytes_ = 0;
  std::size_t max_cached_bytes_ = default_max_cached_bytes;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::int64_t outstanding_ = 0;
};

KHZ_END_NAMESPACE
