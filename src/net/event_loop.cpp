// The loop core: run/stop/post, the timer heap, the connection state machine and the
// once-per-iteration flush. The backends (epoll_backend.cpp, io_uring_backend.cpp) only
// move bytes and report what happened.

#include "net/loop_impl.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <stdexcept>
#include <system_error>

KHZ_BEGIN_NAMESPACE

namespace detail {

namespace {

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::int64_t ms_to_ns(std::uint32_t ms) noexcept { return static_cast<std::int64_t>(ms) * 1'000'000; }

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
#endif
template <class T, class M>
T* owner_of(M* member, std::size_t offset) noexcept {
  return reinterpret_cast<T*>(reinterpret_cast<char*>(member) - offset);
}
#define KHZ_OWNER_OF(T, field, ptr) owner_of<T>(ptr, offsetof(T, field))

}  // namespace

// ====================================================================== construction

loop_impl::loop_impl(event_loop& owner, const loop_options& options)
    : owner_(&owner), options_(options), owner_thread_(std::this_thread::get_id()) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::system_error(errno, std::system_category(), "eventfd");
  update_now();
  try {
    io_uring_support support;
    if (options.kind != transport::epoll) {
      if (options.refuse_io_uring) {
        support.error = make_error_code(errc::not_supported);
        support.reason = "io_uring refused by loop_options::refuse_io_uring";
      } else {
        support = probe_io_uring();
      }
      if (!support && options.kind == transport::io_uring) {
        throw std::system_error(support.error, "io_uring is not available: " + support.reason);
      }
    }
#if KHZ_HAVE_IO_URING
    if (options.kind != transport::epoll && support) {
      try {
        backend_ = make_uring_backend(*this, options);
        kind_ = transport::io_uring;
      } catch (const std::system_error&) {
        if (options.kind == transport::io_uring) throw;
      }
    }
#endif
    if (!backend_) {
      backend_ = make_epoll_backend(*this, options);
      kind_ = transport::epoll;
    }
  } catch (...) {
    ::close(event_fd_);
    throw;
  }
}

loop_impl::~loop_impl() {
  if (!shut_down_) shutdown();
  unmask_sigpipe();
  backend_.reset();
  for (auto* l : dead_listeners_) delete l;
  ::close(event_fd_);
}

// ====================================================================== run / stop / post

namespace {
thread_local event_loop* tl_current_loop = nullptr;
}  // namespace

void loop_impl::run() {
  if (ran_) throw std::logic_error("khz::event_loop::run() called twice: a loop runs once");
  ran_ = true;
  owner_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  event_loop* const outer = tl_current_loop;
  tl_current_loop = owner_;
  struct restore {
    event_loop* prev;
    ~restore() { tl_current_loop = prev; }
  } restore_current{outer};
  backend_->start();
  while (!stop_.load(std::memory_order_acquire)) iterate();
  shutdown();
  unmask_sigpipe();
}

void loop_impl::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  backend_->wake();
}

void loop_impl::post(loop_task task) {
  {
    std::lock_guard lock(task_mutex_);
    posted_.push_back(std::move(task));
  }
  if (in_loop_thread()) {
    // The loop checks the flag before it blocks: no syscall needed.
    wake_pending_.store(true, std::memory_order_release);
    return;
  }
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) backend_->wake();
}

void loop_impl::update_now() noexcept { now_ = monotonic_ns(); }

void loop_impl::iterate() {
  update_now();
  std::int64_t timeout = next_timeout();
  if (wake_pending_.load(std::memory_order_acquire) || !flush_list_.empty()) timeout = 0;
  backend_->poll(timeout);
  ++stats_.iterations;
  run_tasks();
  run_timers();
  flush_all();
  for (connection* c : graveyard_) connection_release(c);
  graveyard_.clear();
  for (auto* l : dead_listeners_) delete l;
  dead_listeners_.clear();
}

void loop_impl::run_tasks() {
  if (!wake_pending_.exchange(false, std::memory_order_acq_rel)) return;
  {
    std::lock_guard lock(task_mutex_);
    running_.swap(posted_);
  }
  for (auto& task : running_) {
    ++stats_.tasks_run;
    task();
  }
  running_.clear();
}

// ====================================================================== timers

std::int64_t loop_impl::next_timeout() const noexcept {
  if (heap_.empty()) return -1;
  return std::max<std::int64_t>(0, heap_.front()->deadline - now_);
}

namespace {
bool earlier(const timer_node* a, const timer_node* b) noexcept {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
}
}  // namespace

void loop_impl::heap_up(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!earlier(n, heap_[parent])) break;
    heap_[i] = heap_[parent];
    heap_[i]->index = static_cast<std::uint32_t>(i);
    i = parent;
  }
  heap_[i] = n;
  n->index = static_cast<std::uint32_t>(i);
}

void loop_impl::heap_down(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  const std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], n)) break;
    heap_[i] = heap_[child];
    heap_[i]->index = static_cast<std::uint32_t>(i);
    i = child;
  }
  heap_[i] = n;
  n->index = static_cast<std::uint32_t>(i);
}

void loop_impl::heap_remove(std::size_t i) noexcept {
  timer_node* removed = heap_[i];
  timer_node* last = heap_.back();
  heap_.pop_back();
  removed->index = timer_node::not_queued;
  if (removed == last) return;
  heap_[i] = last;
  last->index = static_cast<std::uint32_t>(i);
  if (i > 0 && earlier(last, heap_[(i - 1) / 2])) {
    heap_up(i);
  } else {
    heap_down(i);
  }
}

void loop_impl::schedule(timer_node& n, std::int64_t deadline) {
  n.deadline = deadline;
  n.sequence = ++timer_sequence_;
  if (n.queued()) {
    // A later sequence only matters among equal deadlines: moving up or down is enough.
    std::size_t i = n.index;
    if (i > 0 && earlier(&n, heap_[(i - 1) / 2])) {
      heap_up(i);
    } else {
      heap_down(i);
    }
    return;
  }
  heap_.push_back(&n);
  heap_up(heap_.size() - 1);
}

void loop_impl::cancel(timer_node& n) noexcept {
  if (n.queued()) heap_remove(n.index);
}

void loop_impl::run_timers() {
  // Timers scheduled by callbacks of this round wait for the next one, so a timer that
  // re-arms itself with no delay cannot hold the loop.
  const std::uint64_t limit = timer_sequence_;
  while (!heap_.empty()) {
    timer_node* n = heap_.front();
    if (n->deadline > now_ || n->sequence > limit) break;
    heap_remove(0);
    ++stats_.timers_fired;
    n->fire(n, *this);
  }
}

timer_id loop_impl::run_after(std::int64_t delay_ns, loop_task task) {
  update_now();  // the delay counts from this call, also before run() or late in an iteration
  auto* t = new user_timer;
  t->fire = &loop_impl::user_timer_fired;
  t->id = next_timer_id_++;
  t->task = std::move(task);
  user_timers_.emplace(t->id, t);
  schedule(*t, now_ + std::max<std::int64_t>(0, delay_ns));
  return t->id;
}

bool loop_impl::cancel_timer(timer_id id) noexcept {
  auto it = user_timers_.find(id);
  if (it == user_timers_.end()) return false;
  user_timer* t = it->second;
  user_timers_.erase(it);
  cancel(*t);
  delete t;
  return true;
}

void loop_impl::user_timer_fired(timer_node* n, loop_impl& loop) {
  auto* t = static_cast<user_timer*>(n);
  loop.user_timers_.erase(t->id);
  loop_task task = std::move(t->task);
  delete t;
  task();
}

// ====================================================================== connections

result<connection_ptr> loop_impl::open_connection(int fd, connection_handler& h, const connection_options& o,
                                                  bool tcp) {
  if (tcp && o.tcp_nodelay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  auto* c = new connection(*this, fd, h, o, tcp);
  c->last_read_ = c->last_write_ = now_;
  if (auto added = backend_->add_connection(*c); !added) {
    c->flags_ |= connection::f_closed;
    c->fd_ = -1;
    ::close(fd);
    connection_release(c);
    return added.error();
  }
  c->next_ = connections_;
  if (connections_ != nullptr) connections_->prev_ = c;
  connections_ = c;
  ++connection_count_;
  ++stats_.opened;
  std::uint32_t first = 0;
  for (std::uint32_t t : {c->idle_timeout_ms_, c->read_timeout_ms_}) {
    if (t != 0 && (first == 0 || t < first)) first = t;
  }
  if (first != 0) schedule(c->timer_, now_ + ms_to_ns(first));
  connection_ptr handle(c);
  h.on_open(*c);
  return handle;
}

void loop_impl::update_read_state(connection& c) {
  if (c.flags_ & connection::f_closed) return;
  const bool want = wants_read(c);
  const bool paused = (c.flags_ & connection::f_read_paused) != 0;
  if (want && paused) {
    c.flags_ &= ~connection::f_read_paused;
    c.last_read_ = now_;  // the read timeout counts from the resumption
    if (c.read_timeout_ms_ != 0) arm_connection_timer(c, now_ + ms_to_ns(c.read_timeout_ms_));
    backend_->read_state_changed(c);
  } else if (!want && !paused) {
    c.flags_ |= connection::f_read_paused;
    if (c.input_.size() >= c.max_input_) ++stats_.read_pauses;
    backend_->read_state_changed(c);
  }
}

void loop_impl::deliver(connection& c) {
  if (c.flags_ & (connection::f_closed | connection::f_closing | connection::f_abort)) {
    c.input_.clear();  // closing: nobody will read it
    return;
  }
  if (!c.input_.empty()) c.handler_->on_data(c);
  after_callback(c);
}

void loop_impl::after_callback(connection& c) {
  if (c.flags_ & connection::f_closed) return;
  c.input_.release();
  if (c.output_.pending() != 0) schedule_flush(c);
  update_read_state(c);
}

void loop_impl::peer_eof(connection& c) {
  if (c.flags_ & connection::f_closed) return;
  c.flags_ |= connection::f_peer_eof;
  update_read_state(c);
  if (c.flags_ & (connection::f_closing | connection::f_abort)) return;
  c.handler_->on_peer_shutdown(c);
  after_callback(c);
}

void loop_impl::teardown(connection& c, std::error_code reason) {
  if (c.flags_ & connection::f_closed) return;
  c.flags_ |= connection::f_closed | connection::f_read_paused;
  c.flags_ &= ~connection::f_drain_notify;
  cancel(c.timer_);
  backend_->close_connection(c);
  c.fd_ = -1;
  if (c.prev_ != nullptr) {
    c.prev_->next_ = c.next_;
  } else {
    connections_ = c.next_;
  }
  if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
  c.prev_ = c.next_ = nullptr;
  --connection_count_;
  ++stats_.closed;
  c.handler_->on_close(c, reason);
  c.input_.clear();
  // An io_uring send still in flight reads the output: it is cleared on its completion.
  if (!(c.flags_ & connection::f_send_armed)) c.output_.clear();
  graveyard_.push_back(&c);  // the loop's reference, dropped at the end of the iteration
}

void loop_impl::write_progress(connection& c, std::size_t n) noexcept {
  c.output_.skip(n);
  c.output_.release();
  stats_.bytes_written += n;
  c.last_write_ = now_;
}

file_send_result loop_impl::send_file_region(connection& c) {
  const link_buffer::file_span f = c.output_.front_file();
  if (f.file == nullptr) return file_send_result::would_block;  // not called so: memory comes first
  // One call takes at most what the kernel allows (0x7ffff000); a non-blocking socket
  // takes what fits in its send buffer.
  constexpr std::size_t max_chunk = 0x7ffff000;
  // sendfile has no MSG_NOSIGNAL: a peer that has gone would raise SIGPIPE. The loop
  // thread blocks SIGPIPE from its first sendfile until run() ends and takes back the
  // pending signal after each EPIPE (see mask_sigpipe / unmask_sigpipe).
  if (!sigpipe_masked_) mask_sigpipe();
  for (;;) {
    off_t offset = static_cast<off_t>(f.offset);
    const ssize_t n = ::sendfile(c.fd_, f.file->fd(), &offset, std::min(f.length, max_chunk));
    ++stats_.write_calls;
    if (n > 0) {
      write_progress(c, static_cast<std::size_t>(n));
      return file_send_result::progress;
    }
    if (n == 0) {
      // The file ends before the region does: it shrank (or was truncated) after the
      // region was queued. The peer has part of a message: close with an error.
      teardown(c, system_error_code(ENODATA));
      return file_send_result::failed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return file_send_result::would_block;
    const int err = errno;
    if (err == EPIPE) take_sigpipe();
    c.flags_ |= connection::f_peer_hup;
    teardown(c, system_error_code(err));
    return file_send_result::failed;
  }
}

namespace {
sigset_t sigpipe_set() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}
}  // namespace

void loop_impl::mask_sigpipe() noexcept {
  const sigset_t set = sigpipe_set();
  sigset_t old;
  if (::pthread_sigmask(SIG_BLOCK, &set, &old) != 0) return;
  sigpipe_masked_ = true;
  sigpipe_was_blocked_ = sigismember(&old, SIGPIPE) == 1;
}

// Consumes a SIGPIPE pending on this thread (raised by a sendfile to a closed peer).
void loop_impl::take_sigpipe() noexcept {
  const sigset_t set = sigpipe_set();
  sigset_t pending;
  if (::sigpending(&pending) != 0 || sigismember(&pending, SIGPIPE) != 1) return;
  const timespec zero{};
  while (::sigtimedwait(&set, nullptr, &zero) < 0 && errno == EINTR) {
  }
}

void loop_impl::unmask_sigpipe() noexcept {
  if (!sigpipe_masked_) return;
  sigpipe_masked_ = false;
  if (sigpipe_was_blocked_) return;
  take_sigpipe();  // never deliver one of ours when the mask comes back
  const sigset_t set = sigpipe_set();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void loop_impl::schedule_flush(connection& c) {
  if (c.flags_ & (connection::f_in_flush | connection::f_closed)) return;
  c.flags_ |= connection::f_in_flush;
  flush_list_.push_back(&c);
}

void loop_impl::flush_all() {
  flushing_ = true;
  while (!flush_list_.empty()) {
    flush_work_.swap(flush_list_);
    for (connection* c : flush_work_) {
      c->flags_ &= ~connection::f_in_flush;
      flush_one(*c);
    }
    flush_work_.clear();
  }
  flushing_ = false;
  // Drain checks asked for during this flush step (from on_write_drained, for instance)
  // run at the next one: a handler that re-asks from its callback cannot spin the loop.
  if (!drain_next_.empty()) {
    for (connection* c : drain_next_) {
      if (!(c->flags_ & connection::f_closed)) schedule_flush(*c);
      connection_release(c);
    }
    drain_next_.clear();
  }
}

void loop_impl::request_drain_check(connection& c) {
  if (!flushing_) {
    schedule_flush(c);
    return;
  }
  connection_add_ref(&c);
  drain_next_.push_back(&c);
}

void loop_impl::flush_one(connection& c) {
  if (c.flags_ & connection::f_closed) return;
  if (c.flags_ & connection::f_abort) {
    std::error_code reason = c.abort_category_ != nullptr ? std::error_code(c.abort_reason_, *c.abort_category_)
                                                          : make_error_code(errc::cancelled);
    teardown(c, reason);
    return;
  }
  c.output_.flush();
  if (!c.output_.empty()) {
    if (!(c.flags_ & (connection::f_write_blocked | connection::f_send_armed))) {
      c.last_write_ = now_;  // the write timeout counts from the first attempt
      if (c.write_timeout_ms_ != 0) arm_connection_timer(c, now_ + ms_to_ns(c.write_timeout_ms_));
    }
    backend_->flush(c);
    if (c.flags_ & connection::f_closed) return;
  }
  maybe_finish(c);
}

void loop_impl::maybe_finish(connection& c) {
  if (c.flags_ & connection::f_closed) return;
  if (!c.output_.empty() || c.output_.pending() != 0 || (c.flags_ & connection::f_send_armed)) return;
  if (c.flags_ & connection::f_drain_notify) {
    c.flags_ &= ~connection::f_drain_notify;
    c.handler_->on_write_drained(c);
    if ((c.flags_ & connection::f_closed) || !c.output_.empty() || c.output_.pending() != 0) return;
  }
  if (c.flags_ & connection::f_closing) {
    teardown(c, {});
    return;
  }
  if ((c.flags_ & connection::f_shutdown_wr) && !(c.flags_ & connection::f_shutdown_done)) {
    c.flags_ |= connection::f_shutdown_done;
    ::shutdown(c.fd_, SHUT_WR);
  }
}

void loop_impl::arm_connection_timer(connection& c, std::int64_t at_most) {
  if (c.flags_ & connection::f_closed) return;
  if (!c.timer_.queued() || c.timer_.deadline > at_most) schedule(c.timer_, at_most);
}

void loop_impl::connection_timer_fired(timer_node* n, loop_impl& loop) {
  connection& c = *KHZ_OWNER_OF(connection, timer_, n);
  if (c.flags_ & connection::f_closed) return;
  const std::int64_t now = loop.now_;
  std::int64_t next = INT64_MAX;
  bool expired = false;
  auto check = [&](std::int64_t deadline) {
    if (deadline <= now) {
      expired = true;
    } else {
      next = std::min(next, deadline);
    }
  };
  if (c.idle_timeout_ms_ != 0) check(std::max(c.last_read_, c.last_write_) + ms_to_ns(c.idle_timeout_ms_));
  if (c.read_timeout_ms_ != 0 && !(c.flags_ & connection::f_read_paused)) {
    check(c.last_read_ + ms_to_ns(c.read_timeout_ms_));
  }
  if (c.write_timeout_ms_ != 0 && (c.pending_output() != 0 || (c.flags_ & connection::f_send_armed))) {
    check(c.last_write_ + ms_to_ns(c.write_timeout_ms_));
  }
  if (expired) {
    loop.teardown(c, make_error_code(errc::timeout));
    return;
  }
  if (next != INT64_MAX) loop.schedule(c.timer_, next);
}

// ====================================================================== listeners

result<listener*> loop_impl::adopt_listener(int fd, connection_handler& h, const listen_options& o,
                                            std::vector<event_loop*> dispatch) {
  auto* l = new listener_state;
  l->impl = this;
  l->handler = &h;
  l->options = o;
  l->dispatch = std::move(dispatch);
  l->fd_ = fd;
  l->loop_ = owner_;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    l->local_ = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  l->tcp = l->local_.is_ip();
  l->unlink_path = l->local_.is_unix() && o.unlink_existing && !l->local_.path().empty() &&
                   l->local_.path()[0] != '@';
  l->backoff = std::max(o.accept_backoff_min, std::chrono::milliseconds(1));
  l->backoff_timer.fire = &loop_impl::backoff_fired;
  listeners_.push_back(l);
  if (auto added = backend_->add_listener(*l); !added) {
    listeners_.pop_back();
    ::close(fd);
    delete l;
    return added.error();
  }
  return static_cast<listener*>(l);
}

void loop_impl::on_accepted(listener_state& l, int fd) {
  ++l.accepted_;
  ++stats_.accepted;
  l.backoff = std::max(l.options.accept_backoff_min, std::chrono::milliseconds(1));
  event_loop* target = owner_;
  if (!l.dispatch.empty()) target = l.dispatch[l.next_target++ % l.dispatch.size()];
  if (target == owner_) {
    (void)open_connection(fd, *l.handler, l.options.connection, l.tcp);
    return;
  }
  target->post([target, fd = unique_fd(fd), h = l.handler, o = l.options.connection, tcp = l.tcp]() mutable {
    (void)target->impl().open_connection(fd.release(), *h, o, tcp);
  });
}

void loop_impl::accept_failed(listener_state& l, int) {
  ++stats_.accept_errors;
  if (l.closed) return;
  // Out of descriptors or memory (or anything else): back off, keep serving the others.
  l.backing_off = true;
  schedule(l.backoff_timer, now_ + std::chrono::duration_cast<std::chrono::nanoseconds>(l.backoff).count());
  l.backoff = std::min(l.backoff * 2, std::max(l.options.accept_backoff_max, l.options.accept_backoff_min));
}

void loop_impl::backoff_fired(timer_node* n, loop_impl& loop) {
  listener_state& l = *KHZ_OWNER_OF(listener_state, backoff_timer, n);
  l.backing_off = false;
  if (!l.closed) loop.backend_->resume_accept(l);
}

void loop_impl::close_listener(listener_state& l) noexcept {
  if (l.closed) return;
  l.closed = true;
  cancel(l.backoff_timer);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), &l), listeners_.end());
  if (l.unlink_path) ::unlink(l.local_.path().c_str());
  backend_->close_listener(l);
}

void loop_impl::listener_released(listener_state& l) noexcept { dead_listeners_.push_back(&l); }

// ====================================================================== dials

void loop_impl::dial(const address& to, connection_handler& h, dial_callback cb, const dial_options& o) {
  auto fail_later = [&](std::error_code ec) {
    post([cb = std::move(cb), ec]() mutable { cb(ec); });
  };
  if (to.empty()) return fail_later(make_error_code(errc::invalid_argument));
  int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_later(system_error_code(errno));
  // EINTR: the handshake continues in the background, like EINPROGRESS.
  int r = ::connect(fd, to.data(), to.size());
  if (r < 0 && errno != EINPROGRESS && errno != EINTR) {
    int err = errno;
    ::close(fd);
    return fail_later(system_error_code(err));
  }
  auto* d = new dial_state;
  d->impl = this;
  d->fd = fd;
  d->tcp = to.is_ip();
  d->handler = &h;
  d->callback = std::move(cb);
  d->options = o;
  d->timer.fire = &loop_impl::dial_timer_fired;
  d->next = dials_;
  if (dials_ != nullptr) dials_->prev = d;
  dials_ = d;
  if (o.timeout.count() > 0) {
    schedule(d->timer, now_ + std::chrono::duration_cast<std::chrono::nanoseconds>(o.timeout).count());
  }
  if (auto watched = backend_->watch_connect(*d); !watched) finish_dial(*d, watched.error());
}

void loop_impl::connect_ready(dial_state& d) {
  if (d.done) {
    maybe_free_dial(d);
    return;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(d.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  finish_dial(d, err != 0 ? system_error_code(err) : std::error_code{});
}

void loop_impl::finish_dial(dial_state& d, std::error_code ec) {
  if (d.done) return;
  d.done = true;
  cancel(d.timer);
  if (d.prev != nullptr) {
    d.prev->next = d.next;
  } else {
    dials_ = d.next;
  }
  if (d.next != nullptr) d.next->prev = d.prev;
  d.prev = d.next = nullptr;
  backend_->unwatch_connect(d);
  dial_callback cb = std::move(d.callback);
  int fd = std::exchange(d.fd, -1);
  connection_handler* h = d.handler;
  connection_options copts = d.options.connection;
  bool tcp = d.tcp;
  maybe_free_dial(d);
  if (ec) {
    backend_->close_fd(fd);
    cb(ec);
    return;
  }
  cb(open_connection(fd, *h, copts, tcp));
}

void loop_impl::maybe_free_dial(dial_state& d) noexcept {
  if (d.done && d.ops == 0) delete &d;
}

void loop_impl::dial_timer_fired(timer_node* n, loop_impl& loop) {
  loop.finish_dial(*KHZ_OWNER_OF(dial_state, timer, n), make_error_code(errc::timeout));
}

// ====================================================================== shutdown

void loop_impl::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  update_now();
  while (!listeners_.empty()) close_listener(*listeners_.back());
  while (dials_ != nullptr) finish_dial(*dials_, make_error_code(errc::cancelled));
  while (connections_ != nullptr) teardown(*connections_, make_error_code(errc::cancelled));
  flush_all();
  for (auto& [id, t] : user_timers_) {
    cancel(*t);
    delete t;
  }
  user_timers_.clear();
  backend_->drain();
  for (connection* c : graveyard_) connection_release(c);
  graveyard_.clear();
  for (auto* l : dead_listeners_) delete l;
  dead_listeners_.clear();
}

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail

// ====================================================================== event_loop

event_loop::event_loop(const loop_options& options) : impl_(std::make_unique<detail::loop_impl>(*this, options)) {}

event_loop::~event_loop() = default;

result<std::unique_ptr<event_loop>> event_loop::create(const loop_options& options) {
  try {
    return std::make_unique<event_loop>(options);
  } catch (const std::system_error& e) {
    return e.code();
  }
}

void event_loop::run() { impl_->run(); }
void event_loop::stop() noexcept { impl_->stop(); }
bool event_loop::stopped() const noexcept { return impl_->stopping(); }
bool event_loop::in_loop_thread() const noexcept { return impl_->in_loop_thread(); }

event_loop* event_loop::current() noexcept { return detail::tl_current_loop; }
void event_loop::post(loop_task task) { impl_->post(std::move(task)); }

void event_loop::dispatch(loop_task task) {
  if (impl_->in_loop_thread()) {
    task();
  } else {
    impl_->post(std::move(task));
  }
}

timer_id event_loop::run_after(std::chrono::nanoseconds delay, loop_task task) {
  return impl_->run_after(delay.count(), std::move(task));
}

bool event_loop::cancel_timer(timer_id id) noexcept { return impl_->cancel_timer(id); }

result<listener*> event_loop::listen(const address& addr, connection_handler& handler, const listen_options& options) {
  auto fd = open_listen_socket(addr, options);
  if (!fd) return fd.error();
  return impl_->adopt_listener(*fd, handler, options, {});
}

result<listener*> event_loop::adopt_listener(int fd, connection_handler& handler, const listen_options& options) {
  return impl_->adopt_listener(fd, handler, options, {});
}

void event_loop::dial(const address& to, connection_handler& handler, dial_callback done,
                      const dial_options& options) {
  impl_->dial(to, handler, std::move(done), options);
}

result<connection_ptr> event_loop::adopt(int fd, connection_handler& handler, const connection_options& options) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  bool tcp = ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
             (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return impl_->open_connection(fd, handler, options, tcp);
}

transport event_loop::kind() const noexcept { return impl_->kind(); }
const loop_stats& event_loop::stats() const noexcept { return impl_->stats(); }
std::size_t event_loop::connection_count() const noexcept { return impl_->connection_count(); }

std::chrono::steady_clock::time_point event_loop::now() const noexcept {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(impl_->now()));
}

void dialer::dial(const address& to, connection_handler& handler, dial_callback done) {
  loop_->dial(to, handler, std::move(done), options_);
}

void listener::close() noexcept {
  auto* self = static_cast<detail::listener_state*>(this);
  self->impl->close_listener(*self);
}

result<int> open_listen_socket(const address& addr, const listen_options& opts) {
  if (addr.empty()) return make_error_code(errc::invalid_argument);
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return system_error_code(errno);
  int one = 1;
  if (addr.is_ip()) {
    if (opts.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) goto fail;
    if (opts.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) goto fail;
  } else if (addr.is_unix() && opts.unlink_existing) {
    std::string path = addr.path();
    struct stat st {};
    if (!path.empty() && path[0] != '@' && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      ::unlink(path.c_str());
    }
  }
  if (::bind(fd, addr.data(), addr.size()) != 0) goto fail;
  if (::listen(fd, opts.backlog > 0 ? opts.backlog : SOMAXCONN) != 0) goto fail;
  return fd;
fail:
  int err = errno;
  ::close(fd);
  return system_error_code(err);
}

KHZ_END_NAMESPACE
