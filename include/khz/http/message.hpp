#pragma once
// What requests and responses have in common: version, header fields, body, trailers
// and the connection semantics read from them.
//
// Ownership and lifetimes (the contract the server and the client rely on):
//   - A parsed message owns the bytes of its head: the parser moves them out of the
//     connection's input buffer into the message (a zero-copy, refcounted slice of the
//     input blocks; a copy only when the head straddled blocks). Every string_view the
//     message hands out (method name, target, reason, header names and values) stays
//     valid while the message object lives and is not cleared, whatever happens to the
//     input buffer (release(), clear(), destruction) and on whatever thread the message
//     is moved to.
//   - The body is a link_buffer of its own (zero-copy slices of the input).
//   - clear() drops all of it but keeps the allocated capacity, so a pooled message
//     reaches a steady state without heap allocation. A message is move-only.

#include <khz/base/config.hpp>
#include <khz/buffer/link_buffer.hpp>
#include <khz/http/headers.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

KHZ_BEGIN_NAMESPACE

namespace detail {
struct message_access;
struct serializer_access;
}

struct http_version {
  std::uint8_t major = 1;
  std::uint8_t minor = 1;
  friend constexpr bool operator==(http_version, http_version) noexcept = default;
};

class message_base {
 public:
  message_base() = default;
  message_base(message_base&&) noexcept = default;
  message_base& operator=(message_base&&) noexcept = default;

  http_version version() const noexcept { return version_; }
  void set_version(http_version v) noexcept { version_ = v; }

  khz::headers& headers() noexcept { return headers_; }
  const khz::headers& headers() const noexcept { return headers_; }

  // Trailer fields of a chunked message (empty otherwise). Views valid like the head's.
  khz::headers& trailers() noexcept { return trailers_; }
  const khz::headers& trailers() const noexcept { return trailers_; }

  // The body received so far (parser) or to send (serializer). When a message is
  // parsed in streaming mode, the body goes to the caller's sink instead and this
  // stays empty.
  link_buffer& body() {
    if (KHZ_UNLIKELY(small_size_ != 0)) spill_small_body();
    return body_;
  }
  const link_buffer& body() const {
    if (KHZ_UNLIKELY(small_size_ != 0)) spill_small_body();
    return body_;
  }

  // Replaces the body with a copy of `bytes`. Up to small_body_capacity bytes are kept in
  // the message itself (the serializer copies them next to the head: no buffer block is
  // taken or released); longer ones go to pooled blocks (no heap allocation once warm).
  // body() always shows the bytes, whichever way they are held.
  void set_body(std::string_view bytes) {
    body_.clear();
    if (bytes.size() <= small_body_capacity) {
      if (!bytes.empty()) std::memcpy(small_, bytes.data(), bytes.size());
      small_size_ = static_cast<std::uint16_t>(bytes.size());
      return;
    }
    small_size_ = 0;
    body_.append(bytes);
    body_.flush();
  }
  // Replaces the body with `bytes`, linked without a copy.
  void set_body(link_buffer&& bytes) {
    small_size_ = 0;
    body_.clear();
    body_.append(std::move(bytes));
    body_.flush();
  }
  static constexpr std::size_t small_body_capacity = 128;
  // No body bytes at all (committed or pending), without spilling a small body.
  bool body_empty() const noexcept { return small_size_ == 0 && body_.empty() && body_.pending() == 0; }

  // Parsed: whether the connection may carry another message after this one (HTTP/1.1:
  // unless "Connection: close"; HTTP/1.0: only with "Connection: keep-alive").
  // To send: whether the serializer writes a message that keeps the connection open.
  bool keep_alive() const noexcept { return keep_alive_; }
  void set_keep_alive(bool on) noexcept { keep_alive_ = on; }

  // Parsed: the body was chunked. To send: write the body with the chunked coding.
  bool chunked() const noexcept { return chunked_; }
  void set_chunked(bool on) noexcept { chunked_ = on; }

  // Parsed: the Content-Length value, when the message had one.
  std::optional<std::uint64_t> content_length() const noexcept {
    return has_content_length_ ? std::optional<std::uint64_t>(content_length_) : std::nullopt;
  }

  // Parsed: whether a body follows the head (Content-Length > 0, chunked, or a response
  // read until the connection closes).
  bool has_body() const noexcept { return has_body_; }

  // The token list of the Connection field contains `token` (case-insensitive).
  bool connection_has(std::string_view token) const noexcept;

  // Bytes the head occupied on the wire (parsed messages); 0 otherwise.
  std::size_t head_size() const noexcept { return head_.size(); }

 protected:
  void clear_base() noexcept {
    headers_.clear();
    trailers_.clear();
    body_.clear();
    small_size_ = 0;
    head_.clear();
    version_ = {};
    keep_alive_ = true;
    chunked_ = false;
    has_content_length_ = false;
    has_body_ = false;
    content_length_ = 0;
  }

 private:
  friend struct detail::message_access;
  friend struct detail::serializer_access;

  // Moves a small body set by set_body() into body_ (any access through body()).
  void spill_small_body() const {
    body_.append(std::string_view(small_, small_size_));
    body_.flush();
    small_size_ = 0;
  }

  link_buffer head_;  // the parsed head's bytes: every view points here
  khz::headers headers_;
  khz::headers trailers_;
  mutable link_buffer body_;  // mutable: a const body() may spill the small body into it
  std::uint64_t content_length_ = 0;
  mutable std::uint16_t small_size_ = 0;  // bytes of small_ holding the body (then body_ is empty)
  http_version version_{};
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_content_length_ = false;
  bool has_body_ = false;
  char small_[small_body_capacity] = {};
};

KHZ_END_NAMESPACE
