#include <khz/core/body_stream.hpp>
#include <khz/core/context.hpp>

#include <stdexcept>
#include <string>

KHZ_BEGIN_NAMESPACE

using stream_framing = detail::response_stream_state::framing;

// ====================================================================== context

response_writer context::start_stream(unsigned code, std::string_view content_type, stream_framing mode,
                                      std::uint64_t length) {
  context& c = *this;
  if (c.streaming()) {
    throw std::logic_error("khz: ctx.stream() called twice for one request; keep the first response_writer");
  }
  auto& st = c.response_stream();
  st.reset();
  st.mode = mode;
  st.content_length = length;
  c.response().set_status(code);
  if (!content_type.empty()) c.response().headers().set("Content-Type", content_type);
  c.response().body().clear();
  c.response().set_chunked(mode == stream_framing::chunked);
  return response_writer(c);
}

response_writer context::stream(unsigned code, std::string_view content_type) {
  return start_stream(code, content_type, stream_framing::chunked, 0);
}

response_writer context::stream(unsigned code, std::string_view content_type, std::uint64_t content_length) {
  return start_stream(code, content_type, stream_framing::length, content_length);
}

// ====================================================================== response_writer

response_writer::response_writer(context& ctx) noexcept : ctx_(&ctx), generation_(ctx.generation()) {}

bool response_writer::valid() const noexcept { return ctx_ != nullptr && ctx_->generation() == generation_; }

context& response_writer::ctx() const {
  if (!valid()) {
    throw std::logic_error(
        "khz: response_writer used after its request ended (or default-constructed); stream within the "
        "handler, with co_await on flush()/finish()");
  }
  return *ctx_;
}

namespace {
// Checks a write against a known length; false (and the sticky error) when it overflows.
bool admit(detail::response_stream_state& st, std::size_t n) {
  if (st.error) return false;
  if (st.ended) {
    st.error = make_error_code(errc::closed);
    return false;
  }
  if (st.mode == stream_framing::length && st.sent + st.buffered.size() + st.buffered.pending() + n > st.content_length) {
    st.error = make_error_code(errc::invalid_argument);
    return false;
  }
  return true;
}
}  // namespace

void response_writer::write(std::string_view bytes) {
  auto& st = ctx().response_stream();
  if (bytes.empty() || !admit(st, bytes.size())) return;
  st.buffered.append(bytes);
}

void response_writer::write(link_buffer&& bytes) {
  auto& st = ctx().response_stream();
  bytes.flush();
  if (bytes.empty() || !admit(st, bytes.size())) {
    bytes.clear();
    return;
  }
  st.buffered.append(std::move(bytes));
}

stream_flush_awaiter response_writer::flush() { return stream_flush_awaiter(ctx(), false); }
stream_flush_awaiter response_writer::finish() { return stream_flush_awaiter(ctx(), true); }

std::size_t response_writer::buffered() const {
  const auto& st = ctx().response_stream();
  return st.buffered.size() + st.buffered.pending();
}

std::uint64_t response_writer::bytes_sent() const { return ctx().response_stream().sent; }

std::size_t response_writer::pending_output() const {
  context& c = ctx();
  return c.get_stream_backend() != nullptr ? c.get_stream_backend()->pending_output(c) : 0;
}

std::error_code response_writer::error() const { return ctx().response_stream().error; }

// ====================================================================== flush

namespace {
// No server (perform_request): the stream collects into response().body().
void flush_locally(context& c, bool last) {
  auto& st = c.response_stream();
  if (st.error || st.ended) {
    if (!st.error) st.error = make_error_code(errc::closed);
    return;
  }
  st.buffered.flush();
  st.sent += st.buffered.size();
  c.response().body().append(std::move(st.buffered));
  c.response().body().flush();
  st.head_sent = true;
  if (last) {
    st.ended = true;
    if (st.mode == stream_framing::length && st.sent != st.content_length) {
      st.error = make_error_code(errc::invalid_argument);
    }
  }
}
}  // namespace

bool stream_flush_awaiter::await_ready() {
  auto& st = ctx_->response_stream();
  if (st.error) return true;
  if (st.ended) {
    // finish() twice is harmless; a flush after the end has nothing to send it to.
    if (!last_) st.error = make_error_code(errc::closed);
    return true;
  }
  stream_backend* b = ctx_->get_stream_backend();
  if (b == nullptr) {
    flush_locally(*ctx_, last_);
    return true;
  }
  return b->flush_stream(*ctx_, last_);
}

void stream_flush_awaiter::await_suspend(std::coroutine_handle<> h) noexcept { ctx_->response_stream().waiter = h; }

result<void> stream_flush_awaiter::await_resume() noexcept {
  auto& st = ctx_->response_stream();
  if (st.error) return st.error;
  return {};
}

// ====================================================================== request body

bool body_read_awaiter::await_ready() {
  auto& rb = ctx_->body_stream();
  if (!rb.streaming) return true;  // the whole body is already here
  if (!ctx_->request().body().empty() || rb.complete || rb.error) return true;
  if (stream_backend* b = ctx_->get_stream_backend()) b->body_wanted(*ctx_);
  return false;
}

void body_read_awaiter::await_suspend(std::coroutine_handle<> h) noexcept { ctx_->body_stream().waiter = h; }

body_piece body_read_awaiter::await_resume() {
  auto& rb = ctx_->body_stream();
  link_buffer& body = ctx_->request().body();
  body_piece piece;
  body.flush();
  if (!body.empty()) {
    std::size_t n = body.size();
    if (rb.max_piece != 0 && n > rb.max_piece) n = rb.max_piece;
    rb.taken += n;
    piece.data = body.slice(n);
    body.release();
  } else if (rb.error) {
    piece.error = rb.error;
    return piece;
  }
  piece.last = body.empty() && (!rb.streaming || (rb.complete && !rb.error));
  if (rb.streaming && !rb.complete && !rb.error) {
    // Taken: the server may feed more now.
    if (stream_backend* b = ctx_->get_stream_backend()) b->body_wanted(*ctx_);
  }
  return piece;
}

bool body_read_all_awaiter::await_ready() {
  auto& rb = ctx_->body_stream();
  if (!rb.streaming || rb.complete || rb.error) return true;
  rb.want_all = true;
  if (stream_backend* b = ctx_->get_stream_backend()) b->body_wanted(*ctx_);
  return false;
}

void body_read_all_awaiter::await_suspend(std::coroutine_handle<> h) noexcept { ctx_->body_stream().waiter = h; }

result<void> body_read_all_awaiter::await_resume() noexcept {
  auto& rb = ctx_->body_stream();
  ctx_->request().body().flush();
  if (rb.error) return rb.error;
  return {};
}

KHZ_END_NAMESPACE
