#include <khz/base/error.hpp>
#include <khz/core/context.hpp>
#include <khz/http/uri.hpp>

#include <algorithm>
#include <cstring>

KHZ_BEGIN_NAMESPACE

namespace {
bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] + 32) : s[i];
    if (c != prefix[i]) return false;
  }
  return true;
}

// Where the query of an origin-form target starts ('?'), or t.size(). Short targets (most
// paths) take a byte loop: below a few dozen bytes a call into memchr costs more.
std::size_t find_query_mark(std::string_view t) noexcept {
  if (t.size() >= 32) return std::min(t.find('?'), t.size());
  std::size_t i = 0;
  while (i < t.size() && t[i] != '?') ++i;
  return i;
}
}  // namespace

std::string_view context::param(std::string_view name) const noexcept {
  for (const auto& p : match_.params) {
    if (p.key == name) return p.value;
  }
  return {};
}

// Decoded copies live in the request's arena: valid until the request is cleared, no
// heap allocation once the arena is warm.
std::string_view context::store_decoded(std::string_view raw, bool plus_as_space) {
  if (!needs_decoding(raw, plus_as_space)) return raw;
  scratch_.clear();
  if (!percent_decode(raw, scratch_, plus_as_space)) {
    // A malformed escape: keep the raw bytes rather than guess.
    return raw;
  }
  return request_.headers().arena().store(scratch_);
}

template <class Visit>
void context::visit_pairs(std::string_view pairs, std::string_view key, bool plus_as_space, Visit&& visit) {
  for (const query_param& p : query_params(pairs)) {
    bool match = p.key == key;
    if (!match && needs_decoding(p.key, plus_as_space)) {
      scratch_.clear();
      match = percent_decode(p.key, scratch_, plus_as_space) && scratch_ == key;
    }
    if (!match) continue;
    if (!visit(store_decoded(p.value, plus_as_space))) return;
  }
}

std::optional<std::string_view> context::query(std::string_view key) {
  std::optional<std::string_view> found;
  visit_pairs(request_.query(), key, true, [&](std::string_view v) {
    found = v;
    return false;
  });
  return found;
}

std::string_view context::default_query(std::string_view key, std::string_view fallback) {
  return query(key).value_or(fallback);
}

std::vector<std::string_view> context::query_all(std::string_view key) {
  std::vector<std::string_view> out;
  visit_pairs(request_.query(), key, true, [&](std::string_view v) {
    out.push_back(v);
    return true;
  });
  return out;
}

std::optional<std::string_view> context::cookie(std::string_view name) const noexcept {
  std::optional<std::string_view> found;
  request_.headers().for_each("Cookie", [&](std::string_view value) {
    if (!found) found = find_cookie(value, name);
  });
  return found;
}

std::string_view context::body() { return request_.body().peek(request_.body().size()); }

std::optional<std::string_view> context::form(std::string_view key) {
  if (!starts_with_icase(request_.headers().get(known_field::content_type), "application/x-www-form-urlencoded")) {
    return std::nullopt;
  }
  std::optional<std::string_view> found;
  visit_pairs(body(), key, true, [&](std::string_view v) {
    found = v;
    return false;
  });
  return found;
}

std::string_view context::default_form(std::string_view key, std::string_view fallback) {
  return form(key).value_or(fallback);
}

std::string_view context::client_ip() const noexcept {
  if (ip_rules_ == nullptr) return remote_ip();
  return ip_rules_->resolve(remote_ip(), [this](std::string_view name) { return request_.headers().get(name); });
}

void context::abandon_stream() noexcept {
  if (!streaming()) return;
  // Before the head went out the whole answer replaces the stream; after it, the server
  // closes the connection without ending the body, so the client sees it truncated.
  if (stream_.head_sent) {
    stream_.failed = true;
  } else {
    stream_.reset();
    response_.set_chunked(false);
  }
}

namespace {
// Content types common enough to be referred to rather than copied into the response's
// arena (a static string outlives every response).
constexpr std::string_view common_content_types[] = {
    "text/plain",
    "text/plain; charset=utf-8",
    "text/html; charset=utf-8",
    "application/json",
    "application/json; charset=utf-8",
    "application/octet-stream",
};
}  // namespace

void context::set_content_type(std::string_view content_type) {
  if (content_type.empty()) return;
  headers& h = response_.headers();
  if (h.find(known_field::content_type) != nullptr) {
    h.set("Content-Type", content_type);  // replaces every earlier one
    return;
  }
  // The usual case, a response without one yet: no search to erase, no copy of the name,
  // no classifying it again.
  std::string_view value = detail::http_chars::trim_ows(content_type);
  bool common = false;
  for (std::string_view c : common_content_types) {
    if (c == value) {
      value = c;
      common = true;
      break;
    }
  }
  if (!common) value = h.arena().store(value);
  h.push(header_field{"Content-Type", value, known_field::content_type});
}

void context::data(unsigned code, std::string_view content_type, std::string_view bytes) {
  abandon_stream();
  response_.set_status(code);
  set_content_type(content_type);
  response_.set_body(bytes);
}

void context::data(unsigned code, std::string_view content_type, link_buffer&& bytes) {
  abandon_stream();
  response_.set_status(code);
  set_content_type(content_type);
  response_.set_body(std::move(bytes));
}

void context::redirect(unsigned code, std::string_view location) {
  if (code < 300 || code > 399) {
    throw std::invalid_argument("khz: redirect() needs a 3xx status (301, 302, 303, 307, 308), got " +
                                std::to_string(code));
  }
  response_.set_status(code);
  response_.headers().set("Location", location);
  response_.set_body(std::string_view{});
}

void context::set_cookie(const khz::cookie& c) { response_.headers().add("Set-Cookie", format_set_cookie(c)); }

void context::no_content() noexcept {
  response_.set_status(204);
  response_.set_body(std::string_view{});
}

void context::not_found() { data(404, "text/plain; charset=utf-8", std::string_view("404 page not found")); }

void context::abort_with_message(unsigned code, std::string_view message) {
  data(code, "text/plain; charset=utf-8", message);
  abort();
}

namespace detail {
void throw_no_runtime(const char* what) {
  throw std::logic_error(std::string("khz: ctx.") + what +
                         "() needs an event loop: it works in handlers run by khz::server, not in "
                         "perform_request() without a loop");
}
}  // namespace detail

void context::begin_request(std::string_view peer_ip, const client_ip_resolver* ip_rules) noexcept {
  // Once: dispatch() uses both parts. origin-form (nearly every request: "/" first, any
  // method but CONNECT) needs only the '?' found, not the whole split_target().
  const std::string_view t = request_.target();
  if (KHZ_LIKELY(!t.empty() && t.front() == '/' && request_.method() != method::connect)) {
    const std::size_t q = find_query_mark(t);
    path_ = t.substr(0, q);
    query_ = q < t.size() ? t.substr(q + 1) : std::string_view{};
  } else {
    const request_target target = request_.split();
    path_ = target.path;
    query_ = target.query;
  }
  ip_rules_ = ip_rules;
  remote_ip_len_ = std::min(peer_ip.size(), sizeof(remote_ip_));
  std::memcpy(remote_ip_, peer_ip.data(), remote_ip_len_);
  cancelled_ = false;
}

void context::end_request() noexcept {
  ++generation_;
  reset_chain();
  request_.clear();
  response_.clear();
  match_.params.clear();
  match_.full_path = {};
  match_.location.clear();
  match_.allow.clear();
  path_ = {};
  query_ = {};
  cancelled_ = false;
  response_ready_ = false;
  stream_backend_ = nullptr;
  stream_.reset();
  body_.reset();
}

KHZ_END_NAMESPACE

KHZ_BEGIN_NAMESPACE

bool context::dispatch(const router& r, void (*done)(void*), void* arg) {
  r.match(request_.method_name(), path_, query_, match_);
  switch (match_.kind) {
    case route_match_kind::redirect:
      response_.set_status(static_cast<unsigned>(match_.status));
      response_.headers().set("Location", match_.location);
      return true;
    case route_match_kind::not_found:
      response_.set_status(404);
      break;
    case route_match_kind::method_not_allowed:
      response_.set_status(405);
      response_.headers().set("Allow", match_.allow);
      break;
    case route_match_kind::found:
      break;
  }
  owner_done_ = done;
  owner_arg_ = arg;
  bool finished = true;
  try {
    finished = run(*match_.handlers, &context::chain_finished, this);
  } catch (...) {
    fail_with_500(std::current_exception());
    return true;
  }
  if (finished) finish_dispatch();
  return finished;
}

void context::chain_finished(void* self) {
  auto* ctx = static_cast<context*>(self);
  try {
    ctx->rethrow_if_failed();
  } catch (...) {
    ctx->fail_with_500(std::current_exception());
  }
  ctx->finish_dispatch();
  if (ctx->owner_done_ != nullptr) ctx->owner_done_(ctx->owner_arg_);
}

void context::finish_dispatch() noexcept {
  if (response_.body_empty()) {
    try {
      if (match_.kind == route_match_kind::not_found && response_.status_code() == 404) {
        data(404, "text/plain; charset=utf-8", std::string_view("404 page not found"));
      } else if (match_.kind == route_match_kind::method_not_allowed && response_.status_code() == 405) {
        data(405, "text/plain; charset=utf-8", std::string_view("405 method not allowed"));
      }
    } catch (...) {
      // Out of memory writing a default body: the status alone still answers.
    }
  }
}

void context::fail_with_500(std::exception_ptr e) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  abandon_stream();
  try {
    error(make_error_code(errc::internal), "unhandled exception in handler for " +
                                                    std::string(match_.full_path.empty() ? path_ : match_.full_path) +
                                                    ": " + what);
    response_.headers().clear();
    data(500, "text/plain; charset=utf-8", std::string_view("500 Internal Server Error"));
  } catch (...) {
    response_.set_status(500);
  }
}

KHZ_END_NAMESPACE
