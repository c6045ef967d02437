#include "net/loop_impl.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <limits>

KHZ_BEGIN_NAMESPACE

namespace {

std::uint32_t to_ms(std::chrono::milliseconds t) noexcept {
  if (t.count() <= 0) return 0;
  return static_cast<std::uint32_t>(std::min<std::int64_t>(t.count(), std::numeric_limits<std::uint32_t>::max()));
}

std::uint32_t clamp_size(std::size_t n, std::size_t lo, std::size_t hi) noexcept {
  return static_cast<std::uint32_t>(std::clamp(n, lo, hi));
}

}  // namespace

void connection_handler::on_open(connection&) {}
void connection_handler::on_peer_shutdown(connection& c) { c.close(); }
void connection_handler::on_write_drained(connection&) {}
void connection_handler::on_close(connection&, std::error_code) {}

connection::connection(detail::loop_impl& loop, int fd, connection_handler& h, const connection_options& o, bool tcp)
    : fd_(fd), loop_(&loop), handler_(&h) {
  initial_read_size_ = clamp_size(o.initial_read_size, 512, std::size_t{1} << 24);
  max_read_size_ = clamp_size(o.max_read_size, initial_read_size_, std::size_t{1} << 24);
  read_size_ = initial_read_size_;
  read_timeout_ms_ = to_ms(o.read_timeout);
  write_timeout_ms_ = to_ms(o.write_timeout);
  idle_timeout_ms_ = to_ms(o.idle_timeout);
  max_input_ = std::max<std::size_t>(o.max_input_bytes, 1);
  if (tcp) flags_ |= f_tcp;
  timer_.fire = &detail::loop_impl::connection_timer_fired;
}

connection::~connection() = default;

void connection_add_ref(connection* c) noexcept { c->refs_.fetch_add(1, std::memory_order_relaxed); }

void connection_release(connection* c) noexcept {
  if (c->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete c;
}

event_loop& connection::loop() const noexcept { return loop_->owner(); }

result<void> connection::write(std::string_view bytes) {
  if (flags_ & (f_closed | f_closing | f_abort | f_shutdown_wr)) return errc::closed;
  output_.append(bytes);
  loop_->schedule_flush(*this);
  return {};
}

result<void> connection::write(link_buffer&& bytes) {
  if (flags_ & (f_closed | f_closing | f_abort | f_shutdown_wr)) return errc::closed;
  output_.append(std::move(bytes));
  loop_->schedule_flush(*this);
  return {};
}

result<void> connection::flush() {
  if (flags_ & (f_closed | f_abort)) return errc::closed;
  loop_->schedule_flush(*this);
  return {};
}

result<void> connection::shutdown_write() {
  if (flags_ & (f_closed | f_closing | f_abort)) return errc::closed;
  flags_ |= f_shutdown_wr;
  loop_->schedule_flush(*this);
  return {};
}

void connection::notify_drained() noexcept {
  if (flags_ & f_closed) return;
  flags_ |= f_drain_notify;
  loop_->request_drain_check(*this);
}

void connection::close() noexcept {
  if (flags_ & (f_closed | f_closing)) return;
  flags_ |= f_closing;
  loop_->update_read_state(*this);
  loop_->schedule_flush(*this);
}

void connection::abort(std::error_code reason) noexcept {
  if (flags_ & (f_closed | f_abort)) return;
  flags_ |= f_abort;
  if (reason) {
    abort_reason_ = reason.value();
    abort_category_ = &reason.category();
  }
  loop_->update_read_state(*this);
  loop_->schedule_flush(*this);
}

void connection::pause_read() noexcept {
  if (flags_ & f_closed) return;
  flags_ |= f_app_paused;
  loop_->update_read_state(*this);
}

void connection::resume_read() noexcept {
  if (flags_ & f_closed) return;
  flags_ &= ~f_app_paused;
  loop_->update_read_state(*this);
}

void connection::set_read_timeout(std::chrono::milliseconds t) noexcept {
  read_timeout_ms_ = to_ms(t);
  if (read_timeout_ms_ == 0 || (flags_ & f_closed)) return;
  last_read_ = loop_->now();
  loop_->arm_connection_timer(*this, loop_->now() + std::int64_t{read_timeout_ms_} * 1'000'000);
}

void connection::set_write_timeout(std::chrono::milliseconds t) noexcept {
  write_timeout_ms_ = to_ms(t);
  if (write_timeout_ms_ == 0 || (flags_ & f_closed) || pending_output() == 0) return;
  loop_->arm_connection_timer(*this, last_write_ + std::int64_t{write_timeout_ms_} * 1'000'000);
}

void connection::set_idle_timeout(std::chrono::milliseconds t) noexcept {
  idle_timeout_ms_ = to_ms(t);
  if (idle_timeout_ms_ == 0 || (flags_ & f_closed)) return;
  loop_->arm_connection_timer(*this, loop_->now() + std::int64_t{idle_timeout_ms_} * 1'000'000);
}

void connection::set_max_input_bytes(std::size_t bytes) noexcept {
  max_input_ = std::max<std::size_t>(bytes, 1);
  loop_->update_read_state(*this);
}

result<address> connection::local_address() const {
  if (flags_ & f_closed) return errc::closed;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return system_error_code(errno);
  return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

result<address> connection::peer_address() const {
  if (flags_ & f_closed) return errc::closed;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return system_error_code(errno);
  return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

KHZ_END_NAMESPACE
