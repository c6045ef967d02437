#pragma once
// An HTTP request: parsed by request_parser (server) or built and serialized (client).
// Lifetimes and reuse: see message.hpp. All views stay valid until clear() or
// destruction.

#include <khz/base/config.hpp>
#include <khz/http/message.hpp>
#include <khz/http/method.hpp>
#include <khz/http/uri.hpp>

#include <string_view>

KHZ_BEGIN_NAMESPACE

class request : public message_base {
 public:
  request() = default;
  request(request&&) noexcept = default;
  request& operator=(request&&) noexcept = default;

  khz::method method() const noexcept { return method_; }
  // The method token as received or set ("GET", "PROPFIND"...).
  std::string_view method_name() const noexcept { return method_name_; }

  // The request-target exactly as received or set.
  std::string_view target() const noexcept { return target_; }
  // The target split by form (origin, absolute, authority, asterisk).
  request_target split() const noexcept { return split_target(target_, method_); }
  // Path and query of an origin- or absolute-form target (raw, not decoded).
  std::string_view path() const noexcept { return split().path; }
  std::string_view query() const noexcept { return split().query; }
  query_params query_parameters() const noexcept { return query_params(query()); }

  // The client sent "Expect: 100-continue": answer 100 Continue (or a final status)
  // before reading the body.
  bool expect_continue() const noexcept { return expect_continue_; }
  // The protocols of the Upgrade field when the client asked to upgrade (Connection
  // lists "upgrade"); empty otherwise.
  std::string_view upgrade() const noexcept { return upgrade_; }

  // Building a request (client side).
  void set_method(khz::method m) noexcept {
    method_ = m;
    method_name_ = to_string(m);
  }
  // Any method token (copied). Precondition: is_method_token(token).
  void set_method(std::string_view token) {
    method_ = method_from_string(token);
    method_name_ = method_ == khz::method::other ? headers().arena().store(token) : to_string(method_);
  }
  // The request-target (copied). Copies made by set_target()/set_method(token) live in
  // the headers' arena: headers().clear() invalidates them too (clear() resets all).
  void set_target(std::string_view target) { target_ = headers().arena().store(target); }

  // Resets to an empty GET / HTTP/1.1, keeping capacity. Invalidates every view.
  void clear() noexcept {
    clear_base();
    method_ = khz::method::get;
    method_name_ = "GET";
    target_ = {};
    upgrade_ = {};
    expect_continue_ = false;
  }

 private:
  friend struct detail::message_access;

  std::string_view method_name_ = "GET";
  std::string_view target_;
  std::string_view upgrade_;
  khz::method method_ = khz::method::get;
  bool expect_continue_ = false;
};

KHZ_END_NAMESPACE
