#pragma once
// Internal: runs llhttp on a span with the best build of it this CPU can execute.
//
// cmake/KhzLlhttp.cmake compiles llhttp's generated parser more than once from the same
// llhttp.c (so the state, llhttp_t, and its state numbers are the same: a parser
// initialised with llhttp_init() can be run by any of them):
//   - the stock build (llhttp.c, api.c, http.c): llhttp_execute(), callbacks through
//     llhttp_settings_t;
//   - with KHZ_LLHTTP_HOOKS=1, a build with khz's own hooks (src/http/llhttp_hooks.h):
//     no settings, the events khz does not use compiled out, llhttp_t::data pointing at
//     the parser's detail::llhttp_spans;
//   - with KHZ_LLHTTP_SSE42=1 (x86-64), both again with -msse4.2, chosen where the CPU
//     has SSE4.2.
// The choice is made once (base/cpu_features.hpp); without the sources (an installed
// llhttp package, KHZ_LLHTTP_HOOKS=0 and KHZ_LLHTTP_SSE42=0) llhttp_execute() runs.
//
// Used by the parser (src/http/parser.cpp), which runs run_llhttp() and registers
// callbacks that do what the hooks do, and by the parser benchmark, whose baseline is
// the stock llhttp (run_stock_llhttp()).
#include <khz/base/config.hpp>

#include <llhttp.h>

#include "../base/cpu_features.hpp"

#include <cstddef>

#if defined(KHZ_LLHTTP_SSE42) && KHZ_LLHTTP_SSE42 && (defined(__x86_64__) || defined(__i386__))
#define KHZ_LLHTTP_RUN_SSE42 1
#else
#define KHZ_LLHTTP_RUN_SSE42 0
#endif
#if defined(KHZ_LLHTTP_HOOKS) && KHZ_LLHTTP_HOOKS
#define KHZ_LLHTTP_RUN_HOOKS 1
#else
#define KHZ_LLHTTP_RUN_HOOKS 0
#endif
// Whether there is more than one build to choose from (the tests cross-check them).
#define KHZ_LLHTTP_RUN_DISPATCH (KHZ_LLHTTP_RUN_SSE42 || KHZ_LLHTTP_RUN_HOOKS)

extern "C" {
#if KHZ_LLHTTP_RUN_SSE42
int khz_sse42_llhttp__internal_execute(llhttp_t* state, const char* p, const char* endp);
#endif
#if KHZ_LLHTTP_RUN_HOOKS
int khz_hooked_llhttp__internal_execute(llhttp_t* state, const char* p, const char* endp);
#if KHZ_LLHTTP_RUN_SSE42
int khz_hooked_sse42_llhttp__internal_execute(llhttp_t* state, const char* p, const char* endp);
// Whether that build's long runs of value bytes use AVX2 (src/http/llhttp_hooks.h): set
// from the CPU when the library loads; tests switch it (only while no parser runs).
extern int khz_llhttp_wide_avx2;
#endif
#endif
}

KHZ_BEGIN_NAMESPACE
namespace detail {

// Which builds run. Tests may switch them (every build must agree on every input); they
// are read on every call, so switch them only while no parser runs.
#if KHZ_LLHTTP_RUN_SSE42
inline bool llhttp_use_sse42 = cpu_has_sse42;
#else
inline constexpr bool llhttp_use_sse42 = false;
#endif
#if KHZ_LLHTTP_RUN_HOOKS
inline bool llhttp_use_hooks = true;
#else
inline constexpr bool llhttp_use_hooks = false;
#endif

// The stock llhttp, as its users run it (callbacks through llhttp_settings_t).
inline llhttp_errno_t run_stock_llhttp(llhttp_t* p, const char* data, std::size_t len) noexcept {
#if KHZ_LLHTTP_RUN_SSE42
  if (llhttp_use_sse42) return static_cast<llhttp_errno_t>(khz_sse42_llhttp__internal_execute(p, data, data + len));
#endif
  return llhttp_execute(p, data, len);
}

// What khz's parser runs: the hooked build where there is one (p->data must point at a
// llhttp_spans), else the stock one.
inline llhttp_errno_t run_llhttp(llhttp_t* p, const char* data, std::size_t len) noexcept {
#if KHZ_LLHTTP_RUN_HOOKS
  if (llhttp_use_hooks) {
#if KHZ_LLHTTP_RUN_SSE42
    if (llhttp_use_sse42)
      return static_cast<llhttp_errno_t>(khz_hooked_sse42_llhttp__internal_execute(p, data, data + len));
#endif
    return static_cast<llhttp_errno_t>(khz_hooked_llhttp__internal_execute(p, data, data + len));
  }
#endif
  return run_stock_llhttp(p, data, len);
}

}  // namespace detail
KHZ_END_NAMESPACE
