#pragma once
// access_log(): one line per request, written after the whole chain finished (suspended
// handlers included), so the latency is the handler's real duration.
//   r.use(khz::access_log());                          // Gin-like default fields, to stderr
//   khz::access_log_options o;
//   o.fields = {khz::log_field::status, khz::log_field::latency, khz::log_field::path};
//   o.sink = [](std::string_view line) { my_logger.info("{}", line); };
//   r.use(khz::access_log(std::move(o)));

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>

#include <functional>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE

enum class log_field {
  time,        // UTC, "2026/11/23 - 08:39:42"
  status,      // 200
  latency,     // "1.234ms" (steady clock, chain start to chain end)
  client_ip,   // ctx.client_ip()
  method,      // GET
  path,        // the raw path
  full_path,   // the route pattern, "-" when none matched
  bytes_out,   // response body bytes
  request_id,  // the id set by request_id(), "-" without it
  user_agent,  // "-" when absent
};

struct access_log_options {
  std::vector<log_field> fields{log_field::time,      log_field::status, log_field::latency,
                                log_field::client_ip, log_field::method, log_field::path};
  std::string separator = " | ";
  // Receives each line (without a newline). Default: stderr.
  std::function<void(std::string_view line)> sink;
};

handler<context> access_log(access_log_options options = {});

KHZ_END_NAMESPACE
