#pragma once
// Versioning and namespaces. Every public name lives in khz::v1 (an inline namespace,
// so users write khz::name); internals live in khz::v1::detail.

#define KHZ_VERSION_MAJOR 0
#define KHZ_VERSION_MINOR 1
#define KHZ_VERSION_PATCH 0

#define KHZ_BEGIN_NAMESPACE \
  namespace khz {           \
  inline namespace v1 {
#define KHZ_END_NAMESPACE \
  }                       \
  }

#if defined(__GNUC__) || defined(__clang__)
#define KHZ_LIKELY(x) __builtin_expect(!!(x), 1)
#define KHZ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KHZ_NOINLINE __attribute__((noinline))
#define KHZ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define KHZ_LIKELY(x) (x)
#define KHZ_UNLIKELY(x) (x)
#define KHZ_NOINLINE
#define KHZ_ALWAYS_INLINE inline
#endif

#if defined(__SANITIZE_ADDRESS__)
#define KHZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KHZ_ASAN 1
#endif
#endif
#ifndef KHZ_ASAN
#define KHZ_ASAN 0
#endif
