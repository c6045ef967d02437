#include <khz/middleware/recovery.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <string>

KHZ_BEGIN_NAMESPACE

handler<context> recovery(recovery_options options) {
  return handler<context>(
      [options = std::move(options)](context& c) -> task<> {
        std::exception_ptr failure;
        try {
          co_await c.next();
        } catch (...) {
          failure = std::current_exception();
        }
        if (!failure) co_return;
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        std::string_view route = c.full_path().empty() ? c.path() : c.full_path();
        c.error(make_error_code(errc::internal),
                fmt::format("recovered in {} {}: {}", c.method(), route, what));
        c.response().headers().clear();
        c.data(500, "text/plain; charset=utf-8", std::string_view("500 Internal Server Error"));
        c.abort();
        if (options.on_error) {
          options.on_error(c, what);
        } else {
          fmt::print(stderr, "[khz] recovered from an exception in {} {}: {}\n", c.method(), route,
                     what);
        }
      },
      "khz::recovery");
}

KHZ_END_NAMESPACE
