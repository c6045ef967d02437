/* khz's own llhttp hooks: what llhttp's generated parser calls at each span and event.
 *
 * llhttp is two parts: the generated state machine (llhttp.c), which calls a fixed set
 * of hook functions (llhttp__on_method, llhttp__on_header_field, ...), and api.c, whose
 * versions of those hooks look up a callback in llhttp_settings_t and call it through a
 * pointer. khz needs only a few events (the start line's spans, the end of the target,
 * the end of the head), so cmake/KhzLlhttp.cmake compiles Debian's llhttp.c a second
 * time with this header forced in first (-include): the hooks below are then static
 * inline functions of that translation unit, inlined into the state machine. The hooks
 * khz does not use become nothing (no call, no settings lookup, no error branch), the
 * rest a store or two. That build's external symbols are renamed (khz_hooked_ prefix)
 * so it links next to the stock llhttp (llhttp.c + api.c + http.c), which stays for
 * llhttp_init(), the error accessors, the hooks in http.c (framing decisions, kept as
 * they are) and for CPUs and builds without the hooked parser. Any hook of a later llhttp
 * not defined here links to api.c's version and goes through the settings as before.
 *
 * The contract with src/http/parser.cpp: llhttp_t::data points at a khz_llhttp_spans
 * (mirrored by khz::detail::llhttp_spans in include/khz/http/parser.hpp; parser.cpp
 * checks the layouts match), and the stock path's callbacks (parser.cpp) do exactly what
 * these hooks do.
 */
#ifndef KHZ_SRC_HTTP_LLHTTP_HOOKS_H_
#define KHZ_SRC_HTTP_LLHTTP_HOOKS_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The start line's spans: a span arriving in pieces (a read ending inside it) is
 * extended, since the head region is contiguous. */
struct khz_llhttp_spans {
  const char* method_b;
  const char* method_e;
  const char* target_b;
  const char* target_e;
  const char* version_b;
  const char* version_e;
  const char* reason_b;
  const char* reason_e;
  size_t max_target_length; /* longer: on_url_complete fails, target_too_long set */
  unsigned char target_done;
  unsigned char target_too_long;
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#if defined(KHZ_LLHTTP_HOOKS_IMPL) && !defined(__cplusplus)
#include <llhttp.h>

#define KHZ_HOOK_SPANS(s) ((struct khz_llhttp_spans*)(s)->data)

/* A span hook: remembers where the span starts and where it ends (so far). */
#define KHZ_HOOK_SPAN(name, b, e)                                                     \
  static inline int llhttp__on_##name(llhttp__internal_t* s, const unsigned char* p, \
                                      const unsigned char* endp) {                    \
    struct khz_llhttp_spans* h = KHZ_HOOK_SPANS(s);                                   \
    if (h->b == NULL) h->b = (const char*)p;                                          \
    h->e = (const char*)endp;                                                         \
    return 0;                                                                         \
  }

/* An event khz does not need (fields are read from the head afterwards; bodies and
 * chunks are never given to llhttp). */
#define KHZ_HOOK_NONE(name)                                                           \
  static inline int llhttp__on_##name(llhttp__internal_t* s, const unsigned char* p, \
                                      const unsigned char* endp) {                    \
    (void)s;                                                                          \
    (void)p;                                                                          \
    (void)endp;                                                                       \
    return 0;                                                                         \
  }

KHZ_HOOK_SPAN(method, method_b, method_e)
KHZ_HOOK_SPAN(url, target_b, target_e)
KHZ_HOOK_SPAN(version, version_b, version_e)
KHZ_HOOK_SPAN(status, reason_b, reason_e)

/* The target is complete: refused (414) when longer than the limit, before the rest of
 * the head is read. -1 makes llhttp fail with HPE_CB_URL_COMPLETE. */
static inline int llhttp__on_url_complete(llhttp__internal_t* s, const unsigned char* p,
                                          const unsigned char* endp) {
  struct khz_llhttp_spans* h = KHZ_HOOK_SPANS(s);
  (void)p;
  (void)endp;
  h->target_done = 1;
  if ((size_t)(h->target_e - h->target_b) > h->max_target_length) {
    h->target_too_long = 1;
    return -1;
  }
  return 0;
}

/* The end of the head: llhttp pauses there (the body is framed by khz). */
static inline int llhttp__on_headers_complete(llhttp__internal_t* s, const unsigned char* p,
                                              const unsigned char* endp) {
  (void)s;
  (void)p;
  (void)endp;
  return HPE_PAUSED;
}

KHZ_HOOK_NONE(message_begin)
KHZ_HOOK_NONE(method_complete)
KHZ_HOOK_NONE(version_complete)
KHZ_HOOK_NONE(status_complete)
KHZ_HOOK_NONE(header_field)
KHZ_HOOK_NONE(header_field_complete)
KHZ_HOOK_NONE(header_value)
KHZ_HOOK_NONE(header_value_complete)
KHZ_HOOK_NONE(body)
KHZ_HOOK_NONE(message_complete)
KHZ_HOOK_NONE(chunk_header)
KHZ_HOOK_NONE(chunk_extension_name)
KHZ_HOOK_NONE(chunk_extension_name_complete)
KHZ_HOOK_NONE(chunk_extension_value)
KHZ_HOOK_NONE(chunk_extension_value_complete)
KHZ_HOOK_NONE(chunk_complete)
KHZ_HOOK_NONE(reset)

#undef KHZ_HOOK_NONE
#undef KHZ_HOOK_SPAN

#if defined(__SSE4_2__)
/* Long runs of value bytes, one pass.
 *
 * llparse's SSE4.2 fast path asks pcmpestri, 16 bytes at a time, how many of the next
 * bytes fall in a few byte ranges (a header value: HTAB, SP..'~', 0x80..0xFF), then
 * advances p by the answer and asks again. Each step's load waits for the previous
 * step's answer, so a 1 KiB value (a cookie, a token, the echo benchmark's test-header)
 * takes 64 steps of pcmpestri's latency, most of llhttp's time on such a head.
 *
 * In khz's build, a call site with at most three ranges (header values, the '~' of field
 * names) gets the answer for the whole run instead: the bytes in the ranges from p on,
 * stopping at the first byte outside them or when fewer than 16 bytes are left (the
 * state's byte loop does the rest, as before). llparse's code around the call only does
 * `p += match_len` and loops to the same state while match_len != 0, so a longer answer
 * is exactly what 16-byte steps would reach. Sites with more ranges (tokens, the target)
 * keep pcmpestri: their runs are short. The macro names llparse's `p` and `endp` (the
 * arguments of llhttp__internal__run); the test wide_range_runs checks every byte value
 * at offsets across the steps against the rules, with and without AVX2.
 *
 * A byte x is in the range lo..hi (unsigned) when x - lo <= hi - lo (unsigned), that is
 * when x + (0x80 - lo) <= (hi - lo) ^ 0x80 as signed bytes: one add and one signed
 * compare per range (SSE2 and AVX2 have no unsigned byte compare). The first 16 bytes
 * are tested inline (most values are short); a longer run goes on out of line, 64 bytes
 * a step, with AVX2 where the CPU has it. */
#include <x86intrin.h>

/* Whether the long runs use AVX2: set at load time from the CPU; tests may set it to 0
 * (or back to 1 where the CPU has AVX2) while no parser runs. */
int khz_llhttp_wide_avx2 = 0;
__attribute__((constructor)) static void khz_llhttp_wide_init(void) {
  __builtin_cpu_init();
  khz_llhttp_wide_avx2 = __builtin_cpu_supports("avx2") != 0;
}

/* The n (lo, hi) pairs of `ranges` as the add and the bound of the signed test. The
 * pairs are read as bytes: `ranges` is llparse's constant, so the compiler folds these
 * to constants too. */
static inline __attribute__((always_inline)) void khz_range_consts(__m128i ranges, int n, __m128i* bias,
                                                                   __m128i* bound) {
  unsigned char r[16];
  _mm_storeu_si128((__m128i*)r, ranges);
  for (int i = 0; i < n; ++i) {
    bias[i] = _mm_set1_epi8((char)(0x80 - r[2 * i]));
    bound[i] = _mm_set1_epi8((char)((r[2 * i + 1] - r[2 * i]) ^ 0x80));
  }
}

/* The bytes of the 16 at q outside all n ranges, as bits. */
static inline __attribute__((always_inline)) unsigned khz_outside16(const unsigned char* q, const __m128i* bias,
                                                                    const __m128i* bound, int n) {
  const __m128i x = _mm_loadu_si128((const __m128i*)q);
  __m128i out = _mm_cmpgt_epi8(_mm_add_epi8(x, bias[0]), bound[0]);
  for (int i = 1; i < n; ++i) out = _mm_and_si128(out, _mm_cmpgt_epi8(_mm_add_epi8(x, bias[i]), bound[i]));
  return (unsigned)_mm_movemask_epi8(out);
}

/* The same for the 32 bytes at q. */
static inline __attribute__((target("avx2"), always_inline)) unsigned khz_outside32(const unsigned char* q,
                                                                                    const __m256i* bias,
                                                                                    const __m256i* bound, int n) {
  const __m256i x = _mm256_loadu_si256((const __m256i*)q);
  __m256i out = _mm256_cmpgt_epi8(_mm256_add_epi8(x, bias[0]), bound[0]);
  for (int i = 1; i < n; ++i)
    out = _mm256_and_si256(out, _mm256_cmpgt_epi8(_mm256_add_epi8(x, bias[i]), bound[i]));
  return (unsigned)_mm256_movemask_epi8(out);
}

/* The run from q = p + 16 on (the first 16 bytes are in), 16 bytes a step after 64. */
static inline __attribute__((always_inline)) int khz_range_tail_sse(const unsigned char* p, const unsigned char* endp,
                                                                    __m128i ranges, int n) {
  __m128i bias[3], bound[3];
  khz_range_consts(ranges, n, bias, bound);
  const unsigned char* q = p + 16;
  for (; endp - q >= 64; q += 64) {
    const unsigned a = khz_outside16(q, bias, bound, n);
    const unsigned b = khz_outside16(q + 16, bias, bound, n);
    const unsigned c = khz_outside16(q + 32, bias, bound, n);
    const unsigned d = khz_outside16(q + 48, bias, bound, n);
    if ((a | b | c | d) != 0) {
      const unsigned long long all =
          (unsigned long long)a | (unsigned long long)b << 16 | (unsigned long long)c << 32 | (unsigned long long)d << 48;
      return (int)(q - p) + __builtin_ctzll(all);
    }
  }
  for (; endp - q >= 16; q += 16) {
    const unsigned out = khz_outside16(q, bias, bound, n);
    if (out != 0) return (int)(q - p) + __builtin_ctz(out);
  }
  return (int)(q - p);
}

static inline __attribute__((target("avx2"), always_inline)) int khz_range_tail_avx2(const unsigned char* p,
                                                                                     const unsigned char* endp,
                                                                                     __m128i ranges, int n) {
  __m128i bias16[3], bound16[3];
  __m256i bias[3], bound[3];
  khz_range_consts(ranges, n, bias16, bound16);
  for (int i = 0; i < n; ++i) {
    bias[i] = _mm256_broadcastsi128_si256(bias16[i]);
    bound[i] = _mm256_broadcastsi128_si256(bound16[i]);
  }
  const unsigned char* q = p + 16;
  for (; endp - q >= 64; q += 64) {
    const unsigned a = khz_outside32(q, bias, bound, n);
    const unsigned b = khz_outside32(q + 32, bias, bound, n);
    if ((a | b) != 0) return (int)(q - p) + __builtin_ctzll((unsigned long long)a | (unsigned long long)b << 32);
  }
  if (endp - q >= 32) {
    const unsigned out = khz_outside32(q, bias, bound, n);
    if (out != 0) return (int)(q - p) + __builtin_ctz(out);
    q += 32;
  }
  if (endp - q >= 16) {
    const unsigned out = khz_outside16(q, bias16, bound16, n);
    if (out != 0) return (int)(q - p) + __builtin_ctz(out);
    q += 16;
  }
  return (int)(q - p);
}

/* Out of line: called only for runs of 16 bytes and more, with n known per case. */
static __attribute__((target("avx2"), noinline)) int khz_range_tail_avx2_any(const unsigned char* p,
                                                                             const unsigned char* endp,
                                                                             __m128i ranges, int n) {
  switch (n) {
    case 1: return khz_range_tail_avx2(p, endp, ranges, 1);
    case 2: return khz_range_tail_avx2(p, endp, ranges, 2);
    default: return khz_range_tail_avx2(p, endp, ranges, 3);
  }
}

static __attribute__((noinline)) int khz_range_tail(const unsigned char* p, const unsigned char* endp, __m128i ranges,
                                                    int n) {
  if (endp - p > (1 << 30)) endp = p + (1 << 30); /* an int holds the answer; llparse asks again */
  if (khz_llhttp_wide_avx2) return khz_range_tail_avx2_any(p, endp, ranges, n);
  switch (n) {
    case 1: return khz_range_tail_sse(p, endp, ranges, 1);
    case 2: return khz_range_tail_sse(p, endp, ranges, 2);
    default: return khz_range_tail_sse(p, endp, ranges, 3);
  }
}

/* The number of bytes from p on that fall in the first la / 2 ranges of `ranges` (pairs
 * lo, hi, unsigned bytes; lo <= hi), at least endp - p >= 16 bytes readable. The count
 * is exact up to the first byte outside the ranges; it may stop earlier, but only when
 * fewer than 16 bytes are left after it or after 1 GiB, and never returns 0 unless p[0]
 * is outside. Inlined at each site (a call costs the GET more than the scan saves it);
 * only a run past the first 16 bytes calls out. */
static inline __attribute__((always_inline)) int khz_range_run(const unsigned char* p, const unsigned char* endp,
                                                               __m128i ranges, int la) {
  __m128i bias[3], bound[3];
  const int n = la < 6 ? la / 2 : 3; /* the macro passes 2, 4 or 6 */
  khz_range_consts(ranges, n, bias, bound);
  const unsigned out = khz_outside16(p, bias, bound, n);
  if (out != 0) return __builtin_ctz(out);
  if (endp - p < 32) return 16;
  return khz_range_tail(p, endp, ranges, n);
}

#undef _mm_cmpestri
#define KHZ_RANGES_MODE (_SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_NEGATIVE_POLARITY)
#define _mm_cmpestri(R, LA, X, LB, M)                                                    \
  (((LA) >= 2 && (LA) <= 6 && (LA) % 2 == 0 && (LB) == 16 && (M) == KHZ_RANGES_MODE)     \
       ? khz_range_run(p, endp, (R), (LA))                                               \
       : (int)__builtin_ia32_pcmpestri128((__v16qi)(__m128i)(R), (int)(LA),              \
                                          (__v16qi)(__m128i)(X), (int)(LB), (int)(M)))
#endif /* __SSE4_2__ */
#endif /* KHZ_LLHTTP_HOOKS_IMPL */

#endif /* KHZ_SRC_HTTP_LLHTTP_HOOKS_H_ */
