#pragma once
// URL path helpers used by the router (and usable by the server): cleaning, percent-decoding and
// percent-encoding of the path component of a request target. Pure functions on bytes; none of
// them looks at a query string (the caller splits "path?query" first).

#include <khz/base/config.hpp>

#include <cstddef>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

// The canonical form of `path`, with the rules of Go's path.Clean as Gin applies them to URLs:
//  1. runs of '/' become one '/';
//  2. each "." element is removed;
//  3. each ".." element is removed with the element before it;
//  4. ".." at the root is removed ("/.." -> "/");
//  5. the result starts with '/' (one is added when missing), and keeps a trailing '/' when the
//     input ended with '/' or with a "." element (and is not just "/").
// An empty input gives "/". Examples: "a//b/./c/.." -> "/a/b", "/a/b/" -> "/a/b/", "/a/." -> "/a/".
std::string clean_path(std::string_view path);

// clean_path into caller storage. Precondition: `out` has room for path.size() + 1 bytes (the
// result is never longer). Returns the length written. Does not allocate.
std::size_t clean_path_to(std::string_view path, char* out) noexcept;

// True when clean_path(path) == path; does not allocate.
bool is_clean_path(std::string_view path) noexcept;

// Percent-decodes `in` into `out` (which needs room for in.size() bytes: decoding never grows).
// A '%' not followed by two hex digits is copied as it is (as Gin and Hertz keep such a value
// undecoded rather than failing the request). '+' is not special in a path and stays '+'.
// Returns the length written. Does not allocate.
std::size_t unescape_path_to(std::string_view in, char* out) noexcept;
std::string unescape_path(std::string_view in);

// Percent-encodes the bytes a path may not carry literally (everything except RFC 3986
// unreserved, sub-delims, ':', '@' and '/'); '%' itself becomes "%25". Used to build a redirect
// Location from a decoded path.
std::string escape_path(std::string_view in);

KHZ_END_NAMESPACE
