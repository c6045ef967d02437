#pragma once
// client_options: everything a khz::client can be told, with its default.
//
//   khz::client c(khz::client_options{}.with_deadline(5s).with_max_conns_per_host(32));
//
// Timeouts of zero are off. The per-request deadline covers the whole call: name
// resolution, the wait for a pooled connection, the dial, writing the request and reading
// the response (the whole body when it is read whole), across retries and redirects.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>
#include <khz/net/transport.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE

class request;
class response;

enum class backoff_kind { fixed, exponential };

// Retries of a failed attempt. An attempt is retried when retry_if says so (default: a
// transport failure — connect, reset, timeout of one attempt, dns — not an HTTP status),
// attempts remain, the request is idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) or
// marked so (send_options::idempotent), and its body can be sent again (not a producer).
// Independently of this policy, a request that fails on a *reused* pooled connection before
// any response byte arrived is retried once on a fresh connection (the stale-connection
// race), under the same idempotency rule.
struct retry_policy {
  using ms = std::chrono::milliseconds;
  unsigned max_attempts = 1;  // 1: no retry
  backoff_kind backoff = backoff_kind::exponential;
  ms delay{50};       // fixed delay, or the first exponential delay (then doubled)
  ms max_delay{2000}; // cap of the exponential delay
  bool jitter = true; // each delay is drawn uniformly in [delay/2, delay]
  // Whether to retry after `outcome` (an error or a response). Empty: the default above.
  std::function<bool(const request&, const result<response>&)> retry_if;
};

// Redirects: 301/302/303 become GET without a body (HEAD stays HEAD); 307/308 keep the
// method and the body. Authorization and Cookie are dropped when the host changes. A
// loop (a URL visited twice with the same method) or more than max_redirects is an error.
struct redirect_policy {
  unsigned max_redirects = 10;  // 0: redirects are returned as responses, not followed
};

struct client_options {
  using ms = std::chrono::milliseconds;

  ms dial_timeout{5'000};        // TCP connect
  ms deadline{30'000};           // whole call (see the file comment); 0: none
  ms read_timeout{0};            // no response byte for this long while waiting for one
  ms write_timeout{30'000};      // request bytes pending without progress for this long
  std::size_t max_conns_per_host = 64;  // open + dialing connections per origin per loop
  ms pool_wait_timeout{5'000};   // waiting for a free connection at the limit -> errc::pool_full
  ms max_idle_time{60'000};      // a pooled connection unused this long is closed
  ms max_lifetime{0};            // a connection older than this is not reused; 0: no limit
  bool keep_alive = true;        // false: "Connection: close", one request per connection
  std::uint64_t max_response_body_size = 64ull * 1024 * 1024;  // bigger: errc::too_large
  std::size_t max_response_header_bytes = 64 * 1024;            // bigger: errc::too_large
  std::size_t max_input_bytes = 256 * 1024;  // read backpressure of a streamed response
  std::vector<std::pair<std::string, std::string>> default_headers;  // added unless set
  std::string user_agent = "khz-client/0.1";  // empty: no User-Agent field
  ms dns_ttl{30'000};            // resolved names are cached this long (per loop)
  retry_policy retry{};
  redirect_policy redirect{};
  std::size_t resolver_threads = 1;  // getaddrinfo runs on these threads, never on a loop
  khz::transport transport = transport::auto_select;  // of the client's own loop

  client_options& with_dial_timeout(ms t) { dial_timeout = t; return *this; }
  client_options& with_deadline(ms t) { deadline = t; return *this; }
  client_options& with_read_timeout(ms t) { read_timeout = t; return *this; }
  client_options& with_write_timeout(ms t) { write_timeout = t; return *this; }
  client_options& with_max_conns_per_host(std::size_t n) { max_conns_per_host = n; return *this; }
  client_options& with_pool_wait_timeout(ms t) { pool_wait_timeout = t; return *this; }
  client_options& with_max_idle_time(ms t) { max_idle_time = t; return *this; }
  client_options& with_max_lifetime(ms t) { max_lifetime = t; return *this; }
  client_options& with_keep_alive(bool on) { keep_alive = on; return *this; }
  client_options& with_max_response_body_size(std::uint64_t n) { max_response_body_size = n; return *this; }
  client_options& with_max_response_header_bytes(std::size_t n) { max_response_header_bytes = n; return *this; }
  client_options& with_header(std::string name, std::string value) {
    default_headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  client_options& with_user_agent(std::string ua) { user_agent = std::move(ua); return *this; }
  client_options& with_retry(retry_policy p) { retry = std::move(p); return *this; }
  client_options& with_transport(khz::transport t) { transport = t; return *this; }
  client_options& with_max_redirects(unsigned n) { redirect.max_redirects = n; return *this; }
};

KHZ_END_NAMESPACE
