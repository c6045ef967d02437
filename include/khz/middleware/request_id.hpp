#pragma once
// request_id(): propagates the client's X-Request-ID (when it is 1..200 visible ASCII
// bytes) or generates one (32 random hex digits), stores it under the context key
// "request_id" (a std::string) and echoes it in the response header.

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>

#include <functional>
#include <string>
#include <string_view>

KHZ_BEGIN_NAMESPACE

inline constexpr std::string_view request_id_key = "request_id";

struct request_id_options {
  std::string header = "X-Request-ID";
  // Makes a new id; default: 128 random bits as 32 lowercase hex digits.
  std::function<std::string()> generator;
};

handler<context> request_id(request_id_options options = {});

// The id request_id() stored for this request; empty when it did not run.
std::string_view request_id_of(const context& ctx) noexcept;

KHZ_END_NAMESPACE
