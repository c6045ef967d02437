#pragma once
// Internal: a per-thread cache of equal-sized memory blocks from ::operator new, at most
// MaxCached of them per thread and Tag. pop() gives a cached block (nullptr when there is
// none); push() keeps one (false when the cache is full or its thread is exiting: the
// caller frees the block itself). A cached block's first bytes hold the link to the next.
//
// The list is a constinit thread_local (no guard on access); a second thread_local,
// registered by the first push(), frees what is cached when the thread exits.
#include <khz/base/config.hpp>

#include <cstddef>
#include <new>

KHZ_BEGIN_NAMESPACE
namespace detail {

template <class Tag, std::size_t MaxCached>
class thread_free_list {
 public:
  static void* pop() noexcept {
    void* p = list_.free;
    if (p != nullptr) {
      list_.free = *static_cast<void**>(p);
      --list_.count;
    }
    return p;
  }
  static bool push(void* p) noexcept {
    if (list_.destroyed || list_.count >= MaxCached) return false;
    if (KHZ_UNLIKELY(!list_.owner_registered)) register_owner();
    *static_cast<void**>(p) = list_.free;
    list_.free = p;
    ++list_.count;
    return true;
  }
  static std::size_t cached() noexcept { return list_.count; }

 private:
  struct state {
    void* free = nullptr;
    std::size_t count = 0;
    bool owner_registered = false;
    bool destroyed = false;  // the owner has run: blocks go straight back to the allocator
  };
  struct owner {
    ~owner() {
      while (list_.free != nullptr) {
        void* next = *static_cast<void**>(list_.free);
        ::operator delete(list_.free);
        list_.free = next;
      }
      list_.count = 0;
      list_.destroyed = true;
    }
  };
  KHZ_NOINLINE static void register_owner() noexcept {
    thread_local owner o;
    (void)o;
    list_.owner_registered = true;
  }
  static inline constinit thread_local state list_{};
};

}  // namespace detail
KHZ_END_NAMESPACE
