#pragma once
// recovery(): turns an exception thrown by a later handler (plain or coroutine, before or
// after a suspension) into a 500 response, reports it with the route, and lets the server
// go on serving. Install it first: khz::router r; r.use(khz::recovery());

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>

#include <functional>
#include <string_view>

KHZ_BEGIN_NAMESPACE

struct recovery_options {
  // Called with the context and the exception's message after the 500 is set; default:
  // one line on stderr naming the method, route and message.
  std::function<void(context&, std::string_view what)> on_error;
};

handler<context> recovery(recovery_options options = {});

KHZ_END_NAMESPACE
