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
#endif /* KHZ_LLHTTP_HOOKS_IMPL */

#endif /* KHZ_SRC_HTTP_LLHTTP_HOOKS_H_ */
