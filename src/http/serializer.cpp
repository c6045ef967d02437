#include <khz/http/chunked.hpp>
#include <khz/http/detail/chars.hpp>
#include <khz/http/serializer.hpp>
#include <khz/http/status.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

KHZ_BEGIN_NAMESPACE

namespace detail {
// The small body set_body() keeps inside a message: written next to the head without
// going through a link_buffer (no block taken and released per message).
struct serializer_access {
  static std::string_view small_body(const message_base& m) noexcept {
    return std::string_view(m.small_, m.small_size_);
  }
  // The body's bytes however they are held (one of the two is empty), without moving
  // a small body into the buffer.
  static std::uint64_t body_size(message_base& m) noexcept {
    m.body_.flush();
    return m.small_size_ + m.body_.size();
  }
  static void drop_body(message_base& m) noexcept {
    m.small_size_ = 0;
    m.body_.clear();
  }
};
}  // namespace detail

namespace {

constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put2(char* p, int v) noexcept {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// Writes a head into a span reserved for an upper bound of its size: one reserve, one
// pass over the fields, one commit of the bytes written.
class head_writer {
 public:
  explicit head_writer(char* out) noexcept : begin_(out), p_(out) {}
  void add(std::string_view s) noexcept {
    const std::size_t n = s.size();
    const char* src = s.data();
    // Most pieces of a head are short: copy them with two overlapping loads and stores
    // (no call into memcpy for a few bytes).
    if (n >= 8 && n <= 16) {
      copy_word<std::uint64_t>(p_, src);
      copy_word<std::uint64_t>(p_ + n - 8, src + n - 8);
    } else if (n >= 4 && n < 8) {
      copy_word<std::uint32_t>(p_, src);
      copy_word<std::uint32_t>(p_ + n - 4, src + n - 4);
    } else if (n > 0 && n < 4) {
      p_[0] = src[0];
      p_[n / 2] = src[n / 2];
      p_[n - 1] = src[n - 1];
    } else if (n > 16) {
      std::memcpy(p_, src, n);
    }
    p_ += n;
  }
  void add_number(std::uint64_t v) noexcept { p_ = std::to_chars(p_, p_ + max_number, v).ptr; }
  std::size_t size() const noexcept { return static_cast<std::size_t>(p_ - begin_); }

  static constexpr std::size_t max_number = 20;  // digits of UINT64_MAX

 private:
  template <class Word>
  static void copy_word(char* to, const char* from) noexcept {
    Word w;
    std::memcpy(&w, from, sizeof w);
    std::memcpy(to, &w, sizeof w);
  }

  char* begin_;
  char* p_;
};

// A field value: VCHAR / obs-text / SP / HTAB (no CR, LF, NUL or other control byte).
// Sixteen bytes a step where SSE2 is available (x86-64 always): the smallest byte (unsigned)
// and whether a DEL was seen are gathered over the whole value and tested once, so a 1 KiB
// value costs ~64 steps of four instructions. A byte below SP (HTAB is one, and allowed)
// sends the value to the exact byte loop below.
bool field_value_ok(std::string_view s) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i del = _mm_set1_epi8(0x7f);
    __m128i low = _mm_set1_epi8(-1);  // 0xff: the unsigned minimum so far
    __m128i dels = _mm_setzero_si128();
    auto step = [&](const char* at) noexcept {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      low = _mm_min_epu8(low, x);
      dels = _mm_or_si128(dels, _mm_cmpeq_epi8(x, del));
    };
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) step(p + i);
    if (i != n) step(p + n - 16);  // the last (overlapping) 16 bytes cover the tail
    if (_mm_movemask_epi8(dels) != 0) return false;
    // All bytes >= SP exactly when max(low, SP) == low.
    const __m128i space = _mm_set1_epi8(0x20);
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(low, space), low)) == 0xffff) return true;
  }
#endif
  namespace sw = detail::http_chars::swar;
  constexpr std::uint64_t del = sw::ones * 0x7f;
  auto suspect = [](std::uint64_t x) noexcept { return sw::any_below(x, 0x20) || sw::any_zero(x ^ del); };
  if (n >= 8 && n < 16) {
    // Two overlapping words: most short values (Host, User-Agent...) pass in one test.
    if (!suspect(sw::load(p)) && !suspect(sw::load(p + n - 8))) return true;
    return detail::http_chars::all_of_class(s, detail::http_chars::cc_field_vchar);
  }
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (suspect(sw::load(p + i))) {
      if (!detail::http_chars::all_of_class(s.substr(i, 8), detail::http_chars::cc_field_vchar)) return false;
    }
  }
  return detail::http_chars::all_of_class(s.substr(i), detail::http_chars::cc_field_vchar);
}

// Checks every field (a token name, a clean value) and adds the bytes they take on the
// wire to `bytes`. False: a field is refused. A field classified as one of the codec's
// known names (id != other: classify_field() matched it, or headers::push() was given a
// validated field, its precondition) has a token name already; only other names are
// checked byte by byte.
bool scan_fields(const headers& h, std::size_t& bytes) noexcept {
  for (const header_field& f : h) {
    if ((f.id == known_field::other && !detail::http_chars::is_token(f.name)) || !field_value_ok(f.value))
      return false;
    bytes += f.name.size() + f.value.size() + 4;  // ": " and CRLF
  }
  return true;
}

enum class framing { none, length, chunked };

constexpr std::string_view server_prefix = "Server: ";

// Room the lines write_fields() adds after the fields may take.
std::size_t extra_lines_bound(const date_cache* date, std::string_view server) noexcept {
  std::size_t n = std::string_view("Content-Length: \r\n").size() + head_writer::max_number;
  n = std::max(n, std::string_view("Transfer-Encoding: chunked\r\n").size());
  n += std::string_view("Connection: keep-alive\r\n").size();
  if (date != nullptr) n += date->field_line().size();
  if (!server.empty()) n += server_prefix.size() + server.size() + 2;
  return n + 2;  // the empty line
}

// Fields, framing, Connection, Date and Server; shared by requests and responses. The
// writer is taken and returned by value: a local one stays in registers, where one behind
// a reference would be reloaded after every byte store (char stores may alias it).
template <class W>
[[nodiscard]] W write_fields(W w, const message_base& m, framing fr, std::uint64_t length, const date_cache* date,
                  std::string_view server) {
  bool has_date = false;
  bool has_server = false;
  bool listed_close = false;
  bool listed_keep_alive = false;
  for (const header_field& f : m.headers()) {
    if (f.id == known_field::content_length || f.id == known_field::transfer_encoding) continue;
    if (f.id == known_field::connection) {
      detail::http_chars::for_each_list_element(f.value, [&](std::string_view t) {
        if (detail::http_chars::iequals(t, "close")) listed_close = true;
        if (detail::http_chars::iequals(t, "keep-alive")) listed_keep_alive = true;
        return true;
      });
    } else if (f.id == known_field::other) {
      if (f.name.size() == 4 && detail::http_chars::iequals(f.name, "date")) has_date = true;
      if (f.name.size() == 6 && detail::http_chars::iequals(f.name, "server")) has_server = true;
    }
    w.add(f.name);
    w.add(": ");
    w.add(f.value);
    w.add("\r\n");
  }
  if (fr == framing::length) {
    w.add("Content-Length: ");
    w.add_number(length);
    w.add("\r\n");
  } else if (fr == framing::chunked) {
    w.add("Transfer-Encoding: chunked\r\n");
  }
  if (!m.keep_alive() && !listed_close) w.add("Connection: close\r\n");
  if (m.keep_alive() && m.version().minor == 0 && !listed_keep_alive) w.add("Connection: keep-alive\r\n");
  if (date != nullptr && !has_date) w.add(date->field_line());
  if (!server.empty() && !has_server) {
    w.add(server_prefix);
    w.add(server);
    w.add("\r\n");
  }
  w.add("\r\n");
  return w;
}

// Reserves `bound` bytes, lets write_head fill them, commits what it wrote.
template <class F>
void emit(link_buffer& out, std::size_t bound, F&& write_head) {
  std::span<char> room = out.reserve(bound);
  head_writer w(room.data());
  write_head(w);
  out.commit(w.size());
}

template <class W>
[[nodiscard]] W write_status_line(W w, const response& res) {
  const unsigned code = res.status_code();
  if (res.version() == http_version{1, 1} && !res.has_custom_reason()) {
    std::string_view line = detail::status_line_11(code);
    if (!line.empty()) {
      w.add(line);
      return w;
    }
  }
  w.add(res.version().minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  w.add_number(code);
  w.add(" ");
  w.add(res.reason());
  w.add("\r\n");
  return w;
}

void write_body(link_buffer& out, message_base& m, framing fr, std::size_t copy_threshold) {
  if (const std::string_view small = detail::serializer_access::small_body(m); !small.empty() && fr != framing::chunked) {
    out.append(small);  // right after the head, into the block the head went to
    detail::serializer_access::drop_body(m);
    return;
  }
  link_buffer& body = m.body();  // (a small body of a chunked message moves into it here)
  body.flush();
  if (fr == framing::chunked) {
    write_chunk(out, std::move(body));
    write_last_chunk(out, &m.trailers());
    return;
  }
  if (body.size() <= copy_threshold) {
    body.for_each_chunk([&](std::string_view piece) { out.append(piece); });
    body.clear();
  } else {
    out.append(std::move(body));
  }
}

}  // namespace

bool date_cache::update(std::chrono::system_clock::time_point now) noexcept {
  const std::int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (second == second_) return false;
  second_ = second;
  std::time_t t = static_cast<std::time_t>(second);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char* p = line_;
  std::memcpy(p, "Date: ", 6);
  p += 6;
  std::memcpy(p, day_names[tm.tm_wday], 3);
  p[3] = ',';
  p[4] = ' ';
  put2(p + 5, tm.tm_mday);
  p[7] = ' ';
  std::memcpy(p + 8, month_names[tm.tm_mon], 3);
  p[11] = ' ';
  int year = tm.tm_year + 1900;
  put2(p + 12, (year / 100) % 100);
  put2(p + 14, year % 100);
  p[16] = ' ';
  put2(p + 17, tm.tm_hour);
  p[19] = ':';
  put2(p + 20, tm.tm_min);
  p[22] = ':';
  put2(p + 23, tm.tm_sec);
  std::memcpy(p + 25, " GMT\r\n", 6);
  return true;
}

result<void> write_response_head(link_buffer& out, const response& res, std::optional<std::uint64_t> content_length,
                                 const write_options& options) {
  std::size_t bound = 0;
  if (!is_valid_status(res.status_code()) || !detail::http_chars::all_of_class(res.reason(), detail::http_chars::cc_reason) ||
      !scan_fields(res.headers(), bound) || (!options.server_checked && !field_value_ok(options.server)))
    return errc::invalid_argument;
  if (res.chunked() && res.version().minor == 0) return errc::invalid_argument;  // no chunked in HTTP/1.0
  framing fr = framing::none;
  if (!status_forbids_body(res.status_code())) {
    if (res.chunked()) fr = framing::chunked;
    else if (content_length) fr = framing::length;
  }
  // "HTTP/1.1 " code " " reason CRLF
  bound += 9 + 3 + 1 + res.reason().size() + 2 + extra_lines_bound(options.date, options.server);
  emit(out, bound, [&](head_writer& w) {
    w = write_status_line(w, res);
    w = write_fields(w, res, fr, content_length.value_or(0), options.date, options.server);
  });
  return {};
}

result<void> write_response(link_buffer& out, response& res, const write_options& options) {
  std::size_t trailer_bytes = 0;
  if (res.chunked() && !scan_fields(res.trailers(), trailer_bytes)) return errc::invalid_argument;
  const bool no_body = status_forbids_body(res.status_code());
  const std::uint64_t length = no_body ? 0 : detail::serializer_access::body_size(res);
  auto r = write_response_head(out, res, res.chunked() ? std::nullopt : std::optional<std::uint64_t>(length), options);
  if (!r) return r;
  // No body for 1xx/204/304; for HEAD the framing describes the body a GET would have had.
  if (no_body || options.request_method == method::head) {
    detail::serializer_access::drop_body(res);
    return {};
  }
  write_body(out, res, res.chunked() ? framing::chunked : framing::length, options.copy_threshold);
  return {};
}

result<void> write_request_head(link_buffer& out, const request& req, std::optional<std::uint64_t> content_length) {
  std::size_t bound = 0;
  if (!is_method_token(req.method_name()) || req.target().empty() ||
      !detail::http_chars::all_of_class(req.target(), detail::http_chars::cc_target) || !scan_fields(req.headers(), bound))
    return errc::invalid_argument;
  if (req.chunked() && req.version().minor == 0) return errc::invalid_argument;  // no chunked in HTTP/1.0
  framing fr = req.chunked() ? framing::chunked : content_length ? framing::length : framing::none;
  // method " " target " HTTP/1.x" CRLF
  bound += req.method_name().size() + 1 + req.target().size() + 11 + extra_lines_bound(nullptr, {});
  emit(out, bound, [&](head_writer& w) {
    w.add(req.method_name());
    w.add(" ");
    w.add(req.target());
    w.add(req.version().minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    w = write_fields(w, req, fr, content_length.value_or(0), nullptr, {});
  });
  return {};
}

result<void> write_request(link_buffer& out, request& req, const write_options& options) {
  std::size_t trailer_bytes = 0;
  if (req.chunked() && !scan_fields(req.trailers(), trailer_bytes)) return errc::invalid_argument;
  const khz::method m = req.method();
  const std::uint64_t length = detail::serializer_access::body_size(req);
  const bool wants_length = length != 0 || m == method::post || m == method::put || m == method::patch;
  auto r = write_request_head(out, req,
                              req.chunked() || !wants_length ? std::nullopt : std::optional<std::uint64_t>(length));
  if (!r) return r;
  if (req.chunked() || length != 0)
    write_body(out, req, req.chunked() ? framing::chunked : framing::length, options.copy_threshold);
  return {};
}

KHZ_END_NAMESPACE
