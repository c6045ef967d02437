// Static files (see include/khz/server/static_files.hpp for the behaviour).
#include <khz/buffer/file_ref.hpp>
#include <khz/route/path.hpp>
#include <khz/server/static_files.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "base/unique_fd.hpp"

KHZ_BEGIN_NAMESPACE

namespace {

// ====================================================================== small helpers

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

using detail::unique_fd;

// ====================================================================== content types

struct type_entry {
  std::string_view ext;
  std::string_view type;
};

constexpr type_entry builtin_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
};

constexpr std::string_view default_type = "application/octet-stream";

// ====================================================================== HTTP dates

constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (locale-independent, unlike strftime).
std::string format_http_date(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday % 7],
                              tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                              tm.tm_sec);
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

bool parse_digits(std::string_view s, int& out) noexcept {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Parses an IMF-fixdate (the form every HTTP/1.1 sender uses); other forms give nullopt
// and the condition is then ignored, as RFC 9110 requires for an invalid date.
std::optional<std::int64_t> parse_http_date(std::string_view s) noexcept {
  s = trim(s);
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  //  0123456789012345678901234567 8
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s[25] != ' ' || s.substr(26) != "GMT")
    return std::nullopt;
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!parse_digits(s.substr(5, 2), day) || !parse_digits(s.substr(12, 4), year) ||
      !parse_digits(s.substr(17, 2), hour) || !parse_digits(s.substr(20, 2), minute) ||
      !parse_digits(s.substr(23, 2), second))
    return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == month_names[i]) month = i + 1;
  }
  if (month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hour * 3600 + minute * 60 + second;
}

// ====================================================================== validators

struct file_info {
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::string etag;           // "\"<size hex>-<mtime ns hex>\""
  std::string last_modified;  // IMF-fixdate
};

file_info describe(const struct stat& st) {
  file_info f;
  f.size = static_cast<std::uint64_t>(st.st_size);
  f.mtime_sec = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  const auto ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                  static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx\"", static_cast<unsigned long long>(f.size),
                              static_cast<unsigned long long>(ns));
  f.etag.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  f.last_modified = format_http_date(f.mtime_sec);
  return f;
}

std::string_view opaque_tag(std::string_view tag) noexcept {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

// If-None-Match: "*" or a list of entity tags, compared weakly.
bool none_match_hits(std::string_view header, std::string_view etag) noexcept {
  if (trim(header) == "*") return true;
  const std::string_view ours = opaque_tag(etag);
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    if (!item.empty() && opaque_tag(item) == ours) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// If-Range: an entity tag (strong comparison: a weak tag never matches) or a date (exactly
// Last-Modified).
bool if_range_holds(std::string_view header, const file_info& f) noexcept {
  header = trim(header);
  if (header.empty()) return true;
  if (header.front() == '"' || header.starts_with("W/")) return header == f.etag;
  const auto date = parse_http_date(header);
  return date && *date == f.mtime_sec;
}

// ====================================================================== ranges

struct byte_range {
  enum class kind : std::uint8_t { whole, part, unsatisfiable } what = kind::whole;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19) return false;  // 19 digits always fit in 64 bits
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// One "bytes=" range against a file of `size` bytes. Malformed or multiple ranges give
// `whole` (RFC 9110 lets a server ignore Range).
byte_range parse_range(std::string_view header, std::uint64_t size) noexcept {
  byte_range r;
  header = trim(header);
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes")) return r;
  const std::string_view spec = trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return r;  // several ranges: the whole file
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  const std::string_view first = trim(spec.substr(0, dash));
  const std::string_view last = trim(spec.substr(dash + 1));
  if (first.empty()) {  // "-n": the last n bytes
    std::uint64_t n = 0;
    if (!parse_u64(last, n)) return r;
    if (n == 0 || size == 0) {
      r.what = byte_range::kind::unsatisfiable;
      return r;
    }
    n = std::min(n, size);
    r.what = byte_range::kind::part;
    r.offset = size - n;
    r.length = n;
    return r;
  }
  std::uint64_t a = 0;
  if (!parse_u64(first, a)) return r;
  std::uint64_t b = size == 0 ? 0 : size - 1;
  if (!last.empty()) {
    std::uint64_t v = 0;
    if (!parse_u64(last, v) || v < a) return r;  // invalid: ignored
    b = std::min(v, b);
  }
  if (a >= size) {
    r.what = byte_range::kind::unsatisfiable;
    return r;
  }
  r.what = byte_range::kind::part;
  r.offset = a;
  r.length = b - a + 1;
  return r;
}

// ====================================================================== opening

struct opened_file {
  unique_fd fd;
  struct stat st {};
  unsigned error_status = 0;  // 0: fd is open and st describes it
};

unsigned status_for_errno(int err) noexcept { return (err == EACCES || err == EPERM) ? 403 : 404; }

opened_file open_file(const char* path, bool no_follow) {
  opened_file f;
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;  // O_NONBLOCK: a FIFO must not block the loop
  if (no_follow) flags |= O_NOFOLLOW;
  const int fd = ::open(path, flags);
  if (fd < 0) {
    f.error_status = status_for_errno(errno);
    return f;
  }
  f.fd = unique_fd(fd);
  if (::fstat(fd, &f.st) != 0) {
    f.fd.reset();
    f.error_status = 404;
  }
  return f;
}

// realpath(), or the HTTP status why not.
std::string resolve(const std::string& path, unsigned& error_status) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (r == nullptr) {
    error_status = status_for_errno(errno);
    return {};
  }
  std::string out(r);
  std::free(r);
  return out;
}

bool inside_root(std::string_view resolved, std::string_view root) noexcept {
  if (root == "/") return true;
  return resolved == root || (resolved.size() > root.size() && resolved.starts_with(root) && resolved[root.size()] == '/');
}

// ====================================================================== sending

void set_validators(context& c, const file_info& f, const static_options& o) {
  c.set_header("ETag", f.etag);
  c.set_header("Last-Modified", f.last_modified);
  if (!o.cache_control.empty()) {
    c.set_header("Cache-Control", o.cache_control);
  } else if (o.max_age) {
    c.set_header("Cache-Control", "public, max-age=" + std::to_string(o.max_age->count()));
  }
}

void read_into(context& c, unsigned status, std::string_view type, int fd, std::uint64_t offset, std::size_t length) {
  link_buffer body;
  if (length > 0) {
    std::span<char> room = body.reserve(length);
    std::size_t got = 0;
    while (got < length) {
      const ssize_t n = ::pread(fd, room.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != length) {  // the file shrank or failed under us: say so rather than send a short body
      c.string(500, "file could not be read\n");
      return;
    }
    body.commit(length);
    body.flush();
  }
  c.data(status, type, std::move(body));
}

// The one step that puts bytes [offset, offset + length) of `fd` on the wire as the body
// of `status`: a read for small pieces, a file region (sent with sendfile(2) by the net
// layer) for larger ones.
task<> send_file_range(context& c, unsigned status, std::string_view type, unique_fd fd, std::uint64_t offset,
                       std::uint64_t length, const static_options& o) {
  if (c.request().method() == method::head) {
    fd.reset();
    auto w = c.stream(status, type, length);  // head only: the server writes no body for HEAD
    (void)co_await w.finish();
    co_return;
  }
  if (length <= o.small_file_limit) {
    read_into(c, status, type, fd.get(), offset, static_cast<std::size_t>(length));
    co_return;
  }
  if (length > std::numeric_limits<std::size_t>::max()) {
    c.string(500, "file too large\n");
    co_return;
  }
  // The region holds the descriptor (a shared file_ref) until the connection has sent
  // it or dropped it; no byte of the file passes through user memory. The body flows
  // through the serializer and the connection's output unchanged (a link_buffer node).
  link_buffer body;
  body.append_file(std::make_shared<const file_ref>(fd.release()), offset, static_cast<std::size_t>(length));
  c.data(status, type, std::move(body));
  co_return;
}

// Answers with an opened regular file (validators, conditionals, ranges).
task<> serve_opened(context& c, opened_file f, std::string_view name, const static_options& o) {
  const file_info info = describe(f.st);
  set_validators(c, info, o);
  c.set_header("Accept-Ranges", "bytes");

  // Conditionals (RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since).
  const std::string_view inm = c.header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = none_match_hits(inm, info.etag);
  } else if (const std::string_view ims = c.header("If-Modified-Since"); !ims.empty()) {
    const auto since = parse_http_date(ims);
    not_modified = since && info.mtime_sec <= *since;
  }
  if (not_modified) {
    c.status(304);
    co_return;
  }

  const std::string_view type = content_type_for(name, o.content_types);
  byte_range range;
  if (const std::string_view rh = c.header("Range"); !rh.empty() && if_range_holds(c.header("If-Range"), info)) {
    range = parse_range(rh, info.size);
  }
  switch (range.what) {
    case byte_range::kind::unsatisfiable:
      c.set_header("Content-Range", "bytes */" + std::to_string(info.size));
      c.data(416, "text/plain; charset=utf-8", std::string_view("416 Range Not Satisfiable\n"));
      co_return;
    case byte_range::kind::part:
      c.set_header("Content-Range", "bytes " + std::to_string(range.offset) + "-" +
                                        std::to_string(range.offset + range.length - 1) + "/" +
                                        std::to_string(info.size));
      co_await send_file_range(c, 206, type, std::move(f.fd), range.offset, range.length, o);
      co_return;
    case byte_range::kind::whole:
      break;
  }
  co_await send_file_range(c, 200, type, std::move(f.fd), 0, info.size, o);
}

// ====================================================================== registered state

struct file_state {
  std::string path;
  static_options options;
};

struct dir_state {
  std::string root;  // realpath of the root, no trailing '/' (unless it is "/")
  static_options options;
};

bool has_dotdot_segment(std::string_view p) noexcept {
  while (!p.empty()) {
    const std::size_t slash = p.find('/');
    if (p.substr(0, slash) == "..") return true;
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return false;
}

void refuse(context& c, unsigned status) {
  if (status == 403) {
    c.string(403, "403 Forbidden\n");
  } else {
    c.not_found();
  }
}

task<> serve_file_request(context& c, std::shared_ptr<const file_state> st) {
  co_await serve_file(c, st->path, st->options);
}

task<> serve_dir_request(context& c, std::shared_ptr<const dir_state> st) {
  const static_options& o = st->options;
  std::string rel(c.param("filepath"));
  // Decoded once by the router (unless raw-path mode); decode what is still encoded, so that
  // a doubly encoded "%252e%252e" is judged as ".." and raw-path mode works too.
  if (rel.find('%') != std::string::npos) rel = unescape_path(rel);
  if (rel.find('\0') != std::string::npos || has_dotdot_segment(rel)) {
    refuse(c, 404);
    co_return;
  }
  const std::string cleaned = clean_path(rel);  // "/a/b" or "/a/b/" or "/"
  std::string joined = st->root == "/" ? cleaned : st->root + cleaned;
  while (joined.size() > 1 && joined.back() == '/') joined.pop_back();

  unsigned error = 0;
  std::string resolved = resolve(joined, error);
  if (error != 0 || !inside_root(resolved, st->root) || (!o.follow_symlinks && resolved != joined)) {
    refuse(c, error == 0 ? 404 : error);
    co_return;
  }
  opened_file f = open_file(resolved.c_str(), true);
  if (f.error_status != 0) {
    refuse(c, f.error_status);
    co_return;
  }
  std::string name = resolved;
  if (S_ISDIR(f.st.st_mode)) {
    f.fd.reset();
    if (o.index.empty()) {
      refuse(c, 404);
      co_return;
    }
    const std::string index_path = resolved + (resolved == "/" ? "" : "/") + o.index;
    error = 0;
    std::string index_resolved = resolve(index_path, error);
    if (error != 0 || !inside_root(index_resolved, st->root) || (!o.follow_symlinks && index_resolved != index_path)) {
      refuse(c, error == 0 ? 404 : error);
      co_return;
    }
    f = open_file(index_resolved.c_str(), true);
    if (f.error_status != 0) {
      refuse(c, f.error_status);
      co_return;
    }
    if (!S_ISREG(f.st.st_mode)) {
      refuse(c, 404);
      co_return;
    }
    if (!c.path().ends_with('/')) {  // relative links in the index need the directory form
      c.redirect(301, std::string(c.path()) + "/");
      co_return;
    }
    name = std::move(index_resolved);
  }
  if (!S_ISREG(f.st.st_mode)) {
    refuse(c, 404);
    co_return;
  }
  co_await serve_opened(c, std::move(f), name, o);
}

template <class Target>
void register_file(Target& t, std::string_view route, std::string path, static_options options) {
  if (path.empty()) {
    throw std::invalid_argument("khz::static_file(\"" + std::string(route) + "\"): the file path is empty; "
                                "give the path of the file to serve");
  }
  auto st = std::make_shared<const file_state>(file_state{std::move(path), std::move(options)});
  auto h = [st](context& c) { return serve_file_request(c, st); };
  t.get(route, h).name("static_file");
  t.head(route, h).name("static_file");
}

template <class Target>
void register_dir(Target& t, std::string_view prefix, std::string root, static_options options) {
  unsigned error = 0;
  std::string resolved = root.empty() ? std::string() : resolve(root, error);
  struct stat sb {};
  if (resolved.empty() || ::stat(resolved.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    throw std::invalid_argument("khz::static_dir(\"" + std::string(prefix) + "\"): root '" + root +
                                "' is not an existing directory; give the directory to serve");
  }
  std::string pattern(prefix);
  while (!pattern.empty() && pattern.back() == '/') pattern.pop_back();
  pattern += "/*filepath";
  auto st = std::make_shared<const dir_state>(dir_state{std::move(resolved), std::move(options)});
  auto h = [st](context& c) { return serve_dir_request(c, st); };
  t.get(pattern, h).name("static_dir");
  t.head(pattern, h).name("static_dir");
}

}  // namespace

std::string_view content_type_for(std::string_view file_name,
                                  const std::vector<std::pair<std::string, std::string>>& extra) {
  const std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == file_name.size()) return default_type;
  const std::string_view ext = file_name.substr(dot + 1);
  for (const auto& [e, type] : extra) {
    std::string_view want = e;
    if (want.starts_with('.')) want.remove_prefix(1);
    if (iequals(want, ext)) return type;
  }
  for (const type_entry& t : builtin_types) {
    if (iequals(t.ext, ext)) return t.type;
  }
  return default_type;
}

task<> serve_file(context& c, std::string path, const static_options& options) {
  opened_file f = open_file(path.c_str(), false);
  if (f.error_status != 0) {
    refuse(c, f.error_status);
    co_return;
  }
  if (!S_ISREG(f.st.st_mode)) {
    refuse(c, 404);
    co_return;
  }
  co_await serve_opened(c, std::move(f), path, options);
}

void static_file(router& r, std::string_view route, std::string path, static_options options) {
  register_file(r, route, std::move(path), std::move(options));
}
void static_file(route_group& g, std::string_view route, std::string path, static_options options) {
  register_file(g, route, std::move(path), std::move(options));
}
void static_dir(router& r, std::string_view prefix, std::string root, static_options options) {
  register_dir(r, prefix, std::move(root), std::move(options));
}
void static_dir(route_group& g, std::string_view prefix, std::string root, static_options options) {
  register_dir(g, prefix, std::move(root), std::move(options));
}

KHZ_END_NAMESPACE
