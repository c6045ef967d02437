#include <khz/middleware/access_log.hpp>
#include <khz/middleware/request_id.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iterator>

KHZ_BEGIN_NAMESPACE

namespace {

void append_field(fmt::memory_buffer& out, log_field f, context& c,
                  std::chrono::nanoseconds latency) {
  auto it = std::back_inserter(out);
  auto or_dash = [](std::string_view v) { return v.empty() ? std::string_view("-") : v; };
  switch (f) {
    case log_field::time: {
      std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      std::tm tm{};
      gmtime_r(&t, &tm);
      fmt::format_to(it, "{:%Y/%m/%d - %H:%M:%S}", tm);
      break;
    }
    case log_field::status:
      fmt::format_to(it, "{}", c.response().status_code());
      break;
    case log_field::latency: {
      double us = static_cast<double>(latency.count()) / 1000.0;
      if (us < 1000.0) {
        fmt::format_to(it, "{:.1f}µs", us);
      } else if (us < 1e6) {
        fmt::format_to(it, "{:.3f}ms", us / 1000.0);
      } else {
        fmt::format_to(it, "{:.3f}s", us / 1e6);
      }
      break;
    }
    case log_field::client_ip:
      fmt::format_to(it, "{}", or_dash(c.client_ip()));
      break;
    case log_field::method:
      fmt::format_to(it, "{}", c.method());
      break;
    case log_field::path:
      fmt::format_to(it, "{}", c.path());
      break;
    case log_field::full_path:
      fmt::format_to(it, "{}", or_dash(c.full_path()));
      break;
    case log_field::bytes_out:
      fmt::format_to(it, "{}", c.response().body().size());
      break;
    case log_field::request_id:
      fmt::format_to(it, "{}", or_dash(request_id_of(c)));
      break;
    case log_field::user_agent:
      fmt::format_to(it, "{}", or_dash(c.header("User-Agent")));
      break;
  }
}

}  // namespace

handler<context> access_log(access_log_options options) {
  return handler<context>(
      [options = std::move(options)](context& c) -> task<> {
        auto start = std::chrono::steady_clock::now();
        std::exception_ptr failure;
        try {
          co_await c.next();
        } catch (...) {
          failure = std::current_exception();  // logged as what the response says, then rethrown
        }
        auto latency = std::chrono::steady_clock::now() - start;
        fmt::memory_buffer line;
        for (std::size_t i = 0; i < options.fields.size(); ++i) {
          if (i != 0) line.append(options.separator);
          append_field(line, options.fields[i], c,
                       std::chrono::duration_cast<std::chrono::nanoseconds>(latency));
        }
        std::string_view text(line.data(), line.size());
        if (options.sink) {
          options.sink(text);
        } else {
          fmt::print(stderr, "[khz] {}\n", text);
        }
        if (failure) std::rethrow_exception(failure);
      },
      "khz::access_log");
}

KHZ_END_NAMESPACE
