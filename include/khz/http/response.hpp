#pragma once
// An HTTP response: built and serialized (server) or parsed by response_parser (client).
// Lifetimes and reuse: see message.hpp.

#include <khz/base/config.hpp>
#include <khz/http/message.hpp>
#include <khz/http/status.hpp>

#include <string_view>

KHZ_BEGIN_NAMESPACE

class response : public message_base {
 public:
  response() = default;
  response(response&&) noexcept = default;
  response& operator=(response&&) noexcept = default;

  unsigned status_code() const noexcept { return status_; }
  khz::status status() const noexcept { return static_cast<khz::status>(status_); }
  // The reason phrase as received, or as set (defaults to the registered phrase).
  std::string_view reason() const noexcept { return reason_; }

  // 1xx: an interim response; the final one follows on the same connection.
  bool is_interim() const noexcept { return status_ >= 100 && status_ < 200; }

  // Sets the status and its registered reason phrase.
  void set_status(khz::status s) noexcept { set_status(to_code(s)); }
  // Precondition: is_valid_status(code).
  void set_status(unsigned code) noexcept {
    status_ = static_cast<std::uint16_t>(code);
    reason_ = reason_phrase(code);
    custom_reason_ = false;
  }
  // A custom reason phrase (copied into the headers' arena: headers().clear()
  // invalidates it). Precondition: no CR, LF or other control byte (the serializer
  // refuses one).
  void set_reason(std::string_view reason) {
    reason_ = headers().arena().store(reason);
    custom_reason_ = true;
  }
  bool has_custom_reason() const noexcept { return custom_reason_; }

  // Resets to an empty "200 OK", HTTP/1.1, keep-alive, keeping capacity.
  void clear() noexcept {
    clear_base();
    status_ = 200;
    reason_ = "OK";
    custom_reason_ = false;
  }

 private:
  friend struct detail::message_access;

  std::string_view reason_ = "OK";
  std::uint16_t status_ = 200;
  bool custom_reason_ = false;
};

KHZ_END_NAMESPACE
