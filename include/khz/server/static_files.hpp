#pragma once
// Static files: one file at a route, or a directory tree under a prefix.
//
//   khz::static_file(s, "/favicon.ico", "/srv/www/favicon.ico");
//   khz::static_dir(s, "/assets", "/srv/www", khz::static_options{}.with_max_age(std::chrono::hours(1)));
//   // GET/HEAD /assets/css/site.css -> /srv/www/css/site.css
//
// Both register GET and HEAD routes (static_dir: "<prefix>/*filepath") on a router or a
// route group (a server is a router). What a request gets:
//   - 200 with the file, Content-Type by extension (static_options::content_types first,
//     then a built-in table, else application/octet-stream), Content-Length, ETag (strong:
//     "<size hex>-<mtime ns hex>"), Last-Modified, Accept-Ranges: bytes, and Cache-Control
//     when configured. HEAD: the same head, no body.
//   - 304 (ETag and Last-Modified, no body) when If-None-Match matches (weak comparison, a
//     list or "*"), or, without If-None-Match, when If-Modified-Since is not older than the
//     file's modification time (1-second granularity).
//   - 206 with Content-Range for one satisfiable "bytes=a-b" / "bytes=a-" / "bytes=-n"
//     range; 416 with "Content-Range: bytes */<size>" for an unsatisfiable one. Several
//     ranges, or a malformed Range, get the whole file (200), as RFC 9110 allows. With
//     If-Range the range applies only when the ETag (strong comparison) or the date
//     (exactly Last-Modified) matches; otherwise the whole file (200).
//   - 404 when the file is missing, is not a regular file, is a directory without its
//     index file (there is no listing), or when the path is refused (below); 403 when it
//     exists but cannot be opened (permissions).
//
// Path safety (static_dir): the catch-all value is decoded (again, when it still holds a
// '%': so "%252e%252e" cannot slip through as "%2e%2e" to a later decoder); a NUL byte or
// any ".." segment refuses the request (404); the path is then joined to the root and
// resolved with realpath(): the result must lie inside the resolved root, so a symlink
// pointing out of the root is refused (404: the tree does not reveal what exists outside).
// Symlinks staying inside the root are followed when static_options::follow_symlinks is
// on (the default), refused otherwise. The final open uses O_NOFOLLOW on the resolved path.
// Consequence of the double decoding: a file whose name holds "%xx" itself cannot be
// reached through static_dir.
//
// Body transmission: zero copy. A file (or range) larger than small_file_limit becomes a
// file region of the response body (link_buffer::append_file over a shared file_ref that
// owns the descriptor): the connection sends it with sendfile(2) once the bytes before it
// (the head, earlier pipelined responses) are out, so no byte of it passes through user
// memory and a slow client costs no buffer. The descriptor is closed when the region has
// been sent or the connection dropped it. Smaller files are read into the body (one pread).
// A file truncated while its region is being sent closes that connection (the client sees
// a short body); the server is unaffected.
//
// Caveats: file-system calls (realpath, open, fstat, pread) and sendfile's reads of the
// page cache run on the event loop: put static files on a local disk.
//
// Lifetimes: the options and paths are copied into the registered handlers; nothing
// refers to the caller's arguments after the call returns.

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>
#include <khz/core/task.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE

struct static_options {
  // The file served for a directory ("" turns directory requests into 404). A directory
  // requested without its trailing '/' is redirected (301) to the form with it, so that
  // relative links in the index resolve against the directory.
  std::string index = "index.html";
  // Extra or overriding content types: {"md", "text/markdown; charset=utf-8"} (extension
  // without the dot, matched case-insensitively).
  std::vector<std::pair<std::string, std::string>> content_types;
  // Cache-Control: the value as given when not empty; else "public, max-age=<n>" when
  // max_age is set; else no Cache-Control field.
  std::string cache_control;
  std::optional<std::chrono::seconds> max_age;
  // Follow symlinks whose target stays inside the root (static_dir only; a symlink out of
  // the root is always refused).
  bool follow_symlinks = true;
  // Files up to this size are read into the body; larger ones are sent with sendfile(2).
  std::size_t small_file_limit = 16 * 1024;

  static_options& with_index(std::string v) { index = std::move(v); return *this; }
  static_options& with_content_type(std::string ext, std::string type) {
    content_types.emplace_back(std::move(ext), std::move(type));
    return *this;
  }
  static_options& with_cache_control(std::string v) { cache_control = std::move(v); return *this; }
  static_options& with_max_age(std::chrono::seconds v) { max_age = v; return *this; }
  static_options& with_follow_symlinks(bool v) { follow_symlinks = v; return *this; }
  static_options& with_small_file_limit(std::size_t v) { small_file_limit = v; return *this; }
};

// Serves the file at `path` for GET and HEAD of `route`. The file is opened at each request
// (it may be replaced or appear later: a missing file is a 404, not a setup error).
// Throws std::invalid_argument when `path` is empty.
void static_file(router& r, std::string_view route, std::string path, static_options options = {});
void static_file(route_group& g, std::string_view route, std::string path, static_options options = {});

// Serves the tree under `root` for GET and HEAD of "<prefix>/*filepath". Throws
// std::invalid_argument when `root` does not name a directory (resolved once here, with
// realpath: moving the root later is not followed).
void static_dir(router& r, std::string_view prefix, std::string root, static_options options = {});
void static_dir(route_group& g, std::string_view prefix, std::string root, static_options options = {});

// The content type for a file name by its extension: `extra` first, then the built-in
// table; application/octet-stream when none matches.
std::string_view content_type_for(std::string_view file_name,
                                  const std::vector<std::pair<std::string, std::string>>& extra = {});

// Answers the request with the file at `path` as described above (conditional requests,
// ranges, HEAD). `path` is trusted: no root check is made here (static_dir does that). A
// directory is a 404. Usable from a handler: co_await khz::serve_file(c, path, options).
task<> serve_file(context& c, std::string path, const static_options& options);

KHZ_END_NAMESPACE
