#include <khz/core/task.hpp>

#include <algorithm>
#include <new>
#include <utility>

KHZ_BEGIN_NAMESPACE
namespace detail {
namespace {

constexpr std::size_t frame_granule = 64;
// Up to 8 KiB: a client call's send() frame is ~6.8 KB, and a frame one byte over the
// last class goes to the allocator on every call.
constexpr std::size_t frame_classes = 128;
// Cached frames per class: 1024 for small frames, and at most 2 MiB of any one class.
constexpr std::size_t max_cached_per_class = 1024;
constexpr std::size_t max_cached_bytes_per_class = std::size_t{2} << 20;

struct free_frame {
  free_frame* next;
};

struct frame_pool {
  free_frame* free[frame_classes] = {};
  std::size_t count[frame_classes] = {};
  std::uint64_t allocated = 0;
  std::uint64_t from_heap = 0;
  static thread_local bool destroyed;

  ~frame_pool() {
    for (std::size_t i = 0; i < frame_classes; ++i) {
      while (free[i] != nullptr) ::operator delete(static_cast<void*>(std::exchange(free[i], free[i]->next)));
    }
    destroyed = true;
  }
};
thread_local bool frame_pool::destroyed = false;

frame_pool& local_frames() noexcept {
  thread_local frame_pool pool;
  return pool;
}

// Class i holds frames of (i + 1) * 64 bytes; callers pass the exact frame size, and
// the same size comes back at deallocation (sized delete), so the class is recomputed.
std::size_t class_of(std::size_t size) noexcept { return (size + frame_granule - 1) / frame_granule - 1; }

}  // namespace

void* frame_allocate(std::size_t size) {
  std::size_t c = class_of(size);
  if (c >= frame_classes || frame_pool::destroyed) return ::operator new(size);
  frame_pool& pool = local_frames();
  ++pool.allocated;
  if (free_frame* f = pool.free[c]) {
    pool.free[c] = f->next;
    --pool.count[c];
    return f;
  }
  ++pool.from_heap;
  return ::operator new((c + 1) * frame_granule);
}

void frame_deallocate(void* p, std::size_t size) noexcept {
  std::size_t c = class_of(size);
  if (c >= frame_classes) {
    ::operator delete(p);
    return;
  }
  if (!frame_pool::destroyed) {
    frame_pool& pool = local_frames();
    const std::size_t cap = std::min(max_cached_per_class, max_cached_bytes_per_class / ((c + 1) * frame_granule));
    if (pool.count[c] < cap) {
      pool.free[c] = new (p) free_frame{pool.free[c]};
      ++pool.count[c];
      return;
    }
  }
  ::operator delete(p);
}

frame_stats frame_pool_stats() noexcept {
  frame_pool& pool = local_frames();
  frame_stats s;
  for (std::size_t i = 0; i < frame_classes; ++i) s.cached += pool.count[i];
  s.allocated = pool.allocated;
  s.from_heap = pool.from_heap;
  return s;
}

}  // namespace detail
KHZ_END_NAMESPACE
