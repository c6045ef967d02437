#pragma once
// Internal: runs llhttp on a span with the best build of it this CPU can execute.
//
// cmake/KhzLlhttp.cmake compiles llhttp's generated parser a second time with -msse4.2
// (its SSE4.2 fast paths: header values and tokens 16 bytes a step) under renamed symbols
// and defines KHZ_LLHTTP_SSE42=1. Both builds come from the same llhttp.c, so the state
// (llhttp_t) and its state numbers are the same: a parser initialised with llhttp_init()
// can be run by either. The choice is made once (base/cpu_features.hpp); without the
// second build (an installed llhttp package, another architecture) llhttp_execute() runs.
//
// Used by the parser (src/http/parser.cpp) and by the parser benchmark's llhttp baseline,
// so both run the same llhttp code.
#include <khz/base/config.hpp>

#include <llhttp.h>

#include "../base/cpu_features.hpp"

#include <cstddef>

#if defined(KHZ_LLHTTP_SSE42) && KHZ_LLHTTP_SSE42 && (defined(__x86_64__) || defined(__i386__))
#define KHZ_LLHTTP_RUN_DISPATCH 1
extern "C" int khz_sse42_llhttp__internal_execute(llhttp_t* state, const char* p, const char* endp);
#else
#define KHZ_LLHTTP_RUN_DISPATCH 0
#endif

KHZ_BEGIN_NAMESPACE
namespace detail {

#if KHZ_LLHTTP_RUN_DISPATCH
// Whether the SSE4.2 build runs. Tests may switch it (both builds must agree on every
// input); it is read on every call, so switch it only while no parser runs.
inline bool llhttp_use_sse42 = cpu_has_sse42;

inline llhttp_errno_t run_llhttp(llhttp_t* p, const char* data, std::size_t len) noexcept {
  if (llhttp_use_sse42) return static_cast<llhttp_errno_t>(khz_sse42_llhttp__internal_execute(p, data, data + len));
  return llhttp_execute(p, data, len);
}
#else
inline constexpr bool llhttp_use_sse42 = false;
inline llhttp_errno_t run_llhttp(llhttp_t* p, const char* data, std::size_t len) noexcept {
  return llhttp_execute(p, data, len);
}
#endif

}  // namespace detail
KHZ_END_NAMESPACE
