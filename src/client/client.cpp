// khz::client: pools, exchanges, retries, redirects, streams. See client.hpp.
//
// Shape. Everything a call touches lives on one loop: a client_loop_state per loop holds the
// pools (one per origin), the DNS cache, the deadline list (one timer for all the loop's
// calls) and a scratch request for serializing. A call's request, URL and response live
// in the frame of send(); the layers below take references and return error codes. A
// client_conn is the connection_handler of one pooled connection; while a request is in
// flight it points at that request's exchange, which the connection's callbacks drive
// (parse on data, fail on close) and which wakes the awaiting coroutine. Coroutines are
// resumed inline from the callbacks: the code after a resumption never touches an object
// the resumed coroutine may have destroyed (the exchange), and a client_conn is deleted
// only by its own on_close, the connection's last callback.

#include <khz/client/client.hpp>

#include <khz/core/worker_pool.hpp>
#include <khz/http/parser.hpp>
#include <khz/http/serializer.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

KHZ_BEGIN_NAMESPACE

namespace detail {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A point a coroutine waits at until something fires it; reusable.
struct signal_point {
  std::coroutine_handle<> waiter{};
  bool fired = false;

  void fire() {
    fired = true;
    if (waiter) std::exchange(waiter, {}).resume();
  }
  auto wait() {
    struct awaiter {
      signal_point& s;
      bool await_ready() const noexcept { return s.fired; }
      void await_suspend(std::coroutine_handle<> h) noexcept { s.waiter = h; }
      void await_resume() noexcept { s.fired = false; }
    };
    return awaiter{*this};
  }
};

std::error_code map_close_reason(std::error_code reason) {
  if (reason == errc::timeout) return errc::timeout;
  if (reason == errc::cancelled) return errc::cancelled;
  return client_errc::connection_reset;
}

bool is_redirect(unsigned s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

}  // namespace

struct client_conn;
struct client_host_pool;
struct client_loop_state;
struct client_exchange;
struct client_deadline_list;

// An exchange waiting under a deadline: a node of its loop's client_deadline_list.
// Unlinks itself when destroyed.
struct client_deadline {
  clock::time_point at{};
  client_exchange* ex = nullptr;
  client_deadline_list* list = nullptr;  // set while linked
  client_deadline* prev = nullptr;
  client_deadline* next = nullptr;

  client_deadline() = default;
  client_deadline(const client_deadline&) = delete;
  client_deadline& operator=(const client_deadline&) = delete;
  ~client_deadline();
};

// The deadlines of one loop's exchanges, in one list sorted by time, under one loop timer
// armed for the earliest. Calls mostly share the client's deadline, so a new one goes at
// the tail (O(1)) and a finished one unlinks (O(1)): no timer is set or cancelled per
// request. The timer is not cancelled when its entry leaves early; when it fires it
// expires what is due and re-arms for the new head.
struct client_deadline_list {
  event_loop* loop = nullptr;
  client_deadline* head = nullptr;
  client_deadline* tail = nullptr;
  timer_id timer = 0;
  clock::time_point timer_at = clock::time_point::max();
  // The timer's way back to the list; nulled when the list dies (a timer may still be
  // pending on an attached loop that outlives the client).
  std::shared_ptr<client_deadline_list*> token = std::make_shared<client_deadline_list*>(this);

  client_deadline_list() = default;
  client_deadline_list(const client_deadline_list&) = delete;
  client_deadline_list& operator=(const client_deadline_list&) = delete;
  ~client_deadline_list() { *token = nullptr; }

  void add(client_deadline& d);
  void remove(client_deadline& d) noexcept;
  void arm(clock::time_point at);
  void expire();
};

// One request/response exchange on one connection.
struct client_exchange {
  enum class phase : std::uint8_t { head, body, stream_body, done };
  client_conn* cc = nullptr;
  response* res = nullptr;
  bool stream_mode = false;
  phase ph = phase::head;
  bool complete = false;   // the response is whole (or its head, in stream mode)
  bool got_bytes = false;  // a response byte arrived
  bool peer_eof = false;   // stream mode: the server sent FIN
  std::error_code err;
  signal_point sig;
  client_deadline deadline;

  void on_input();
  void on_eof();
  void on_drained() { sig.fire(); }
  void on_closed(std::error_code reason) {
    cc = nullptr;
    if (!complete && !err) err = map_close_reason(reason);
    if (ph == phase::stream_body && !err && !peer_eof) err = map_close_reason(reason);
    sig.fire();
  }
  void fail(std::error_code ec);
};

struct client_pool_waiter {
  signal_point sig;
  client_conn* cc = nullptr;  // an idle connection handed over
  bool slot = false;          // or a slot to dial in (already counted)
  bool timed_out = false;
};

struct client_host_pool {
  std::string key;  // "scheme://host:port"
  std::string scheme;
  std::string host;
  std::uint16_t port = 0;
  std::string host_header;  // the Host field value for this origin
  std::vector<client_conn*> idle;  // most recently used last
  std::size_t total = 0;           // open + dialing
  std::deque<client_pool_waiter*> waiters;
};

struct client_conn final : connection_handler {
  client_loop_state* ls = nullptr;
  client_host_pool* pool = nullptr;
  connection_ptr conn;
  response_parser parser;
  client_exchange* ex = nullptr;
  clock::time_point created{};
  bool idle = false;

  explicit client_conn(const http_limits& limits) : parser(limits) {}

  void on_data(connection& c) override;
  void on_peer_shutdown(connection& c) override {
    if (ex != nullptr) {
      ex->on_eof();
    } else {
      c.close();
    }
  }
  void on_write_drained(connection&) override {
    if (ex != nullptr) ex->on_drained();
  }
  void on_close(connection& c, std::error_code reason) override;
};

struct client_dns_entry {
  std::vector<address> addresses;
  clock::time_point expires{};
};

struct client_loop_state {
  client_impl* owner = nullptr;
  event_loop* loop = nullptr;
  std::unordered_map<std::string, std::unique_ptr<client_host_pool>> pools;
  std::unordered_map<std::string, client_dns_entry> dns;
  client_host_pool* last_pool = nullptr;  // one-entry cache: most calls go to one origin
  request scratch;                 // serializing (synchronous: one at a time)
  std::string key_scratch;
  client_deadline_list deadlines;
  // One-entry cache of parse_url: most calls name the same URL again.
  std::string last_target;
  std::optional<url> last_url;
  std::mt19937_64 rng{std::random_device{}()};
  client_pool_stats stats;

  client_host_pool& pool_for(const url& u);
  void release(client_conn* cc, bool reusable);
  void slot_freed(client_host_pool& p);
  void drain();
};

struct client_stream_state {
  client_exchange ex;
  client_conn* cc() const noexcept { return ex.cc; }
  bool finished = false;  // the body ended with the last piece returned
  bool keep = true;       // the request allowed keep-alive
};

struct client_impl {
  client* self = nullptr;
  const client_options* options = nullptr;
  http_limits limits;
  std::uint64_t serial = 0;
  handler_chain<client_context> chain;  // middleware + terminal (empty: no middleware)
  std::unique_ptr<event_loop> own;
  std::thread own_thread;
  client_loop_state* own_state = nullptr;
  std::mutex mutex;  // guards `states` (attach, first lookup on a thread)
  std::vector<std::unique_ptr<client_loop_state>> states;
  std::unique_ptr<worker_pool> resolver;

  client_loop_state& current();
  // Whether the calling thread runs s's loop. The own loop is told by its thread id: its
  // in_loop_thread() is also true on the constructing thread until run() starts.
  bool on_loop(const client_loop_state& s) const {
    return &s == own_state ? std::this_thread::get_id() == own_thread.get_id() : s.loop->in_loop_thread();
  }
  client_loop_state& state_for(event_loop& loop);

  task<result<address>> resolve(client_loop_state& ls, const url& u, clock::time_point deadline);
  // The layers of a call fill the caller's `out` (the call's one response object, or the
  // stream's head in stream mode) and return only an error code: the response is never
  // moved from layer to layer, and their frames stay small (pooled).
  task<std::error_code> perform(client_loop_state& ls, request& req, const url& first, const send_options& o,
                                response& out, response_stream* stream);
  task<std::error_code> with_retries(client_loop_state& ls, request& req, const url& u, const body_source& body,
                                     const send_options& o, clock::time_point deadline, response& out,
                                     response_stream* stream);
  task<std::error_code> attempt(client_loop_state& ls, request& req, const url& u, const body_source& body,
                                clock::time_point deadline, response& out, response_stream* stream, bool& stale);
  // A live idle connection of the pool, or null (no syscall: is_active() is a flag).
  client_conn* take_idle(client_loop_state& ls, client_host_pool& pool);
  task<result<client_conn*>> acquire(client_loop_state& ls, client_host_pool& pool, const url& u, clock::time_point deadline,
                                     bool& reused);
  task<std::error_code> write_body(client_conn* cc, client_exchange& ex, const body_source& body);
  task<> sleep(client_loop_state& ls, clock::duration d);
  static task<> terminal(client_impl* im, client_context& c);
  // The URL of req.target() into `u` (from the loop's one-entry cache when it is the
  // previous call's), or invalid_argument.
  static std::error_code target_url(client_loop_state& ls, const request& req, url& u);
  task<std::error_code> run_chain(client_loop_state& ls, request& req, url u, send_options& o, response& out,
                                  response_stream* stream);
};

// ====================================================================== deadlines

client_deadline::~client_deadline() {
  if (list != nullptr) list->remove(*this);
}

void client_deadline_list::add(client_deadline& d) {
  // From the tail back to the first entry not later than d (usually the tail itself).
  client_deadline* after = tail;
  while (after != nullptr && after->at > d.at) after = after->prev;
  d.list = this;
  d.prev = after;
  d.next = after != nullptr ? after->next : head;
  if (d.next != nullptr) {
    d.next->prev = &d;
  } else {
    tail = &d;
  }
  if (after != nullptr) {
    after->next = &d;
  } else {
    head = &d;
  }
  if (timer == 0 || d.at < timer_at) arm(d.at);
}

void client_deadline_list::remove(client_deadline& d) noexcept {
  if (d.list != this) return;
  (d.prev != nullptr ? d.prev->next : head) = d.next;
  (d.next != nullptr ? d.next->prev : tail) = d.prev;
  d.prev = d.next = nullptr;
  d.list = nullptr;
}

void client_deadline_list::arm(clock::time_point at) {
  if (timer != 0) loop->cancel_timer(timer);
  timer_at = at;
  auto delay = std::max<clock::duration>(at - clock::now(), clock::duration::zero());
  timer = loop->run_after(delay, [t = token] {
    if (*t != nullptr) (*t)->expire();
  });
}

void client_deadline_list::expire() {
  timer = 0;
  timer_at = clock::time_point::max();
  const auto now = clock::now();
  while (head != nullptr && head->at <= now) {
    client_deadline* d = head;
    remove(*d);
    d->ex->fail(errc::timeout);  // resumes the call inline; it may add or remove entries
  }
  if (head != nullptr && timer == 0) arm(head->at);
}

// ====================================================================== client_exchange

void client_exchange::fail(std::error_code ec) {
  if (!err) err = ec;
  if (cc != nullptr) {
    client_conn* c = std::exchange(cc, nullptr);
    c->ex = nullptr;
    c->conn->abort(ec);
  }
  sig.fire();
}

void client_exchange::on_input() {
  connection& c = *cc->conn;
  if (!c.input().empty()) got_bytes = true;
  if (ph == phase::stream_body) {
    sig.fire();  // the reader parses
    return;
  }
  for (;;) {
    switch (cc->parser.parse(c.input(), *res)) {
      case parse_status::need_more: return;
      case parse_status::headers_complete:
        if (stream_mode) {
          ph = phase::stream_body;
          complete = true;
          sig.fire();
          return;
        }
        ph = phase::body;
        continue;
      case parse_status::message_complete:
        if (res->is_interim()) continue;  // 100, 103...: the final response follows
        ph = phase::done;
        complete = true;
        sig.fire();
        return;
      case parse_status::closed: fail(client_errc::connection_reset); return;
      case parse_status::error: fail(cc->parser.error().code()); return;
    }
  }
}

void client_exchange::on_eof() {
  if (ph == phase::stream_body) {
    peer_eof = true;
    sig.fire();
    return;
  }
  // A body delimited by the close completes here; anything else was cut short.
  if (cc->parser.eof() == parse_status::message_complete && !res->is_interim()) {
    ph = phase::done;
    complete = true;
    client_conn* c = cc;
    c->conn->close();
    sig.fire();
    return;
  }
  fail(client_errc::connection_reset);
}

// ====================================================================== client_conn

void client_conn::on_data(connection& c) {
  if (ex != nullptr) {
    ex->on_input();
    return;
  }
  // Bytes nobody asked for on an idle pooled connection: it cannot be trusted any more.
  ++ls->stats.discarded;
  c.abort(make_error_code(errc::protocol_error));
}

void client_conn::on_close(connection&, std::error_code reason) {
  if (idle) {
    auto& v = pool->idle;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
    idle = false;
  }
  client_exchange* e = std::exchange(ex, nullptr);
  conn.reset();
  --pool->total;
  ls->slot_freed(*pool);
  if (e != nullptr) e->on_closed(reason);
  delete this;
}

// ====================================================================== client_loop_state

client_host_pool& client_loop_state::pool_for(const url& u) {
  if (last_pool != nullptr && last_pool->port == u.port && last_pool->host == u.host && last_pool->scheme == u.scheme) {
    return *last_pool;
  }
  key_scratch.clear();
  key_scratch += u.scheme;
  key_scratch += "://";
  key_scratch += u.host;
  key_scratch += ':';
  key_scratch += std::to_string(u.port);
  auto& slot = pools[key_scratch];
  if (!slot) {
    slot = std::make_unique<client_host_pool>();
    slot->key = key_scratch;
    slot->scheme = u.scheme;
    slot->host = u.host;
    slot->port = u.port;
    slot->host_header = u.host_header();
  }
  last_pool = slot.get();
  return *slot;
}

void client_loop_state::slot_freed(client_host_pool& p) {
  if (p.waiters.empty()) return;
  client_pool_waiter* w = p.waiters.front();
  p.waiters.pop_front();
  ++p.total;
  w->slot = true;
  w->sig.fire();
}

void client_loop_state::release(client_conn* cc, bool reusable) {
  cc->ex = nullptr;
  connection& c = *cc->conn;
  const client_options& o = *owner->options;
  if (reusable && o.max_lifetime.count() > 0 && clock::now() - cc->created >= o.max_lifetime) reusable = false;
  if (!reusable || !c.is_active() || !c.input().empty()) {
    if (reusable) ++stats.discarded;  // dead already, or bytes nobody asked for
    c.close();  // on_close does the accounting
    return;
  }
  client_host_pool& p = *cc->pool;
  if (!p.waiters.empty()) {
    client_pool_waiter* w = p.waiters.front();
    p.waiters.pop_front();
    w->cc = cc;
    w->sig.fire();
    return;
  }
  c.set_read_timeout(milliseconds(0));
  c.set_idle_timeout(o.max_idle_time);  // idle expiry: the loop closes it, on_close unpools it
  cc->idle = true;
  p.idle.push_back(cc);
}

void client_loop_state::drain() {
  for (auto& [key, p] : pools) {
    std::vector<client_conn*> idle = p->idle;
    for (client_conn* cc : idle) cc->conn->close();
  }
}

// ====================================================================== lookup

client_loop_state& client_impl::state_for(event_loop& loop) {
  std::lock_guard lock(mutex);
  for (auto& s : states)
    if (s->loop == &loop) return *s;
  auto s = std::make_unique<client_loop_state>();
  s->owner = this;
  s->loop = &loop;
  s->deadlines.loop = &loop;
  states.push_back(std::move(s));
  return *states.back();
}

namespace {
struct tl_entry {
  std::uint64_t serial = 0;
  client_loop_state* state = nullptr;
};
thread_local tl_entry tl_cache[4];
std::atomic<std::uint64_t> next_serial{1};
}  // namespace

client_loop_state& client_impl::current() {
  for (auto& e : tl_cache)
    if (e.serial == serial) return *e.state;
  client_loop_state* found = nullptr;
  {
    std::lock_guard lock(mutex);
    for (auto& s : states) {
      if (on_loop(*s)) {
        found = s.get();
        break;
      }
    }
  }
  if (found == nullptr) {
    // A loop running on this thread that the client has not seen yet: attach it.
    if (event_loop* running = event_loop::current()) {
      found = &state_for(*running);
    } else {
      throw std::logic_error(
          "khz::client: a coroutine call was made on a thread that runs no event loop: make coroutine calls "
          "from a loop thread (a server handler, a task posted to a loop), or use the blocking fetch()/run()");
    }
  }
  // Evict the oldest entry.
  for (std::size_t i = std::size(tl_cache) - 1; i > 0; --i) tl_cache[i] = tl_cache[i - 1];
  tl_cache[0] = {serial, found};
  return *found;
}

// ====================================================================== waiting

task<> client_impl::sleep(client_loop_state& ls, clock::duration d) {
  signal_point s;
  ls.loop->run_after(d, [&s] { s.fire(); });
  co_await s.wait();
}

// ====================================================================== dns

namespace {
struct resolve_op {
  signal_point sig;
  std::vector<address> addresses;
  std::error_code err;
};
}  // namespace

task<result<address>> client_impl::resolve(client_loop_state& ls, const url& u, clock::time_point deadline) {
  (void)deadline;
  // Numeric hosts need no resolver.
  std::string text = u.ipv6_literal ? "[" + u.host + "]:" + std::to_string(u.port) : u.host + ":" + std::to_string(u.port);
  if (auto a = address::parse(text)) co_return *a;
  auto now = clock::now();
  auto it = ls.dns.find(u.host);
  if (it != ls.dns.end() && it->second.expires > now && !it->second.addresses.empty()) {
    co_return it->second.addresses.front().with_port(u.port);
  }
  resolve_op op;
  event_loop* loop = ls.loop;
  std::string host = u.host;
  bool queued = resolver->submit([&op, loop, host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::vector<address> found;
    std::error_code err;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      err = make_error_code(errc::dns);
    } else {
      for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        address a = address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (!a.empty()) found.push_back(a);
      }
      ::freeaddrinfo(res);
      if (found.empty()) err = make_error_code(errc::dns);
    }
    loop->post([&op, found = std::move(found), err]() mutable {
      op.addresses = std::move(found);
      op.err = err;
      op.sig.fire();
    });
  });
  if (!queued) co_return errc::cancelled;
  co_await op.sig.wait();
  if (op.err) co_return op.err;
  ls.dns[u.host] = client_dns_entry{op.addresses, clock::now() + options->dns_ttl};
  co_return op.addresses.front().with_port(u.port);
}

// ====================================================================== acquire

client_conn* client_impl::take_idle(client_loop_state& ls, client_host_pool& pool) {
  while (!pool.idle.empty()) {
    client_conn* cc = pool.idle.back();
    pool.idle.pop_back();
    cc->idle = false;
    connection& c = *cc->conn;
    const bool too_old = options->max_lifetime.count() > 0 && clock::now() - cc->created >= options->max_lifetime;
    if (!c.is_active() || !c.input().empty() || too_old) {
      ++ls.stats.discarded;
      c.abort(make_error_code(errc::closed));
      continue;
    }
    return cc;
  }
  return nullptr;
}

namespace {
struct dial_op {
  signal_point sig;
  result<connection_ptr> out{errc::cancelled};
};
}  // namespace

task<result<client_conn*>> client_impl::acquire(client_loop_state& ls, client_host_pool& pool, const url& u,
                                                clock::time_point deadline, bool& reused) {
  reused = false;
  if (client_conn* cc = take_idle(ls, pool)) {
    reused = true;
    co_return cc;
  }
  auto remaining = [&]() -> clock::duration {
    return deadline == clock::time_point::max() ? clock::duration::max() : deadline - clock::now();
  };
  if (pool.total >= options->max_conns_per_host) {
    client_pool_waiter w;
    pool.waiters.push_back(&w);
    auto wait = std::min<clock::duration>(options->pool_wait_timeout, remaining());
    if (wait < clock::duration::zero()) wait = clock::duration::zero();
    timer_id t = ls.loop->run_after(wait, [&w, &pool] {
      pool.waiters.erase(std::find(pool.waiters.begin(), pool.waiters.end(), &w));
      w.timed_out = true;
      w.sig.fire();
    });
    co_await w.sig.wait();
    if (!w.timed_out) ls.loop->cancel_timer(t);
    if (w.timed_out) co_return deadline != clock::time_point::max() && clock::now() >= deadline
                         ? make_error_code(errc::timeout)
                         : make_error_code(errc::pool_full);
    if (w.cc != nullptr) {
      reused = true;
      co_return w.cc;
    }
    // w.slot: a slot was counted for us; dial below without counting again.
  } else {
    ++pool.total;
  }
  // Dial (the slot is counted in pool.total; give it back on failure).
  auto give_back = [&] {
    --pool.total;
    ls.slot_freed(pool);
  };
  auto addr = co_await resolve(ls, u, deadline);
  if (!addr) {
    give_back();
    co_return addr.error();
  }
  auto left = remaining();
  if (left <= clock::duration::zero()) {
    give_back();
    co_return errc::timeout;
  }
  auto* cc = new client_conn(limits);
  cc->ls = &ls;
  cc->pool = &pool;
  dial_options dopts;
  dopts.timeout = std::chrono::duration_cast<milliseconds>(std::min<clock::duration>(options->dial_timeout, left));
  if (dopts.timeout.count() <= 0) dopts.timeout = milliseconds(1);
  dopts.connection.max_input_bytes = options->max_input_bytes;
  dopts.connection.write_timeout = options->write_timeout;
  dopts.connection.read_timeout = milliseconds(0);
  dial_op op;
  ls.loop->dial(*addr, *cc, [&op](result<connection_ptr> r) {
    op.out = std::move(r);
    op.sig.fire();
  }, dopts);
  co_await op.sig.wait();
  if (!op.out) {
    delete cc;
    give_back();
    std::error_code ec = op.out.error();
    if (ec == errc::timeout) {
      co_return deadline != clock::time_point::max() && clock::now() >= deadline ? make_error_code(errc::timeout)
                                                                                 : make_error_code(client_errc::connect_failed);
    }
    if (ec == errc::cancelled) co_return ec;
    co_return make_error_code(client_errc::connect_failed);
  }
  ++ls.stats.dialed;
  cc->conn = std::move(*op.out);
  cc->created = clock::now();
  co_return cc;
}

// ====================================================================== writing

namespace {
constexpr std::size_t write_high_water = 256 * 1024;
constexpr std::size_t file_piece = 64 * 1024;
}  // namespace

// Writes a file or producer body after the head, waiting for the socket when the output
// passes the high-water mark. Returns an error when the client_exchange failed meanwhile or the
// source failed; stops early (no error) when the response completed first.
task<std::error_code> client_impl::write_body(client_conn* cc, client_exchange& ex, const body_source& body) {
  // Waits until the output is below the high-water mark. on_write_drained (which fires
  // the same signal) only comes when a write had to wait for the socket; when the loop's
  // own end-of-iteration flush empties the output, nothing says so. So a timer re-checks
  // too, backing off from 0 to 16 ms (net offers no "notify when drained" for that case).
  event_loop& loop = cc->conn->loop();
  auto alive = [&] { return ex.cc != nullptr && !ex.err && !ex.complete; };
  auto wait_drain = [&]() -> task<bool> {
    std::chrono::nanoseconds delay{0};
    while (alive() && ex.cc->conn->pending_output() > write_high_water) {
      timer_id t = loop.run_after(delay, [&ex] { ex.sig.fire(); });
      co_await ex.sig.wait();
      loop.cancel_timer(t);
      delay = delay.count() == 0 ? std::chrono::nanoseconds(std::chrono::milliseconds(1))
                                 : std::min<std::chrono::nanoseconds>(delay * 2, std::chrono::milliseconds(16));
    }
    co_return alive();
  };
  if (body.type() == body_source::kind::file) {
    int fd = ::open(body.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) co_return system_error_code(errno);
    struct stat st{};
    ::fstat(fd, &st);
    std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
    std::error_code err;
    while (left > 0) {
      if (!co_await wait_drain()) break;
      link_buffer& out = ex.cc->conn->output();
      auto span = out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(left, file_piece)));
      ssize_t n = ::read(fd, span.data(), std::min<std::size_t>(span.size(), static_cast<std::size_t>(left)));
      if (n <= 0) {
        err = n < 0 ? system_error_code(errno) : make_error_code(errc::protocol_error);
        break;
      }
      out.commit(static_cast<std::size_t>(n));
      out.flush();
      (void)ex.cc->conn->flush();
      left -= static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    co_return err;
  }
  // producer: chunked
  link_buffer piece;
  for (bool more = true; more;) {
    if (!co_await wait_drain()) co_return std::error_code{};
    piece.clear();
    more = co_await body.produce()(piece);
    if (ex.cc == nullptr || ex.err || ex.complete) co_return std::error_code{};
    piece.flush();
    link_buffer& out = ex.cc->conn->output();
    if (!piece.empty()) write_chunk(out, std::move(piece));
    if (!more) write_last_chunk(out);
    out.flush();
    (void)ex.cc->conn->flush();
  }
  co_return std::error_code{};
}

// ====================================================================== one attempt

task<std::error_code> client_impl::attempt(client_loop_state& ls, request& req, const url& u, const body_source& body,
                                           clock::time_point deadline, response& out, response_stream* stream,
                                           bool& stale) {
  stale = false;
  if (u.is_https()) co_return make_error_code(errc::not_supported);
  client_host_pool& pool = ls.pool_for(u);
  bool reused = true;
  client_conn* cc = take_idle(ls, pool);  // the common case, without a coroutine frame
  if (cc == nullptr) {
    auto got = co_await acquire(ls, pool, u, deadline, reused);
    if (!got) co_return got.error();
    cc = *got;
  }
  if (reused) ++ls.stats.reused;
  connection& c = *cc->conn;
  c.set_idle_timeout(milliseconds(0));
  c.set_read_timeout(options->read_timeout);

  std::unique_ptr<client_stream_state> sst;
  client_exchange local;
  client_exchange* ex = &local;
  if (stream != nullptr) {
    sst = std::make_unique<client_stream_state>();
    ex = &sst->ex;
    ex->stream_mode = true;
    if (!stream->head_) stream->head_ = std::make_unique<response>();  // moved from by a retry
    ex->res = stream->head_.get();
    stream->head_->clear();
  } else {
    out.clear();
    ex->res = &out;
  }
  ex->cc = cc;
  cc->ex = ex;
  cc->parser.reset();
  cc->parser.set_request_method(req.method());

  // Serialize the head (and a memory body) with the loop's scratch request.
  request& w = ls.scratch;
  w.clear();
  w.set_method(req.method_name());
  w.set_target(u.target);
  w.set_version(req.version());
  const client_options& o = *options;
  for (const header_field& f : req.headers()) {
    if (f.id == known_field::content_length || f.id == known_field::transfer_encoding) continue;
    w.headers().add_view(f.name, f.value);
  }
  if (!w.headers().contains(known_field::host)) w.headers().add_view("Host", pool.host_header);
  if (!o.user_agent.empty() && !w.headers().contains("User-Agent")) {
    w.headers().add_view("User-Agent", o.user_agent);
  }
  for (const auto& [name, value] : o.default_headers)
    if (!w.headers().contains(name)) w.headers().add_view(name, value);
  const bool keep = o.keep_alive && !req.connection_has("close");
  w.set_keep_alive(keep);
  if (!keep && !w.headers().contains(known_field::connection)) w.headers().add_view("Connection", "close");
  std::optional<std::uint64_t> length;
  const method m = req.method();
  switch (body.type()) {
    case body_source::kind::none:
      if (m == method::post || m == method::put || m == method::patch) length = 0;
      break;
    case body_source::kind::bytes: length = body.data().size(); break;
    case body_source::kind::file: {
      struct stat st{};
      if (::stat(body.path().c_str(), &st) != 0) {
        std::error_code ec = system_error_code(errno);
        ex->fail(ec);
        co_return ec;
      }
      length = static_cast<std::uint64_t>(st.st_size);
      break;
    }
    case body_source::kind::producer: w.set_chunked(true); break;
  }
  link_buffer& wire = c.output();
  if (auto r = write_request_head(wire, w, length); !r) {
    ex->fail(r.error());
    co_return r.error();
  }
  if (body.type() == body_source::kind::bytes && !body.data().empty()) wire.append(body.data());
  wire.flush();
  (void)c.flush();

  // The deadline covers what is left of the call.
  if (deadline != clock::time_point::max()) {
    ex->deadline.at = deadline;
    ex->deadline.ex = ex;
    ls.deadlines.add(ex->deadline);
  }
  std::error_code body_err;
  if (body.type() == body_source::kind::file || body.type() == body_source::kind::producer) {
    body_err = co_await write_body(cc, *ex, body);
    if (body_err && !ex->err) ex->fail(body_err);
  }
  while (!ex->complete && !ex->err) co_await ex->sig.wait();
  ls.deadlines.remove(ex->deadline);
  if (ex->err) {
    stale = reused && !ex->got_bytes && ex->err != errc::timeout;
    ex->fail(ex->err);  // detaches and closes if still attached
    co_return ex->err;
  }
  if (stream != nullptr) {
    sst->keep = keep;
    stream->state_ = sst.release();
    co_return std::error_code{};  // the head is in the stream
  }
  // Whole response: the connection goes back to the pool when it may carry another one.
  client_conn* done = ex->cc;
  ex->cc = nullptr;
  if (done != nullptr) {
    const bool reusable = keep && out.keep_alive() && done->parser.idle();
    ls.release(done, reusable);
  }
  co_return std::error_code{};
}

// ====================================================================== retries

task<std::error_code> client_impl::with_retries(client_loop_state& ls, request& req, const url& u,
                                                const body_source& body, const send_options& o,
                                                clock::time_point deadline, response& out, response_stream* stream) {
  const retry_policy& rp = options->retry;
  const bool idempotent = o.idempotent.value_or(is_idempotent(req.method()));
  bool body_sent_once = false;
  bool stale_retried = false;
  clock::duration delay = rp.delay;
  for (unsigned attempt_no = 1;; ++attempt_no) {
    if (body_sent_once && !body.replayable()) co_return make_error_code(client_errc::body_not_replayable);
    bool stale = false;
    std::error_code ec = co_await attempt(ls, req, u, body, deadline, out, stream, stale);
    body_sent_once = true;
    const bool can_replay = idempotent && body.replayable();
    if (ec && stale && !stale_retried && can_replay) {
      // The pooled connection died under us before any response byte: the request may
      // never have reached the server. Once, on a fresh connection; not an attempt.
      stale_retried = true;
      ++ls.stats.stale_retries;
      --attempt_no;
      continue;
    }
    if (attempt_no >= rp.max_attempts || !can_replay) co_return ec;
    bool again;
    if (rp.retry_if) {
      // The policy sees the outcome as the caller would (stream mode: an empty response;
      // the head is in the stream).
      result<response> r = ec ? result<response>(ec) : result<response>(std::move(out));
      again = rp.retry_if(req, r);
      if (r) out = std::move(*r);
    } else {
      again = ec && (ec == client_errc::connect_failed || ec == client_errc::connection_reset || ec == errc::dns ||
                     (ec == errc::timeout && clock::now() < deadline));
    }
    if (!again) co_return ec;
    if (stream != nullptr && stream->state_ != nullptr) {
      response_stream drop(std::move(*stream));  // closes the connection of the refused head
    }
    clock::duration wait = delay;
    if (rp.backoff == backoff_kind::exponential) delay = std::min<clock::duration>(delay * 2, rp.max_delay);
    if (rp.jitter && wait > clock::duration::zero()) {
      std::uniform_int_distribution<clock::rep> d(wait.count() / 2, wait.count());
      wait = clock::duration(d(ls.rng));
    }
    if (deadline != clock::time_point::max() && clock::now() + wait >= deadline) co_return ec;
    co_await sleep(ls, wait);
  }
}

// ====================================================================== redirects

task<std::error_code> client_impl::perform(client_loop_state& ls, request& req, const url& first,
                                           const send_options& o, response& out, response_stream* stream) {
  const auto dl = o.deadline.value_or(options->deadline);
  const clock::time_point deadline = dl.count() > 0 ? clock::now() + dl : clock::time_point::max();
  const unsigned max_redirects = o.max_redirects.value_or(options->redirect.max_redirects);
  // The body to send: the call's own (no copy) until a redirect changes it.
  const body_source* body = &o.body;
  body_source changed;
  if (body->empty() && !req.body().empty()) {
    req.body().flush();
    std::string copy(req.body().size(), '\0');
    req.body().copy_to(copy);
    changed = body_source::bytes(copy);
    body = &changed;
  }
  const url* u = &first;
  std::optional<url> moved;  // the current URL once redirected
  std::vector<std::string> visited;
  for (unsigned redirects = 0;; ++redirects) {
    std::error_code ec = co_await with_retries(ls, req, *u, *body, o, deadline, out, stream);
    if (ec) co_return ec;
    const response& head = stream != nullptr ? *stream->head_ : out;
    const unsigned status = head.status_code();
    if (max_redirects == 0 || !is_redirect(status)) co_return ec;
    std::string_view location = head.headers().get("Location");
    if (location.empty()) co_return ec;
    auto next = resolve_url(*u, location);
    if (!next) co_return ec;  // an unusable Location: the 3xx is the answer
    if (redirects >= max_redirects) co_return make_error_code(client_errc::too_many_redirects);
    if (visited.empty()) visited.push_back(std::string(req.method_name()) + " " + u->to_string());
    if (stream != nullptr) {
      response_stream drop(std::move(*stream));  // the 3xx body is not wanted
    }
    if (status == 301 || status == 302 || status == 303) {
      if (req.method() != method::head) {
        req.set_method(method::get);
        changed = body_source{};
        body = &changed;
        req.headers().erase("Content-Type");
      }
    } else if (!body->replayable()) {
      co_return make_error_code(client_errc::body_not_replayable);
    }
    if (next->host != u->host || next->port != u->port || next->scheme != u->scheme) {
      req.headers().erase("Authorization");
      req.headers().erase("Cookie");
      req.headers().erase("Host");
    }
    std::string key = std::string(req.method_name()) + " " + next->to_string();
    if (std::find(visited.begin(), visited.end(), key) != visited.end()) co_return make_error_code(client_errc::redirect_loop);
    visited.push_back(std::move(key));
    moved = std::move(*next);
    u = &*moved;
  }
}

// ====================================================================== chain

std::error_code client_impl::target_url(client_loop_state& ls, const request& req, url& u) {
  if (ls.last_url && req.target() == ls.last_target) {
    u = *ls.last_url;  // the URL of the previous call again: no parse
    return {};
  }
  auto parsed = parse_url(req.target());
  if (!parsed) return parsed.error();
  ls.last_target = req.target();
  ls.last_url = *parsed;
  u = std::move(*parsed);
  return {};
}

task<std::error_code> client_impl::run_chain(client_loop_state& ls, request& req, url u, send_options& o,
                                              response& out, response_stream* stream) {
  if (chain.empty()) co_return co_await perform(ls, req, u, o, out, stream);
  client_context ctx;
  ctx.req_ = std::move(req);
  ctx.url_ = std::move(u);
  ctx.opts_ = std::move(o);
  ctx.loop_ = ls.loop;
  ctx.owner_ = self;
  ctx.set("khz.client.stream", stream);
  ctx.set("khz.client.state", &ls);
  struct awaiter {
    client_context& ctx;
    const handler_chain<client_context>& chain;
    std::coroutine_handle<> h{};
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      h = awaiting;
      return !ctx.run(chain, [](void* self) { static_cast<awaiter*>(self)->h.resume(); }, this);
    }
    void await_resume() { ctx.rethrow_if_failed(); }
  };
  co_await awaiter{ctx, chain};
  if (!ctx.outcome_) co_return ctx.outcome_.error();
  out = std::move(*ctx.outcome_);
  co_return std::error_code{};
}

task<> client_impl::terminal(client_impl* im, client_context& c) {
  auto* ls = *c.get<client_loop_state*>("khz.client.state");
  auto* stream = *c.get<response_stream*>("khz.client.stream");
  response res;
  std::error_code ec = co_await im->perform(*ls, c.req_, c.url_, c.opts_, res, stream);
  if (ec) {
    c.outcome_ = ec;
  } else {
    c.outcome_ = std::move(res);  // stream mode: empty (the head is in the stream)
  }
}

}  // namespace detail

// ====================================================================== response_stream

response_stream::response_stream(response_stream&& o) noexcept
    : head_(std::move(o.head_)), state_(std::exchange(o.state_, nullptr)) {}

response_stream& response_stream::operator=(response_stream&& o) noexcept {
  if (this != &o) {
    response_stream old(std::move(*this));
    head_ = std::move(o.head_);
    state_ = std::exchange(o.state_, nullptr);
  }
  return *this;
}

response_stream::~response_stream() {
  if (state_ == nullptr) return;
  detail::client_stream_state* s = std::exchange(state_, nullptr);
  if (s->ex.cc != nullptr) s->ex.fail(make_error_code(errc::cancelled));  // dropped early: close
  delete s;
}

task<result<link_buffer>> response_stream::read() {
  for (;;) {
    detail::client_stream_state* s = state_;
    if (s == nullptr) co_return link_buffer{};
    auto finish = [&](std::error_code ec) {
      state_ = nullptr;
      if (s->ex.cc != nullptr) {
        detail::client_conn* cc = s->ex.cc;
        s->ex.cc = nullptr;
        if (ec) {
          cc->ex = nullptr;
          cc->conn->abort(ec);
        } else {
          cc->ls->release(cc, s->keep && head_->keep_alive() && cc->parser.idle());
        }
      }
      delete s;
    };
    if (s->finished || s->ex.ph == detail::client_exchange::phase::done) {  // no body, or all of it read
      finish({});
      co_return link_buffer{};
    }
    if (s->ex.err) {
      std::error_code ec = s->ex.err;
      finish(ec);
      co_return ec;
    }
    detail::client_conn* cc = s->ex.cc;
    if (cc == nullptr) {
      finish(client_errc::connection_reset);
      co_return make_error_code(client_errc::connection_reset);
    }
    link_buffer piece;
    parse_status st = cc->parser.parse_body(cc->conn->input(), piece);
    if (st == parse_status::need_more && piece.empty() && s->ex.peer_eof) st = cc->parser.eof();
    if (st == parse_status::error) {
      std::error_code ec = cc->parser.error().status == 400 && s->ex.peer_eof ? make_error_code(client_errc::connection_reset)
                                                                             : cc->parser.error().code();
      finish(ec);
      co_return ec;
    }
    if (st == parse_status::message_complete || st == parse_status::closed) {
      if (piece.empty()) {
        finish({});
        co_return link_buffer{};
      }
      s->finished = true;
      co_return piece;
    }
    cc->conn->resume_read();
    if (!piece.empty()) co_return piece;
    co_await s->ex.sig.wait();
  }
}

// ====================================================================== client

namespace {
// Runs a task to completion on the current thread's loop and calls `done` after.
struct detached {
  task<> t;
  detail::move_function<void()> done;
  static void finished(void* self) {
    auto* d = static_cast<detached*>(self);
    d->done();
    delete d;
  }
  static void start(task<> t, detail::move_function<void()> done) {
    auto* d = new detached{std::move(t), std::move(done)};
    d->t.start();
    if (d->t.done()) {
      finished(d);
    } else {
      d->t.on_done(&finished, d);
    }
  }
};
}  // namespace

client::client(client_options options) : options_(std::move(options)), impl_(std::make_unique<detail::client_impl>()) {
  auto& im = *impl_;
  im.self = this;
  im.options = &options_;
  im.serial = detail::next_serial.fetch_add(1);
  im.limits.max_header_bytes = options_.max_response_header_bytes;
  im.limits.max_body_size = options_.max_response_body_size;
  im.resolver = std::make_unique<worker_pool>(options_.resolver_threads == 0 ? 1 : options_.resolver_threads);
  loop_options lo;
  lo.kind = options_.transport;
  im.own = std::make_unique<event_loop>(lo);
  im.own_state = &im.state_for(*im.own);
  im.own_thread = std::thread([loop = im.own.get()] { loop->run(); });
}

client::~client() {
  auto& im = *impl_;
  im.own->stop();
  if (im.own_thread.joinable()) im.own_thread.join();
  im.resolver->stop();  // queued lookups post to stopped loops: dropped there
  im.own.reset();
}

void client::use(handler<client_context> h) {
  auto& chain = impl_->chain;
  if (chain.empty()) {
    chain.push_back(std::move(h));
    chain.push_back(handler<client_context>(
        [im = impl_.get()](client_context& c) { return detail::client_impl::terminal(im, c); },
        "khz.client.send"));
  } else {
    chain.insert(chain.end() - 1, std::move(h));
  }
}

void client::attach(event_loop& loop) { (void)impl_->state_for(loop); }

event_loop& client::own_loop() noexcept { return *impl_->own; }

request make_request(method m, std::string_view u) {
  request r;
  r.set_method(m);
  r.set_target(u);
  return r;
}

task<result<response>> client::send(request req, send_options o) {
  detail::client_loop_state& ls = impl_->current();
  // The call's one response object: the layers below parse into it.
  response res;
  url u;
  std::error_code ec = detail::client_impl::target_url(ls, req, u);
  if (ec) co_return ec;
  if (impl_->chain.empty()) {
    ec = co_await impl_->perform(ls, req, u, o, res, nullptr);  // no middleware: one frame less
  } else {
    ec = co_await impl_->run_chain(ls, req, std::move(u), o, res, nullptr);
  }
  if (ec) co_return ec;
  co_return std::move(res);
}

task<result<response>> client::send(request req) { return send(std::move(req), send_options{}); }
task<result<response>> client::get(std::string_view u) { return get(u, send_options{}); }
task<result<response>> client::head(std::string_view u) { return head(u, send_options{}); }
task<result<response>> client::del(std::string_view u) { return del(u, send_options{}); }
task<result<response>> client::post(std::string_view u, body_source body) {
  return post(u, std::move(body), send_options{});
}
task<result<response>> client::put(std::string_view u, body_source body) {
  return put(u, std::move(body), send_options{});
}
task<result<response_stream>> client::stream(request req) { return stream(std::move(req), send_options{}); }

task<result<response>> client::get(std::string_view u, send_options o) {
  return send(make_request(method::get, u), std::move(o));
}
task<result<response>> client::head(std::string_view u, send_options o) {
  return send(make_request(method::head, u), std::move(o));
}
task<result<response>> client::del(std::string_view u, send_options o) {
  return send(make_request(method::delete_, u), std::move(o));
}
task<result<response>> client::post(std::string_view u, body_source body, send_options o) {
  o.body = std::move(body);
  return send(make_request(method::post, u), std::move(o));
}
task<result<response>> client::put(std::string_view u, body_source body, send_options o) {
  o.body = std::move(body);
  return send(make_request(method::put, u), std::move(o));
}

task<result<response_stream>> client::stream(request req, send_options o) {
  detail::client_loop_state& ls = impl_->current();
  response_stream s;
  response unused;  // the head goes to the stream
  url u;
  std::error_code ec = detail::client_impl::target_url(ls, req, u);
  if (ec) co_return ec;
  ec = co_await impl_->run_chain(ls, req, std::move(u), o, unused, &s);
  if (ec) co_return ec;
  co_return std::move(s);
}

void client::run(detail::move_function<task<>()> fn) {
  auto& im = *impl_;
  if (im.on_loop(*im.own_state)) {
    throw std::logic_error("khz::client::run/fetch called on the client's own loop thread: co_await the call instead");
  }
  std::promise<void> done;
  auto fut = done.get_future();
  im.own->post([&fn, &done] {
    task<> t;
    try {
      t = fn();
    } catch (...) {
      done.set_exception(std::current_exception());
      return;
    }
    // The wrapper keeps the user's task and reports its end (or exception).
    auto wrapper = [](task<> inner, std::promise<void>& p) -> task<> {
      try {
        co_await inner;
        p.set_value();
      } catch (...) {
        p.set_exception(std::current_exception());
      }
    };
    detached::start(wrapper(std::move(t), done), [] {});
  });
  fut.get();
}

result<response> client::fetch(request req, send_options o) {
  result<response> out{errc::cancelled};
  run([&]() -> task<> { out = co_await send(std::move(req), std::move(o)); });
  return out;
}

result<response> client::fetch(method m, std::string_view u, send_options o) {
  return fetch(make_request(m, u), std::move(o));
}

void client::drain() {
  auto& im = *impl_;
  for (auto& e : detail::tl_cache) {
    if (e.serial == im.serial) {
      e.state->drain();
      return;
    }
  }
  for (auto& s : im.states) {
    if (im.on_loop(*s)) {
      s->drain();
      return;
    }
  }
  run([&]() -> task<> {
    im.own_state->drain();
    co_return;
  });
}

client_pool_stats client::pool_stats() {
  auto& im = *impl_;
  auto collect = [](detail::client_loop_state& s) {
    client_pool_stats st = s.stats;
    st.open = 0;
    st.idle = 0;
    for (auto& [k, p] : s.pools) {
      st.open += p->total;
      st.idle += p->idle.size();
    }
    return st;
  };
  {
    std::lock_guard lock(im.mutex);
    for (auto& s : im.states)
      if (im.on_loop(*s)) return collect(*s);
  }
  client_pool_stats out;
  run([&]() -> task<> {
    out = collect(*im.own_state);
    co_return;
  });
  return out;
}

KHZ_END_NAMESPACE
