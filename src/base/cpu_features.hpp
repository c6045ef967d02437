#pragma once
// Internal: the CPU features the library dispatches on at run time, read once.
// __builtin_cpu_init() first: these initializers may run before libgcc's own CPU
// detection (static initialization order across translation units).
#include <khz/base/config.hpp>

KHZ_BEGIN_NAMESPACE
namespace detail {

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define KHZ_HAVE_X86_CPU_FEATURES 1
inline const bool cpu_has_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
inline const bool cpu_has_sse42 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#else
#define KHZ_HAVE_X86_CPU_FEATURES 0
inline constexpr bool cpu_has_avx2 = false;
inline constexpr bool cpu_has_sse42 = false;
#endif

}  // namespace detail
KHZ_END_NAMESPACE
