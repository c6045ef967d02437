// The parsers: llhttp reads the head (start line and header section); the body framing
// (Content-Length, chunked, until close) is done here, so that bodies are sliced out of
// the input without llhttp scanning them and chunked framing is checked byte for byte.
//
// llhttp 8 is built without LLHTTP_STRICT_MODE here (the Debian sources), so its loose
// mode accepts a few things RFC 9112 forbids; every one is checked below:
//   bare LF / bare CR as line ends, whitespace inside or after a field name, obs-fold,
//   spaces around the request-target, HTTP/0.9 and 2.0 request lines, control bytes in
//   the target or the reason phrase, malformed status codes, Transfer-Encoding codings
//   other than chunked, TE in HTTP/1.0, the Host rule.
#include <khz/http/parser.hpp>

#include <llhttp.h>

#include "../base/cpu_features.hpp"
#include "llhttp_hooks.h"
#include "llhttp_run.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KHZ_HAVE_AVX2_DISPATCH 1
#else
#define KHZ_HAVE_AVX2_DISPATCH 0
#endif

KHZ_BEGIN_NAMESPACE

namespace detail {

using namespace http_chars;  // the RFC 9110 character tables

struct message_access {
  static link_buffer& head(message_base& m) noexcept { return m.head_; }
  static void set_framing(message_base& m, bool has_cl, std::uint64_t cl, bool chunked, bool has_body) noexcept {
    m.has_content_length_ = has_cl;
    m.content_length_ = cl;
    m.chunked_ = chunked;
    m.has_body_ = has_body;
  }
  static void set_request_line(request& r, khz::method m, std::string_view name, std::string_view target) noexcept {
    r.method_ = m;
    r.method_name_ = name;
    r.target_ = target;
  }
  static void set_request_flags(request& r, bool expect_continue, std::string_view upgrade) noexcept {
    r.expect_continue_ = expect_continue;
    r.upgrade_ = upgrade;
  }
  static void set_status_line(response& r, unsigned code, std::string_view reason) noexcept {
    r.status_ = static_cast<std::uint16_t>(code);
    r.reason_ = reason;
    r.custom_reason_ = true;
  }
};

namespace {

static_assert(sizeof(llhttp_t) <= 96, "parser_core::llhttp_ is too small for llhttp_t");
static_assert(alignof(llhttp_t) <= 8, "parser_core::llhttp_ is under-aligned for llhttp_t");

// detail::llhttp_spans is the C++ face of the C struct khz's llhttp hooks write.
static_assert(std::is_standard_layout_v<llhttp_spans> && sizeof(llhttp_spans) == sizeof(khz_llhttp_spans));
#define KHZ_SAME_FIELD(f) static_assert(offsetof(llhttp_spans, f) == offsetof(khz_llhttp_spans, f))
KHZ_SAME_FIELD(method_b);
KHZ_SAME_FIELD(method_e);
KHZ_SAME_FIELD(target_b);
KHZ_SAME_FIELD(target_e);
KHZ_SAME_FIELD(version_b);
KHZ_SAME_FIELD(version_e);
KHZ_SAME_FIELD(reason_b);
KHZ_SAME_FIELD(reason_e);
KHZ_SAME_FIELD(max_target_length);
KHZ_SAME_FIELD(target_done);
KHZ_SAME_FIELD(target_too_long);
#undef KHZ_SAME_FIELD

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

#if defined(__SSE2__)
// The bytes of the 16 at p that are CR or LF, as bits.
inline unsigned eol_bits(const char* p) noexcept {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\n')))));
}

#if KHZ_HAVE_AVX2_DISPATCH
// The first CR or LF in [p, end), or end, with AVX2, 64 bytes per step (one pass where
// memchr needs two): chosen at run time where the CPU has it. Loads never leave [end - 32, end) at the
// end; the caller guarantees those 32 bytes are readable.
__attribute__((target("avx2"), always_inline)) inline std::uint32_t eol_bits_avx2(const char* q) noexcept {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(
      _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\r')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n')))));
}

__attribute__((target("avx2"), always_inline)) inline __m256i eol_mask_avx2(const char* q) noexcept {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  return _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\r')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n')));
}

__attribute__((target("avx2"), noinline)) const char* find_eol_avx2(const char* p, const char* end) noexcept {
  // 128 bytes per step, one test for all four loads (a long value: a cookie, a token).
  for (; end - p >= 128; p += 128) {
    const __m256i a = eol_mask_avx2(p);
    const __m256i b = eol_mask_avx2(p + 32);
    const __m256i c = eol_mask_avx2(p + 64);
    const __m256i d = eol_mask_avx2(p + 96);
    const __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
    if (_mm256_testz_si256(any, any) == 0) {
      const std::uint64_t lo = static_cast<std::uint32_t>(_mm256_movemask_epi8(a)) |
                               std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(b))} << 32;
      if (lo != 0) return p + std::countr_zero(lo);
      const std::uint64_t hi = static_cast<std::uint32_t>(_mm256_movemask_epi8(c)) |
                               std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(d))} << 32;
      return p + 64 + std::countr_zero(hi);
    }
  }
  for (; end - p >= 64; p += 64) {
    const std::uint64_t e = eol_bits_avx2(p) | std::uint64_t{eol_bits_avx2(p + 32)} << 32;
    if (e != 0) return p + std::countr_zero(e);
  }
  if (end - p >= 32) {
    if (const std::uint32_t e = eol_bits_avx2(p); e != 0) return p + std::countr_zero(e);
    p += 32;
  }
  if (p >= end) return end;
  const std::uint32_t e = eol_bits_avx2(end - 32) >> (32 - (end - p));
  return e != 0 ? p + std::countr_zero(e) : end;
}

#endif

// The first CR or LF in [p, end), or end. Precondition: the bytes from lo to end are
// readable, lo at least 16 bytes before end (loads near the end are the last 16 bytes,
// shifted).
inline const char* find_eol(const char* p, const char* end, const char* lo) noexcept {
  for (int i = 0; i < 2 && end - p >= 32; ++i, p += 32) {
    const unsigned e = eol_bits(p) | eol_bits(p + 16) << 16;
    if (e != 0) return p + std::countr_zero(e);
  }
  if (end - p < 32) {
    if (end - p >= 16) {
      if (const unsigned e = eol_bits(p); e != 0) return p + std::countr_zero(e);
      p += 16;
    }
    if (p >= end) return end;
    const unsigned e = eol_bits(end - 16) >> (16 - (end - p));
    return e != 0 ? p + std::countr_zero(e) : end;
  }
  // A long value (64 bytes read): 64 bytes per step with AVX2 where the CPU has it
  // (and the 32 bytes before end are readable); else libc's memchr, the fastest scan
  // there is: the first CR, and any LF before it.
#if KHZ_HAVE_AVX2_DISPATCH
  if (detail::cpu_has_avx2 && end - lo >= 32) return find_eol_avx2(p, end);
#else
  (void)lo;
#endif
  const void* r = std::memchr(p, '\r', static_cast<std::size_t>(end - p));
  const char* cr = r != nullptr ? static_cast<const char*>(r) : end;
  const void* l = std::memchr(p, '\n', static_cast<std::size_t>(cr - p));
  return l != nullptr ? static_cast<const char*>(l) : cr;
}


// How many of the 16 bytes at p, from the first, are letters, digits, '.' or '-': the
// bytes of almost every host name (all of them reg-name bytes).
inline unsigned host_prefix16(const char* p) noexcept {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
  const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                      _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
  const __m128i digit =
      _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
  const __m128i punct = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')), _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
  const unsigned ok = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(alpha, digit), punct)));
  return static_cast<unsigned>(std::countr_zero(~ok));  // 16 when all are
}

// Bytes of the 16 at p that are not request-target bytes (VCHAR but '#'), as bits.
inline unsigned bad_target_bits(const char* p) noexcept {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed compares: bytes from 0x80 are negative, so they fail the first test.
  const __m128i vchar = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(0x20)), _mm_cmplt_epi8(x, _mm_set1_epi8(0x7f)));
  const __m128i ok = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('#')), vchar);
  return ~static_cast<unsigned>(_mm_movemask_epi8(ok)) & 0xffffu;
}
#endif

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name or IP-literal bytes, digits
// after the last ':' outside brackets. Empty is allowed (RFC 9112 §3.2).
// `limit`: the bytes up to it are readable (the end of the head), for 16-byte loads.
bool valid_host(std::string_view h, const char* limit) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  if (h.size() <= 16 && limit - h.data() >= 16) {
    // The usual host: letters, digits, dots and dashes, then maybe ":port".
    i = std::min<std::size_t>(host_prefix16(h.data()), h.size());
    if (i == h.size()) return true;
    if (h[i] == ':') {
      for (++i; i < h.size(); ++i)
        if (!is_digit(h[i])) return false;
      return true;
    }
    i = 0;
  }
#else
  (void)limit;
#endif
  if (!h.empty() && h[0] == '[') {
    std::size_t close = h.find(']');
    if (close == std::string_view::npos) return false;
    for (i = 1; i < close; ++i) {
      char ch = h[i];
      if (!(is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
        return false;
    }
    i = close + 1;
    if (i == h.size()) return true;
    if (h[i] != ':') return false;
    ++i;
  } else {
    while (i < h.size() && is_class(h[i], cc_reg_name)) ++i;
    if (i == h.size()) return true;
    if (h[i] != ':') return false;
    ++i;
  }
  for (; i < h.size(); ++i)
    if (!is_digit(h[i])) return false;
  return true;
}

// target_bytes_valid(), 16 bytes per step; `limit` as for valid_host().
inline bool target_valid(std::string_view t, const char* limit) noexcept {
#if defined(__SSE2__)
  const char* p = t.data();
  std::size_t n = t.size();
  for (; n >= 16; p += 16, n -= 16)
    if (bad_target_bits(p) != 0) return false;
  if (n == 0) return true;
  if (limit - p >= 16) return (bad_target_bits(p) & ((1u << n) - 1)) == 0;
  return target_bytes_valid(std::string_view(p, n));
#else
  (void)limit;
  return target_bytes_valid(t);
#endif
}

// One field line as found by scan_line(): where its first CR or LF is (or `end`), where
// its first ':' before that is (or nullptr), and whether a SP comes before the colon.
struct line_scan {
  const char* eol;
  const char* colon;
  bool space_in_name;
};

// Scans the line starting at p in one pass, 16 bytes per step where SSE2 is available
// (x86-64 always): reading the fields is then a few steps per line rather than a loop
// over every byte.
inline line_scan scan_line(const char* p, const char* end) noexcept {
  const char* colon = nullptr;
  bool space = false;
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i co = _mm_set1_epi8(':');
  const __m128i sp = _mm_set1_epi8(' ');
  int blocks = 0;
  while (end - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned eol =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf))));
    if (colon == nullptr) {
      const unsigned before = eol != 0 ? (eol & (0u - eol)) - 1 : 0xffffu;  // bytes before the line end
      const unsigned c = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, co))) & before;
      const unsigned s = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, sp)));
      if (c != 0) {
        const unsigned i = static_cast<unsigned>(std::countr_zero(c));
        colon = p + i;
        space |= (s & ((1u << i) - 1)) != 0;
      } else {
        space |= (s & before) != 0;
      }
    }
    if (eol != 0) return {p + std::countr_zero(eol), colon, space};
    p += 16;
    if (++blocks >= 4 && colon != nullptr && end - p > 64) {
      // A long value (64 bytes read, the name behind us): libc's memchr is the fastest
      // scan there is; the first CR, and any LF before it.
      const void* r = std::memchr(p, '\r', static_cast<std::size_t>(end - p));
      const char* cr = r != nullptr ? static_cast<const char*>(r) : end;
      const void* l = std::memchr(p, '\n', static_cast<std::size_t>(cr - p));
      return {l != nullptr ? static_cast<const char*>(l) : cr, colon, space};
    }
  }
#endif
  for (; p < end; ++p) {
    const char ch = *p;
    if (ch == '\r' || ch == '\n') break;
    if (colon == nullptr) {
      if (ch == ':') colon = p;
      else space |= ch == ' ';
    }
  }
  return {p, colon, space};
}


// classify_field() for a name made of token bytes (what llhttp lets through): ORing 0x20
// lower-cases letters and maps no other token byte onto a letter or '-', the only bytes
// of the known names, so word compares are exact. Loads stay inside the name.
inline std::uint64_t lower8(const char* p) noexcept { return swar::load(p) | 0x2020202020202020ull; }
inline std::uint32_t lower4(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v | 0x20202020u;
}
inline std::uint16_t lower2(const char* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<std::uint16_t>(v | 0x2020u);
}
inline known_field classify_token_name(const char* p, std::size_t n) noexcept {
  switch (n) {
    case 4:
      return lower4(p) == lower4("host") ? known_field::host : known_field::other;
    case 6:
      return lower4(p) == lower4("expe") && lower2(p + 4) == lower2("ct") ? known_field::expect
                                                                           : known_field::other;
    case 7:
      return lower4(p) == lower4("upgr") && lower4(p + 3) == lower4("rade") ? known_field::upgrade
                                                                             : known_field::other;
    case 10:
      return lower8(p) == lower8("connecti") && lower2(p + 8) == lower2("on") ? known_field::connection
                                                                              : known_field::other;
    case 12:
      return lower8(p) == lower8("content-") && lower4(p + 8) == lower4("type") ? known_field::content_type
                                                                                : known_field::other;
    case 14:
      return lower8(p) == lower8("content-") && lower8(p + 6) == lower8("t-length") ? known_field::content_length
                                                                                    : known_field::other;
    case 17:
      return lower8(p) == lower8("transfer") && lower8(p + 8) == lower8("-encodin") && (p[16] | 0x20) == 'g'
                 ? known_field::transfer_encoding
                 : known_field::other;
    default:
      return known_field::other;
  }
}

khz::method method_from_llhttp(std::uint8_t m) noexcept {
  switch (m) {
    case HTTP_GET: return khz::method::get;
    case HTTP_HEAD: return khz::method::head;
    case HTTP_POST: return khz::method::post;
    case HTTP_PUT: return khz::method::put;
    case HTTP_DELETE: return khz::method::delete_;
    case HTTP_CONNECT: return khz::method::connect;
    case HTTP_OPTIONS: return khz::method::options;
    case HTTP_TRACE: return khz::method::trace;
    case HTTP_PATCH: return khz::method::patch;
    default: return khz::method::other;
  }
}

}  // namespace

struct parser_callbacks {
  static int error(parser_core& c, unsigned status, const char* reason) noexcept {
    c.error_ = {status, reason};
    return -1;
  }

  // The stock llhttp's callbacks (llhttp_settings_t): what the hooks of khz's own llhttp
  // build do (src/http/llhttp_hooks.h), for the builds and CPUs that run the stock
  // llhttp. llhttp_t::data points at the parser's spans.
  static llhttp_spans& spans(llhttp_t* p) noexcept { return *static_cast<llhttp_spans*>(p->data); }

  // Spans arrive in pieces when a read ends inside them; the head region is contiguous,
  // so a piece always continues the previous one.
  static void extend(const char*& b, const char*& e, const char* at, std::size_t len) noexcept {
    if (b == nullptr) b = at;
    e = at + len;
  }

  static int on_method(llhttp_t* p, const char* at, std::size_t len) {
    llhttp_spans& s = spans(p);
    extend(s.method_b, s.method_e, at, len);
    return 0;
  }
  static int on_url(llhttp_t* p, const char* at, std::size_t len) {
    llhttp_spans& s = spans(p);
    extend(s.target_b, s.target_e, at, len);
    return 0;
  }
  static int on_url_complete(llhttp_t* p) {
    llhttp_spans& s = spans(p);
    s.target_done = 1;
    if (static_cast<std::size_t>(s.target_e - s.target_b) > s.max_target_length) {
      s.target_too_long = 1;
      return -1;
    }
    return 0;
  }
  static int on_version(llhttp_t* p, const char* at, std::size_t len) {
    llhttp_spans& s = spans(p);
    extend(s.version_b, s.version_e, at, len);
    return 0;
  }
  static int on_status(llhttp_t* p, const char* at, std::size_t len) {
    llhttp_spans& s = spans(p);
    extend(s.reason_b, s.reason_e, at, len);
    return 0;
  }

  // Where the first field line must start: right after the start line's CRLF.
  static int start_line_end(parser_core& c) noexcept {
    if (c.line_start_ != nullptr) return 0;
    llhttp_spans& s = c.spans_;
    const char* begin = c.head_begin_;
    // RFC 9112 §2.2: empty lines (CRLF) before the start line may be ignored.
    const char* first = c.requests_ ? s.method_b : s.version_b;
    if (first == nullptr) return error(c, 400, "malformed start line");
    if (!c.requests_) {
      if (first - begin < 5) return error(c, 400, "malformed status line");
      first -= 5;  // "HTTP/" precedes the version digits
    }
    if (first < begin) return error(c, 400, "malformed start line");
    for (const char* q = begin; q < first; q += 2)
      if (first - q < 2 || q[0] != '\r' || q[1] != '\n') return error(c, 400, "bare CR or LF before the start line");
    if (c.requests_) {
      // method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF, single spaces.
      if (s.target_b == nullptr || s.version_b == nullptr) return error(c, 400, "malformed request line");
      if (s.target_b != s.method_e + 1 || s.method_e[0] != ' ' || s.target_e[0] != ' ' ||
          s.version_b != s.target_e + 6 || std::memcmp(s.target_e + 1, "HTTP/", 5) != 0)
        return error(c, 400, "malformed request line");
    } else {
      // "HTTP/" DIGIT "." DIGIT SP 3DIGIT SP [ reason ] CRLF
      const char* v = s.version_e;
      if (s.version_b == nullptr || v[0] != ' ' || !is_digit(v[1]) || !is_digit(v[2]) || !is_digit(v[3]) ||
          v[4] != ' ')
        return error(c, 400, "malformed status line");
      const char* reason_end = v + 5;
      if (s.reason_b != nullptr) {
        if (s.reason_b != v + 5) return error(c, 400, "malformed status line");
        if (!all_of_class(std::string_view(s.reason_b, static_cast<std::size_t>(s.reason_e - s.reason_b)),
                          cc_reason))
          return error(c, 400, "invalid character in reason phrase");
        reason_end = s.reason_e;
      }
      if (s.version_e != s.version_b + 3) return error(c, 400, "malformed status line");
      s.version_e = reason_end;  // from here on: the end of the start line's content
    }
    if (s.version_e - s.version_b < 0) return error(c, 400, "malformed start line");
    c.line_start_ = s.version_e + 2;
    return 0;
  }

  // The header section is not reported field by field: llhttp validates its bytes
  // (loose mode: token bytes plus SP in names, no control byte but HTAB in values) and
  // stops at its end (on_headers_complete); the fields are then read from the head in
  // one pass (scan_fields), which also applies the line rules llhttp's loose mode does
  // not. Fewer llhttp callbacks, and each check runs once per field, at the same byte
  // however the input was split.

  // Reads every field line in [c.line_start_, end): the head ends at `end`, right after
  // the empty line. llhttp accepted these bytes, so a line without a bare CR or LF is
  // exactly the field line llhttp read: name ':' OWS value OWS CRLF.
  //
  // Per line, one 16-byte load at its start gives the colon and any SP before it, and
  // with the next 16 bytes the end of a line up to 32 bytes long; a longer value is
  // scanned for its CR or LF 32 bytes per step (AVX2 or libc's memchr past 96 bytes). Loads never leave [c.head_begin_, end): near the end
  // the load is the last 16 bytes of the head, shifted (the head is at least 16 bytes
  // long whenever it has a field line; shorter heads take the byte loop).
  static int scan_fields(parser_core& c, const char* end) {
    headers& out = c.msg_->headers();
    const char* const lo = c.head_begin_;
    const char* p = c.line_start_;
    unsigned host_count = c.host_count_;
    // Fields are written in place (no reload of the vector per field) and committed at
    // the end of the head; on an error the message is failed and they do not matter.
    // `limit` is where the storage ends or the field count limit is reached, whichever
    // comes first: one compare per field for both.
    header_field* first = out.fill_begin();
    const std::size_t max_count = c.limits_.max_header_count;
    const std::size_t room = max_count > c.header_count_ ? max_count - c.header_count_ : 0;
    auto limit_of = [&](header_field* storage_end) {
      return static_cast<std::size_t>(storage_end - first) > room ? first + room : storage_end;
    };
    header_field* next = first;
    header_field* limit = limit_of(out.fill_limit());
    for (;;) {
      const char* colon;
      const char* eol;
      bool bad_name;
#if defined(__SSE2__)
      // The usual line, 16 bytes or more before the end of the head: a name byte at its
      // start and a colon among its first 16 bytes. The line end is looked for in its
      // first 32 bytes at once when there are 32 (most field lines are longer than 16
      // bytes). Anything else takes the byte-exact path below.
      //
      // `low` marks the bytes below 0x21 (signed: and those from 0x80). Before the colon
      // they can only be SP (llhttp's name bytes are tchar and SP), or the line end
      // when the colon is on a later line: both make the name invalid, as the byte path
      // would find. At the start of the line: CR, LF, SP or HTAB, all for the byte path.
      std::uint32_t e = 0;
      unsigned k = 0, low = 1;
      const char* scanned = p + 16;
      if (KHZ_LIKELY(end - p >= 16)) {
        const __m128i cr = _mm_set1_epi8('\r');
        const __m128i lf = _mm_set1_epi8('\n');
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        e = static_cast<std::uint32_t>(
            _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf))));
        if (KHZ_LIKELY(end - p >= 32)) {
          const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
          e |= static_cast<std::uint32_t>(
                   _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(y, cr), _mm_cmpeq_epi8(y, lf))))
               << 16;
          scanned = p + 32;
        }
        low = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(x, _mm_set1_epi8(0x21))));
        k = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(':'))));
      }
      if (KHZ_LIKELY(k != 0 && (low & 1u) == 0)) {
        const unsigned ci = static_cast<unsigned>(std::countr_zero(k));
        colon = p + ci;
        // A low byte before the colon (k - 1: the bits below the first colon, and later
        // colons, never low bytes), or no name at all.
        bad_name = ((low & (k - 1)) | (k & 1u)) != 0;
        eol = e != 0 ? p + std::countr_zero(e) : find_eol(scanned, end, lo);
      } else
#endif
      {
        if (KHZ_UNLIKELY(end - p < 2)) return error(c, 400, "bare CR or LF in header section");
        const char first_byte = *p;
        if (first_byte == '\r') {
          // The empty line: CRLF, and the head ends right after it.
          if (p[1] != '\n' || end - p != 2) return error(c, 400, "bare CR or LF in header section");
          out.fill_end(next);
          c.header_count_ += static_cast<std::size_t>(next - first);
          c.host_count_ = static_cast<std::uint8_t>(host_count);
          return 0;
        }
        if (KHZ_UNLIKELY(first_byte == ' ' || first_byte == '\t'))
          return error(c, 400, "obs-fold or whitespace before a field line");
        const line_scan line = scan_line(p, end);
        colon = line.colon;
        eol = line.eol;
        bad_name = colon == nullptr || colon == p || line.space_in_name;
      }
      std::uint16_t crlf = 0;
      if (KHZ_LIKELY(end - eol >= 2)) std::memcpy(&crlf, eol, 2);
      if (KHZ_UNLIKELY(crlf != ('\n' << 8 | '\r'))) return error(c, 400, "bare CR or LF in header section");
      if (KHZ_UNLIKELY(next == limit)) {
        const std::size_t done = static_cast<std::size_t>(next - first);
        if (done >= room) return error(c, 431, "too many header fields");
        next = out.fill_grow(next);  // the fields move: so does `first`
        first = next - done;
        limit = limit_of(out.fill_limit());
      }
      // llhttp's loose-mode name table is tchar plus SP: SP is the only byte left to
      // refuse (the test header_name_bytes_exhaustive proves it for all 256 bytes).
      if (KHZ_UNLIKELY(bad_name)) return error(c, 400, "invalid header field name");
      const std::size_t name_size = static_cast<std::size_t>(colon - p);
      // OWS around the value is not part of it. llhttp has already refused every
      // control byte but HTAB in values (test header_value_bytes_exhaustive), so before
      // the line end a byte up to 0x20 is SP or HTAB. The loops need no bound: the CR at
      // eol stops the first, the colon the second.
      const char* vb = colon + 1;
      vb += *vb == ' ';
      if (KHZ_UNLIKELY(*vb == ' ' || *vb == '\t'))
        while (*vb == ' ' || *vb == '\t') ++vb;
      const char* ve = eol;
      if (KHZ_UNLIKELY(static_cast<unsigned char>(ve[-1]) <= 0x20)) {
        while (static_cast<unsigned char>(ve[-1]) <= 0x20) --ve;
        if (ve < vb) ve = vb;  // an empty value
      }
      const std::string_view value(vb, static_cast<std::size_t>(ve - vb));
      const known_field id = classify_token_name(p, name_size);
      // Member by member: a whole-struct store goes through the stack (GCC 12).
      next->name = std::string_view(p, name_size);
      next->value = value;
      next->id = id;
      if (KHZ_UNLIKELY(id != known_field::other)) {
        out.fill_index(id, next);
        if (id == known_field::host) {
          if (host_count == 0) c.host_value_ = value;  // the first one: what get(host) gives
          host_count += host_count < 255;
        } else if (int r = known_field_value(c, id, value); r != 0) {
          return r;
        }
      }
      ++next;
      p = eol + 2;
    }
  }

  // The framing and connection fields, checked as they are read.
  static int known_field_value(parser_core& c, known_field id, std::string_view value) {
    switch (id) {
      case known_field::host:
        if (c.host_count_ < 255) ++c.host_count_;
        break;
      case known_field::content_length: {
        if (value.empty() || value.size() > 19) {
          bool digits = !value.empty() && std::all_of(value.begin(), value.end(), is_digit);
          return error(c, 400, digits ? "Content-Length overflow" : "invalid Content-Length");
        }
        std::uint64_t v = 0;
        for (char ch : value) {
          if (!is_digit(ch)) return error(c, 400, "invalid Content-Length");
          v = v * 10 + static_cast<std::uint64_t>(ch - '0');
        }
        if (c.cl_count_ != 0 && v != c.content_length_) return error(c, 400, "conflicting Content-Length values");
        if (c.cl_count_ != 0) return error(c, 400, "duplicate Content-Length");
        c.cl_count_ = 1;
        c.content_length_ = v;
        break;
      }
      case known_field::transfer_encoding: {
        c.te_seen_ = true;
        int bad = 0;
        for_each_list_element(value, [&](std::string_view coding) {
          if (c.te_chunked_last_) {
            bad = 1;  // a coding after chunked
            return false;
          }
          if (iequals(coding, "chunked")) {
            c.te_chunked_last_ = true;
            c.te_chunked_seen_ = true;
          } else {
            c.te_other_ = true;
          }
          return true;
        });
        if (bad != 0) return error(c, 400, "Transfer-Encoding: chunked is not the final coding");
        break;
      }
      case known_field::connection:
        // The usual values, one token: word compares (ORing 0x20 maps no value byte
        // but a letter's other case onto a letter, and only CR, never in a value, onto
        // '-').
        if (value.size() == 10 && lower8(value.data()) == lower8("keep-ali") &&
            lower2(value.data() + 8) == lower2("ve")) {
          c.conn_keep_alive_ = true;
          break;
        }
        if (value.size() == 5 && lower4(value.data()) == lower4("clos") && (value[4] | 0x20) == 'e') {
          c.conn_close_ = true;
          break;
        }
        for_each_list_element(value, [&](std::string_view token) {
          if (iequals(token, "close")) c.conn_close_ = true;
          else if (iequals(token, "keep-alive")) c.conn_keep_alive_ = true;
          else if (iequals(token, "upgrade")) c.conn_upgrade_ = true;
          return true;
        });
        break;
      case known_field::upgrade:
        if (c.upgrade_value_.empty()) c.upgrade_value_ = value;
        break;
      case known_field::expect:
        // The first Expect field decides, as get(known_field::expect) would.
        if (!c.expect_seen_) {
          c.expect_seen_ = true;
          c.expect_continue_ = iequals(value, "100-continue");
        }
        break;
      default:
        break;
    }
    return 0;
  }

  // llhttp stops at the end of the head: the body, if any, is framed here.
  static int on_headers_complete(llhttp_t*) { return HPE_PAUSED; }

  // The whole head is in [c.head_begin_, end): checks the start line, reads the fields,
  // decides the framing. Returns 0, or -1 with c.error_ set.
  static int complete_head(parser_core& c, llhttp_t* p, const char* end) {
    if (int r = start_line_end(c); r != 0) return r;
    // The start line must end with CRLF where the first field line (or the empty
    // line) starts.
    if (c.line_start_ > end || c.line_start_[-2] != '\r' || c.line_start_[-1] != '\n')
      return error(c, 400, "bare CR or LF, or whitespace before a field line");
    if (int r = scan_fields(c, end); r != 0) return r;
    message_base& m = *c.msg_;
    const unsigned major = p->http_major;
    const unsigned minor = p->http_minor;
    if (c.spans_.version_e == nullptr || major == 0) return error(c, 400, "HTTP/0.9 is not supported");
    if (major != 1) return error(c, 505, "HTTP version not supported");
    if (minor > 1) return error(c, 505, "HTTP version not supported");
    m.set_version({static_cast<std::uint8_t>(major), static_cast<std::uint8_t>(minor)});
    const bool http11 = minor == 1;

    if (c.cl_count_ != 0 && c.te_seen_) return error(c, 400, "both Content-Length and Transfer-Encoding");
    if (c.te_seen_ && !http11) return error(c, 400, "Transfer-Encoding in an HTTP/1.0 message");

    bool keep_alive = http11 ? !c.conn_close_ : (c.conn_keep_alive_ && !c.conn_close_);
    bool chunked = false;
    bool has_body = false;
    bool until_close = false;

    if (c.requests_) {
      request& r = *c.req_;
      std::string_view name(c.spans_.method_b, static_cast<std::size_t>(c.spans_.method_e - c.spans_.method_b));
      std::string_view target(c.spans_.target_b, static_cast<std::size_t>(c.spans_.target_e - c.spans_.target_b));
      khz::method meth = method_from_llhttp(p->method);
      if (target.empty() || !target_valid(target, end)) return error(c, 400, "invalid request-target");
      // origin-form (the common case) is valid for every method but CONNECT.
      if ((target[0] != '/' || meth == khz::method::connect) &&
          split_target(target, meth).form == target_form::invalid)
        return error(c, 400, "request-target form not allowed for the method");
      if (c.host_count_ > 1) return error(c, 400, "more than one Host field");
      if (http11 && c.host_count_ == 0) return error(c, 400, "missing Host field");
      if (c.host_count_ == 1 && !valid_host(c.host_value_, end)) return error(c, 400, "invalid Host field");
      message_access::set_request_line(r, meth, name, target);
      message_access::set_request_flags(r, http11 && c.expect_continue_,
                                        c.conn_upgrade_ ? c.upgrade_value_ : std::string_view{});
      if (meth == khz::method::connect) {
        if (c.te_seen_ || c.content_length_ != 0) return error(c, 400, "CONNECT request with content");
      } else if (c.te_seen_) {
        if (!c.te_chunked_last_) return error(c, 400, "Transfer-Encoding: chunked is not the final coding");
        if (c.te_other_) return error(c, 501, "unsupported transfer coding");
        chunked = has_body = true;
      } else if (c.content_length_ != 0) {
        has_body = true;
      }
    } else {
      response& r = *c.res_;
      const unsigned code = p->status_code;
      if (!is_valid_status(code)) return error(c, 400, "invalid status code");
      message_access::set_status_line(
          r, code,
          c.spans_.reason_b == nullptr ? std::string_view{}
                                 : std::string_view(c.spans_.reason_b, static_cast<std::size_t>(c.spans_.reason_e - c.spans_.reason_b)));
      if (c.host_count_ > 1) return error(c, 400, "more than one Host field");
      const bool tunnel = c.request_method_ == khz::method::connect && code >= 200 && code < 300;
      if (code == 101 || tunnel) {
        c.closes_after_ = true;  // what follows is another protocol
      } else if (status_forbids_body(code) || c.request_method_ == khz::method::head) {
        // No body whatever the framing fields say (RFC 9112 §6.3).
      } else if (c.te_seen_) {
        if (!c.te_chunked_last_ || c.te_other_) return error(c, 501, "unsupported transfer coding");
        chunked = has_body = true;
      } else if (c.cl_count_ != 0) {
        has_body = c.content_length_ != 0;
      } else {
        has_body = until_close = true;
        keep_alive = false;
      }
    }
    if (has_body && !chunked && !until_close && c.content_length_ > c.body_limit_)
      return error(c, 413, "Content-Length over the body limit");
    m.set_keep_alive(keep_alive);
    if (!keep_alive) c.closes_after_ = true;
    message_access::set_framing(m, c.cl_count_ != 0, c.content_length_, chunked, has_body);
    if (has_body) {
      c.phase_ = chunked ? parser_core::phase::body_chunked
                         : until_close ? parser_core::phase::body_until_close : parser_core::phase::body_length;
      c.body_remaining_ = c.content_length_;
    }
    return 0;
  }

  // Per-message state back to its start.
  static KHZ_ALWAYS_INLINE void begin_head(parser_core& c) noexcept {
    c.spans_ = llhttp_spans{};
    c.spans_.max_target_length = c.limits_.max_target_length;
    c.line_start_ = nullptr;
    c.content_length_ = c.body_remaining_ = c.body_received_ = 0;
    c.body_limit_ = c.limits_.max_body_size;
    c.header_count_ = 0;
    c.host_count_ = c.cl_count_ = 0;
    c.te_seen_ = c.te_chunked_last_ = c.te_chunked_seen_ = c.te_other_ = false;
    c.conn_close_ = c.conn_keep_alive_ = c.conn_upgrade_ = false;
    c.closes_after_ = false;
    c.expect_seen_ = c.expect_continue_ = false;
    c.upgrade_value_ = {};
    c.host_value_ = {};
  }

  // One llhttp run over [data, data + len), the next bytes of the head region: the head
  // when llhttp reaches its end, need_more when it wants more, the error otherwise.
  static KHZ_ALWAYS_INLINE parse_status execute(parser_core& c, const char* data, std::size_t len, link_buffer& in) {
    llhttp_t* p = reinterpret_cast<llhttp_t*>(c.llhttp_);
    const llhttp_errno_t e = detail::run_llhttp(p, data, len);
    if (KHZ_LIKELY(e == HPE_PAUSED)) {
      const char* end = llhttp_get_error_pos(p);
      c.fed_ += static_cast<std::size_t>(end - data);
      if (KHZ_UNLIKELY(complete_head(c, p, end) != 0)) return c.fail(c.error_.status, c.error_.reason);
      return c.head_done(in, c.fed_);
    }
    if (e == HPE_OK) {
      c.fed_ += len;
      return parse_status::need_more;
    }
    return c.execute_error(e, data, len);
  }

  static const llhttp_settings_t& settings() noexcept {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t t;
      llhttp_settings_init(&t);
      t.on_method = on_method;
      t.on_url = on_url;
      t.on_version = on_version;
      t.on_status = on_status;
      t.on_url_complete = on_url_complete;
      t.on_headers_complete = on_headers_complete;
      return t;
    }();
    return s;
  }
};

namespace {
llhttp_t* ll(unsigned char* storage) noexcept { return reinterpret_cast<llhttp_t*>(storage); }

// llhttp's state right after llhttp_init() for each kind of parser: starting a message
// over is one copy of it (what llhttp_reset() does, minus a memset and the
// save/restore of the fields that never change here; `data` is set before each run).
template <llhttp_type_t Type>
const llhttp_t& fresh_llhttp() noexcept {
  static const llhttp_t state = [] {
    llhttp_t t;
    llhttp_init(&t, Type, &parser_callbacks::settings());
    return t;
  }();
  return state;
}
}  // namespace

void parser_core::restart_llhttp() noexcept {
  std::memcpy(llhttp_, fresh_llhttp_, sizeof(llhttp_t));
  ll(llhttp_)->data = &spans_;
}

parser_core::parser_core(bool requests, const http_limits& limits) noexcept
    : fresh_llhttp_(requests ? &fresh_llhttp<HTTP_REQUEST>() : &fresh_llhttp<HTTP_RESPONSE>()),
      limits_(limits),
      requests_(requests) {
  restart_llhttp();
  body_limit_ = limits_.max_body_size;
}

parser_core::~parser_core() {
  if (owned_ != nullptr) block_release(owned_);
}

void parser_core::reset() noexcept {
  if (owned_ != nullptr) block_release(std::exchange(owned_, nullptr));
  restart_llhttp();
  chunked_.reset();
  error_ = {};
  phase_ = phase::head;
  msg_ = nullptr;
  req_ = nullptr;
  res_ = nullptr;
  request_method_ = method::get;
  parser_callbacks::begin_head(*this);
  fed_ = 0;
  owned_size_ = 0;
  head_begin_ = nullptr;
}


void parser_core::set_body_limit(std::uint64_t bytes) noexcept {
  body_limit_ = bytes;
  chunked_limits cl{limits_.max_chunk_line_bytes, limits_.max_header_bytes, limits_.max_header_count,
                    bytes};
  chunked_.set_limits(cl);
}

parse_status parser_core::fail(unsigned status, const char* reason) noexcept {
  error_ = {status, reason};
  phase_ = phase::failed;
  if (owned_ != nullptr) block_release(std::exchange(owned_, nullptr));
  return parse_status::error;
}


KHZ_NOINLINE parse_status parser_core::execute_error(int err, const char* data, std::size_t len) {
  llhttp_t* p = ll(llhttp_);
  const auto e = static_cast<llhttp_errno_t>(err);
  if (spans_.target_too_long) return fail(414, "request-target too long");
  const char* pos = llhttp_get_error_pos(p);
  switch (e) {
    case HPE_INVALID_METHOD:
      // An unknown method token is "not implemented" (RFC 9110 §9.1); garbage is 400.
      if (pos != nullptr && pos >= data && pos < data + len && (is_tchar(*pos) || *pos == ' '))
        return fail(501, "method not implemented");
      return fail(400, "invalid method");
    case HPE_INVALID_VERSION:
      // llhttp says "Invalid HTTP version" for well-formed digits of a version it does
      // not know (1.2, 3.0...): that is 505; other version errors are syntax (400).
      if (std::strcmp(llhttp_get_error_reason(p), "Invalid HTTP version") == 0)
        return fail(505, "HTTP version not supported");
      return fail(400, llhttp_get_error_reason(p));
    case HPE_PAUSED_H2_UPGRADE:
      return fail(505, "HTTP/2 connection preface on an HTTP/1.1 connection");
    default: {
      const char* reason = llhttp_get_error_reason(p);
      return fail(400, reason != nullptr ? reason : "malformed message");
    }
  }
}

parse_status parser_core::parse_step(link_buffer& in, message_base& out, request* req, response* res) {
  if (KHZ_LIKELY(phase_ == phase::head)) {
    if (idle()) {  // a new message starts
      msg_ = &out;
      req_ = req;
      res_ = res;
      if (in.empty()) return parse_status::need_more;
      parser_callbacks::begin_head(*this);
      if (req != nullptr) req->clear();
      if (res != nullptr) res->clear();
      // The usual case: the input's first block holds the start of the head (the whole
      // head, most of the time). One llhttp run over it, no state carried over.
      const std::string_view front = in.front();
      head_begin_ = front.data();
      const std::size_t cap = limits_.max_header_bytes + 1;
      const std::size_t n = front.size() < cap ? front.size() : cap;
      const parse_status st = parser_callbacks::execute(*this, front.data(), n, in);
      if (KHZ_LIKELY(st != parse_status::need_more)) return st;
      if (fed_ >= cap) return head_too_large();
      if (in.size() <= front.size()) return parse_status::need_more;
    }
    return parse_head(in);
  }
  switch (phase_) {
    case phase::head:
      break;
    case phase::body_length:
    case phase::body_chunked:
    case phase::body_until_close:
      return parse_body(in, msg_->body());
    case phase::closed:
      return parse_status::closed;
    case phase::failed:
      return parse_status::error;
  }
  return parse_status::error;
}

KHZ_NOINLINE parse_status parser_core::parse_head(link_buffer& in) {
  const std::size_t cap = limits_.max_header_bytes + 1;  // one byte over the limit proves it was passed
  for (;;) {
    if (owned_ == nullptr) {
      std::string_view front = in.front();
      if (front.size() > fed_) {
        if (fed_ == 0) head_begin_ = front.data();
        assert(front.data() == head_begin_);
        std::size_t n = std::min(front.size() - fed_, cap - fed_);
        parse_status st = parser_callbacks::execute(*this, head_begin_ + fed_, n, in);
        if (st != parse_status::need_more) return st;
        if (fed_ >= cap) return head_too_large();
      }
      if (in.size() <= front.size()) return parse_status::need_more;
      switch_to_owned(in);  // the head goes on in another block: make it contiguous
      continue;
    }
    if (owned_size_ >= cap || in.size() <= owned_size_) return parse_status::need_more;
    std::size_t before = owned_size_;
    std::size_t added = copy_more(in);
    parse_status st = parser_callbacks::execute(*this, owned_->data + before, added, in);
    if (st != parse_status::need_more) return st;
    if (fed_ >= cap) return head_too_large();
  }
}

parse_status parser_core::head_too_large() {
  // Still inside a request-target longer than its own limit: that is the answer.
  if (spans_.target_b != nullptr && !spans_.target_done &&
      static_cast<std::size_t>(head_begin_ + fed_ - spans_.target_b) > limits_.max_target_length)
    return fail(414, "request-target too long");
  return fail(431, "header section too large");
}

void parser_core::switch_to_owned(link_buffer& in) {
  // Start the message over in a block of its own: llhttp's spans and ours must all
  // point into one contiguous region. A rare path (a head crossing a block boundary);
  // the copy is bounded by max_header_bytes.
  owned_ = block_pool::local().allocate(limits_.max_header_bytes + 1);
  owned_size_ = 0;
  restart_llhttp();
  parser_callbacks::begin_head(*this);
  msg_->headers().clear();
  fed_ = 0;
  head_begin_ = owned_->data;
  (void)in;
}

std::size_t parser_core::copy_more(link_buffer& in) {
  const std::size_t cap = limits_.max_header_bytes + 1;
  std::size_t want = std::min(in.size(), cap) - owned_size_;
  std::size_t skip = owned_size_;
  std::size_t copied = 0;
  in.for_each_chunk([&](std::string_view chunk) {
    if (skip >= chunk.size()) {
      skip -= chunk.size();
      return true;
    }
    chunk.remove_prefix(skip);
    skip = 0;
    std::size_t take = std::min(chunk.size(), want - copied);
    std::memcpy(owned_->data + owned_size_ + copied, chunk.data(), take);
    copied += take;
    return copied < want;
  });
  owned_size_ += copied;
  return copied;
}

parse_status parser_core::head_done(link_buffer& in, std::size_t head_len) {
  // complete_head() has checked every line of the head, the final CRLF CRLF included.
  if (head_len > limits_.max_header_bytes) return fail(431, "header section too large");
  link_buffer& head = message_access::head(*msg_);
  if (owned_ == nullptr) {
    in.slice_to(head, head_len);
  } else {
    head.clear();
    head.append_block(std::exchange(owned_, nullptr), head_len);
    head.flush();
    in.skip(head_len);
  }
  fed_ = 0;
  owned_size_ = 0;
  head_begin_ = nullptr;
  restart_llhttp();
  if (phase_ == phase::head) return finish_message();
  if (phase_ == phase::body_chunked) {
    chunked_.reset();
    chunked_.set_limits({limits_.max_chunk_line_bytes, limits_.max_header_bytes, limits_.max_header_count,
                         body_limit_});
  }
  return parse_status::headers_complete;
}

parse_status parser_core::finish_message() {
  if (res_ != nullptr && res_->is_interim() && res_->status_code() != 101) {
    phase_ = phase::head;  // the final response follows; request_method_ holds
  } else {
    phase_ = closes_after_ ? phase::closed : phase::head;
  }
  return parse_status::message_complete;
}

parse_status parser_core::parse_body(link_buffer& in, link_buffer& sink) {
  switch (phase_) {
    case phase::body_length: {
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), body_remaining_));
      if (take != 0) {
        if (&sink == &msg_->body() && sink.block_count() == 0 && sink.pending() == 0) {
          in.slice_to(sink, take);  // the message's body, empty since it started: the slice is it
        } else {
          sink.append(in.slice(take));
          sink.flush();
        }
        body_remaining_ -= take;
        body_received_ += take;
      }
      if (body_remaining_ == 0) return finish_message();
      return parse_status::need_more;
    }
    case phase::body_chunked:
      for (;;) {
        std::string_view front = in.front();
        if (front.empty()) return parse_status::need_more;
        chunked_decoder::step s = chunked_.next(front);
        if (s.st == chunked_decoder::status::error) return fail(chunked_.error_status(), chunked_.error_reason());
        if (s.skip != 0) in.skip(s.skip);
        if (s.data != 0) {
          sink.append(in.slice(s.data));
          sink.flush();
          body_received_ += s.data;
        }
        if (s.st == chunked_decoder::status::done) {
          chunked_.copy_trailers(msg_->trailers());
          return finish_message();
        }
      }
    case phase::body_until_close: {
      // Bytes up to the limit are delivered, then the first byte over it fails: the same
      // bytes reach the sink however the input was split.
      const std::size_t avail = in.size();
      if (avail == 0) return parse_status::need_more;
      const std::uint64_t room = body_received_ < body_limit_ ? body_limit_ - body_received_ : 0;
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(avail, room));
      if (take != 0) {
        sink.append(in.slice(take));
        sink.flush();
        body_received_ += take;
      }
      if (take < avail) return fail(413, "body over the body limit");
      return parse_status::need_more;
    }
    case phase::head:
      return parse_status::message_complete;
    case phase::closed:
      return parse_status::closed;
    case phase::failed:
      return parse_status::error;
  }
  return parse_status::error;
}

parse_status parser_core::eof() {
  switch (phase_) {
    case phase::body_until_close:
      phase_ = phase::closed;
      return parse_status::message_complete;
    case phase::head:
      if (idle()) {
        phase_ = phase::closed;
        return parse_status::closed;
      }
      return fail(400, "connection closed in the middle of a message");
    case phase::body_length:
    case phase::body_chunked:
      return fail(400, "connection closed in the middle of a body");
    case phase::closed:
      return parse_status::closed;
    case phase::failed:
      return parse_status::error;
  }
  return parse_status::error;
}

}  // namespace detail

std::error_code parse_error::code() const noexcept {
  switch (status) {
    case 0: return {};
    case 413:
    case 414:
    case 431: return make_error_code(errc::too_large);
    case 501:
    case 505: return make_error_code(errc::not_supported);
    default: return make_error_code(errc::protocol_error);
  }
}

bool message_base::connection_has(std::string_view token) const noexcept {
  bool found = false;
  for (const header_field& f : headers_) {
    if (f.id != known_field::connection) continue;
    detail::http_chars::for_each_list_element(f.value, [&](std::string_view t) {
      if (detail::http_chars::iequals(t, token)) found = true;
      return !found;
    });
    if (found) break;
  }
  return found;
}

KHZ_END_NAMESPACE
