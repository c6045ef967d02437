#pragma once
// HTTP status codes (RFC 9110 §15 and the registered extensions a server meets), their
// reason phrases, and the precomputed status lines the serializer writes.
// Any code in 100..599 may be used; codes without an entry here get an empty reason
// phrase (RFC 9112 §4 allows it: "HTTP/1.1 599 \r\n").

#include <khz/base/config.hpp>

#include <cstdint>
#include <string_view>

KHZ_BEGIN_NAMESPACE

// X(code, enumerator, reason phrase)
#define KHZ_HTTP_STATUS_LIST(X)                                  \
  X(100, continue_, "Continue")                                  \
  X(101, switching_protocols, "Switching Protocols")             \
  X(102, processing, "Processing")                               \
  X(103, early_hints, "Early Hints")                             \
  X(200, ok, "OK")                                               \
  X(201, created, "Created")                                     \
  X(202, accepted, "Accepted")                                   \
  X(203, non_authoritative_information, "Non-Authoritative Information") \
  X(204, no_content, "No Content")                               \
  X(205, reset_content, "Reset Content")                         \
  X(206, partial_content, "Partial Content")                     \
  X(207, multi_status, "Multi-Status")                           \
  X(208, already_reported, "Already Reported")                   \
  X(226, im_used, "IM Used")                                     \
  X(300, multiple_choices, "Multiple Choices")                   \
  X(301, moved_permanently, "Moved Permanently")                 \
  X(302, found, "Found")                                         \
  X(303, see_other, "See Other")                                 \
  X(304, not_modified, "Not Modified")                           \
  X(305, use_proxy, "Use Proxy")                                 \
  X(307, temporary_redirect, "Temporary Redirect")               \
  X(308, permanent_redirect, "Permanent Redirect")               \
  X(400, bad_request, "Bad Request")                             \
  X(401, unauthorized, "Unauthorized")                           \
  X(402, payment_required, "Payment Required")                   \
  X(403, forbidden, "Forbidden")                                 \
  X(404, not_found, "Not Found")                                 \
  X(405, method_not_allowed, "Method Not Allowed")               \
  X(406, not_acceptable, "Not Acceptable")                       \
  X(407, proxy_authentication_required, "Proxy Authentication Required") \
  X(408, request_timeout, "Request Timeout")                     \
  X(409, conflict, "Conflict")                                   \
  X(410, gone, "Gone")                                           \
  X(411, length_required, "Length Required")                     \
  X(412, precondition_failed, "Precondition Failed")             \
  X(413, content_too_large, "Content Too Large")                 \
  X(414, uri_too_long, "URI Too Long")                           \
  X(415, unsupported_media_type, "Unsupported Media Type")       \
  X(416, range_not_satisfiable, "Range Not Satisfiable")         \
  X(417, expectation_failed, "Expectation Failed")               \
  X(421, misdirected_request, "Misdirected Request")             \
  X(422, unprocessable_content, "Unprocessable Content")         \
  X(423, locked, "Locked")                                       \
  X(424, failed_dependency, "Failed Dependency")                 \
  X(425, too_early, "Too Early")                                 \
  X(426, upgrade_required, "Upgrade Required")                   \
  X(428, precondition_required, "Precondition Required")         \
  X(429, too_many_requests, "Too Many Requests")                 \
  X(431, request_header_fields_too_large, "Request Header Fields Too Large") \
  X(451, unavailable_for_legal_reasons, "Unavailable For Legal Reasons") \
  X(500, internal_server_error, "Internal Server Error")         \
  X(501, not_implemented, "Not Implemented")                     \
  X(502, bad_gateway, "Bad Gateway")                             \
  X(503, service_unavailable, "Service Unavailable")             \
  X(504, gateway_timeout, "Gateway Timeout")                     \
  X(505, http_version_not_supported, "HTTP Version Not Supported") \
  X(506, variant_also_negotiates, "Variant Also Negotiates")     \
  X(507, insufficient_storage, "Insufficient Storage")           \
  X(508, loop_detected, "Loop Detected")                         \
  X(510, not_extended, "Not Extended")                           \
  X(511, network_authentication_required, "Network Authentication Required")

// A status code. Values outside the list are allowed (any 100..599).
enum class status : std::uint16_t {
#define KHZ_HTTP_STATUS_ENUM(code, name, reason) name = code,
  KHZ_HTTP_STATUS_LIST(KHZ_HTTP_STATUS_ENUM)
#undef KHZ_HTTP_STATUS_ENUM
};

constexpr unsigned to_code(status s) noexcept { return static_cast<unsigned>(s); }

// The registered reason phrase of a code; empty for codes without one.
constexpr std::string_view reason_phrase(unsigned code) noexcept {
  switch (code) {
#define KHZ_HTTP_STATUS_REASON(code, name, reason) \
  case code:                                       \
    return reason;
    KHZ_HTTP_STATUS_LIST(KHZ_HTTP_STATUS_REASON)
#undef KHZ_HTTP_STATUS_REASON
    default:
      return {};
  }
}
constexpr std::string_view reason_phrase(status s) noexcept { return reason_phrase(to_code(s)); }

// True for a code the protocol accepts on the wire (RFC 9110 §15: 100..599).
constexpr bool is_valid_status(unsigned code) noexcept { return code >= 100 && code <= 599; }

// Responses to which no content may be attached (RFC 9110 §6.4.1): 1xx, 204, 304.
constexpr bool status_forbids_body(unsigned code) noexcept {
  return (code >= 100 && code < 200) || code == 204 || code == 304;
}

namespace detail {
// "HTTP/1.1 200 OK\r\n" for the listed codes, precomputed; empty for other codes (the
// serializer then formats the line).
constexpr std::string_view status_line_11(unsigned code) noexcept {
  switch (code) {
#define KHZ_HTTP_STATUS_LINE(code, name, reason) \
  case code:                                     \
    return "HTTP/1.1 " #code " " reason "\r\n";
    KHZ_HTTP_STATUS_LIST(KHZ_HTTP_STATUS_LINE)
#undef KHZ_HTTP_STATUS_LINE
    default:
      return {};
  }
}
}  // namespace detail

KHZ_END_NAMESPACE
