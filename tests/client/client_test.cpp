// khz::client against khz::server (normal cases) and against a scripted raw server (bad
// peers), on 127.0.0.1, for both transports where the connection handling matters.
#include <gtest/gtest.h>
#include <khz/client/client.hpp>
#include <khz/server/server.hpp>

#include "client/script_server.hpp"
#include "support/test_support.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using khz::client;
using khz::client_errc;
using khz::client_options;
using khz::errc;
using khz::test::ok_response;
using khz::test::peer;
using khz::test::script_server;

std::string body_of(const khz::response& r) {
  auto& b = const_cast<khz::response&>(r).body();
  return std::string(b.peek(b.size()));
}

// ------------------------------------------------------------------ URL parsing

TEST(client_url, parses_the_parts) {
  auto u = khz::parse_url("HTTP://Example.COM:8080/a/b?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/a/b?x=1");
  EXPECT_EQ(u->path(), "/a/b");
  EXPECT_EQ(u->query(), "x=1");
  EXPECT_EQ(u->host_header(), "example.com:8080");

  auto d = khz::parse_url("http://h");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 80);
  EXPECT_EQ(d->target, "/");
  EXPECT_EQ(d->host_header(), "h");

  auto q = khz::parse_url("http://h?x");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "/?x");

  auto s = khz::parse_url("https://h/");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->port, 443);

  auto v6 = khz::parse_url("http://[::1]:9000/p");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->ipv6_literal);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_EQ(v6->host_header(), "[::1]:9000");
}

TEST(client_url, refuses_what_it_cannot_send) {
  std::string why;
  auto ui = khz::parse_url("http://user:pw@h/", &why);
  EXPECT_EQ(ui.error(), errc::invalid_argument);
  EXPECT_NE(why.find("user information"), std::string::npos) << why;
  EXPECT_FALSE(khz::parse_url("ftp://h/"));
  EXPECT_FALSE(khz::parse_url("h/path"));
  EXPECT_FALSE(khz::parse_url("http://h:0/"));
  EXPECT_FALSE(khz::parse_url("http://h:70000/"));
  EXPECT_FALSE(khz::parse_url("http://h:8x/"));
  EXPECT_FALSE(khz::parse_url("http://[::1/"));
  EXPECT_FALSE(khz::parse_url("http://[zz]/"));
  EXPECT_FALSE(khz::parse_url("http:///p"));
  EXPECT_FALSE(khz::parse_url("http://h/a b"));
}

TEST(client_url, resolves_redirect_locations) {
  auto base = *khz::parse_url("http://h:81/a/b/c?q");
  EXPECT_EQ(khz::resolve_url(base, "/x?y")->to_string(), "http://h:81/x?y");
  EXPECT_EQ(khz::resolve_url(base, "d")->to_string(), "http://h:81/a/b/d");
  EXPECT_EQ(khz::resolve_url(base, "../d")->to_string(), "http://h:81/a/d");
  EXPECT_EQ(khz::resolve_url(base, "?z")->to_string(), "http://h:81/a/b/c?z");
  EXPECT_EQ(khz::resolve_url(base, "//other/p")->to_string(), "http://other/p");
  EXPECT_EQ(khz::resolve_url(base, "http://o:9/")->to_string(), "http://o:9/");
}

TEST(client_errors, failure_classes) {
  EXPECT_EQ(khz::failure_class(khz::make_error_code(client_errc::connect_failed)), "connect");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(client_errc::connection_reset)), "reset");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(client_errc::redirect_loop)), "redirects");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(errc::timeout)), "timeout");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(errc::too_large)), "too_large");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(errc::protocol_error)), "protocol");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(errc::dns)), "dns");
  EXPECT_EQ(khz::failure_class(khz::make_error_code(errc::pool_full)), "pool_full");
}

// ------------------------------------------------------------------ fixture

class client_test : public ::testing::TestWithParam<khz::transport> {
 protected:
  client_options options() {
    return client_options{}.with_transport(GetParam()).with_deadline(5s).with_pool_wait_timeout(2s);
  }
  khz::test::fd_leak_guard leaks_;
};

// A khz::server on 127.0.0.1 with a few routes.
struct test_server {
  explicit test_server(khz::transport t) : srv(khz::server_options{}
                                                    .with_address("127.0.0.1:0")
                                                    .with_loops(1)
                                                    .with_transport(t)
                                                    .with_worker_threads(1)) {
    srv.get("/hello", [](khz::context& c) { c.data(200, "text/plain", "hello"); });
    srv.post("/echo", [](khz::context& c) {
      auto& b = c.request().body();
      c.data(200, "text/plain", b.peek(b.size()));
    });
    srv.put("/echo", [](khz::context& c) {
      auto& b = c.request().body();
      c.data(200, "text/plain", b.peek(b.size()));
    });
    srv.get("/header/:name", [](khz::context& c) {
      c.data(200, "text/plain", c.request().headers().get(c.param("name")));
    });
    srv.get("/big", [](khz::context& c) { c.data(200, "text/plain", std::string(300000, 'b')); });
    srv.start();
    port = srv.listen_addresses().front().port();
  }
  ~test_server() { srv.shutdown(1s); }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  }
  khz::server srv;
  std::uint16_t port = 0;
};

// ------------------------------------------------------------------ normal cases

TEST_P(client_test, get_and_reuse_a_pooled_connection) {
  test_server s(GetParam());
  client c(options());
  for (int i = 0; i < 3; ++i) {
    auto r = c.fetch(khz::method::get, s.url("/hello"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status_code(), 200u);
    EXPECT_EQ(body_of(*r), "hello");
  }
  auto st = c.pool_stats();
  EXPECT_EQ(st.dialed, 1u);
  EXPECT_EQ(st.reused, 2u);
  EXPECT_EQ(st.idle, 1u);
  c.drain();
  // drain() closes idle connections; the count drops once the loop processed the close.
  for (int i = 0; i < 200 && c.pool_stats().open != 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(c.pool_stats().open, 0u);
  auto r = c.fetch(khz::method::get, s.url("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(c.pool_stats().dialed, 2u);
}

TEST_P(client_test, sends_host_user_agent_and_default_headers) {
  test_server s(GetParam());
  client c(options().with_header("X-Team", "khz").with_user_agent("ua/1"));
  EXPECT_EQ(body_of(c.fetch(khz::method::get, s.url("/header/host")).value()),
            "127.0.0.1:" + std::to_string(s.port));
  EXPECT_EQ(body_of(c.fetch(khz::method::get, s.url("/header/user-agent")).value()), "ua/1");
  EXPECT_EQ(body_of(c.fetch(khz::method::get, s.url("/header/x-team")).value()), "khz");
  auto req = khz::make_request(khz::method::get, s.url("/header/x-team"));
  req.headers().add("X-Team", "mine");
  EXPECT_EQ(body_of(c.fetch(std::move(req)).value()), "mine");
}

TEST_P(client_test, bodies_from_memory_file_and_producer) {
  test_server s(GetParam());
  client c(options());
  khz::send_options o;
  o.body = khz::body_source::bytes("payload");
  auto r = c.fetch(khz::method::post, s.url("/echo"), o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "payload");

  char path[] = "/tmp/khz_client_body_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content(200000, 'f');
  content += "end";
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  khz::send_options of;
  of.body = khz::body_source::file(path);
  auto rf = c.fetch(khz::method::put, s.url("/echo"), of);
  ::unlink(path);
  ASSERT_TRUE(rf) << rf.error().message();
  EXPECT_EQ(body_of(*rf), content);

  int calls = 0;
  khz::send_options op;
  op.body = khz::body_source::producer([&calls](khz::link_buffer& out) -> khz::task<bool> {
    out.append("piece" + std::to_string(calls) + ";");
    co_return ++calls < 4;
  });
  auto rp = c.fetch(khz::method::post, s.url("/echo"), op);
  ASSERT_TRUE(rp) << rp.error().message();
  EXPECT_EQ(body_of(*rp), "piece0;piece1;piece2;piece3;");
}

TEST_P(client_test, https_is_refused_not_sent_in_clear) {
  client c(options());
  auto r = c.fetch(khz::method::get, "https://127.0.0.1:1/");
  EXPECT_EQ(r.error(), errc::not_supported);
  EXPECT_EQ(c.pool_stats().dialed, 0u);
}

TEST_P(client_test, connect_refused_and_bad_url) {
  // A port nothing listens on: bind one, close it.
  std::uint16_t port;
  {
    script_server tmp([](peer&, int) {});
    port = tmp.port();
  }
  client c(options());
  auto r = c.fetch(khz::method::get, "http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(r.error(), client_errc::connect_failed) << r.error().message();
  EXPECT_EQ(c.fetch(khz::method::get, "http://u@h/").error(), errc::invalid_argument);
}

TEST_P(client_test, resolves_localhost_off_the_loop) {
  test_server s(GetParam());
  client c(options());
  auto r = c.fetch(khz::method::get, "http://localhost:" + std::to_string(s.port) + "/hello");
  // localhost may resolve to ::1 first where the server listens on 127.0.0.1 only.
  if (!r) {
    EXPECT_EQ(r.error(), client_errc::connect_failed);
  } else {
    EXPECT_EQ(body_of(*r), "hello");
  }
}

TEST_P(client_test, a_handler_calls_an_upstream_on_its_own_loop) {
  test_server upstream(GetParam());
  client up(options());
  khz::server proxy(khz::server_options{}.with_address("127.0.0.1:0").with_loops(1).with_transport(GetParam()));
  proxy.get("/proxy", [&](khz::context& ctx) -> khz::task<> {
    // No attach(): the client finds the handler's loop through event_loop::current().
    auto r = co_await up.get(upstream.url("/hello"));
    bool same_loop = ctx.loop()->in_loop_thread();
    ctx.data(r ? 200 : 502, "text/plain", (r ? body_of(*r) : std::string(r.error().message())) + (same_loop ? "+loop" : ""));
  });
  proxy.start();
  std::string url = "http://127.0.0.1:" + std::to_string(proxy.listen_addresses().front().port()) + "/proxy";
  client c(options());
  for (int i = 0; i < 2; ++i) {
    auto r = c.fetch(khz::method::get, url);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status_code(), 200u);
    EXPECT_EQ(body_of(*r), "hello+loop");
  }
  proxy.shutdown(1s);
}

TEST_P(client_test, attach_ahead_of_time_is_optional_and_idempotent) {
  test_server upstream(GetParam());
  client up(options());
  khz::event_loop loop(khz::loop_options{.kind = GetParam()});
  up.attach(loop);
  up.attach(loop);
  std::string got;
  auto call = [](client& c, std::string url, std::string& out, khz::event_loop& l) -> khz::task<> {
    auto r = co_await c.get(url);
    out = r ? body_of(*r) : std::string(r.error().message());
    l.stop();
  };
  khz::task<> running = call(up, upstream.url("/hello"), got, loop);
  loop.post([&] { running.start(); });
  std::thread t([&] { loop.run(); });
  t.join();
  EXPECT_EQ(got, "hello");
}

TEST_P(client_test, coroutine_call_outside_a_known_loop_throws) {
  client c(options());
  khz::event_loop other;
  auto t = c.get("http://127.0.0.1:1/");
  t.start();
  ASSERT_TRUE(t.done());
  EXPECT_THROW((void)t.result(), std::logic_error);
}

// ------------------------------------------------------------------ bad peers

TEST_P(client_test, body_delimited_by_close) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
  });
  client c(options());
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "until the end");
  EXPECT_EQ(c.pool_stats().idle, 0u);
}

TEST_P(client_test, chunked_with_trailers) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n");
    p.wait_eof(2s);
  });
  client c(options());
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "hello world");
  EXPECT_EQ(r->trailers().get("X-Sum"), "11");
  EXPECT_EQ(c.pool_stats().idle, 1u);
}

TEST_P(client_test, interim_responses_before_the_final_one) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n");
    p.send(ok_response("final"));
    p.wait_eof(2s);
  });
  client c(options());
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status_code(), 200u);
  EXPECT_EQ(body_of(*r), "final");
}

TEST_P(client_test, no_body_for_204_304_and_head_despite_content_length) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n");
    p.read_request();
    p.send("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
    p.read_request();
    p.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    p.read_request();
    p.send(ok_response("after"));
    p.wait_eof(2s);
  });
  client c(options());
  auto a = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status_code(), 204u);
  auto b = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->status_code(), 304u);
  auto h = c.fetch(khz::method::head, srv.url());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->content_length(), 10u);
  EXPECT_TRUE(h->body().empty());
  auto d = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(body_of(*d), "after");
  EXPECT_EQ(srv.accepted(), 1);  // all four on one connection
}

TEST_P(client_test, closed_in_the_middle_of_headers_or_body) {
  script_server srv([](peer& p, int i) {
    p.read_request();
    p.send(i == 0 ? "HTTP/1.1 200 OK\r\nContent-Le" : "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  });
  client c(options());
  auto a = c.fetch(khz::method::post, srv.url());  // POST: not retried
  EXPECT_EQ(a.error(), client_errc::connection_reset) << a.error().message();
  auto b = c.fetch(khz::method::get, srv.url());
  EXPECT_EQ(b.error(), client_errc::connection_reset) << b.error().message();
  EXPECT_EQ(srv.accepted(), 2);
  EXPECT_EQ(c.pool_stats().idle, 0u);
}

TEST_P(client_test, idle_pooled_connection_closed_by_the_server_is_retried) {
  script_server srv([](peer& p, int i) {
    p.read_request();
    p.send(ok_response("one"));
    if (i == 0) {
      // Reads the next request and closes without a byte: the stale-connection race.
      p.read_request();
      return;
    }
    p.wait_eof(2s);
  });
  client c(options());
  ASSERT_TRUE(c.fetch(khz::method::get, srv.url()));
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "one");
  EXPECT_EQ(c.pool_stats().stale_retries, 1u);
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_P(client_test, pooled_connection_seen_dead_is_not_used) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send(ok_response("x"));
  });  // closes after one answer
  client c(options());
  ASSERT_TRUE(c.fetch(khz::method::get, srv.url()));
  // Wait until the client's loop has seen the FIN (is_active() false, the pool drops it).
  for (int i = 0; i < 200 && c.pool_stats().open != 0; ++i) std::this_thread::sleep_for(5ms);
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(c.pool_stats().stale_retries, 0u);
  EXPECT_EQ(c.pool_stats().dialed, 2u);
}

TEST_P(client_test, headers_and_body_over_the_limits) {
  script_server srv([](peer& p, int i) {
    p.read_request();
    if (i == 0) {
      p.send("HTTP/1.1 200 OK\r\nX-Big: " + std::string(4000, 'h') + "\r\nContent-Length: 0\r\n\r\n");
    } else if (i == 1) {
      p.send("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'));
    } else {
      p.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + std::string(4096, 'c') + "\r\n0\r\n\r\n");
    }
    p.wait_eof(2s);
  });
  client c(options().with_max_response_header_bytes(1024).with_max_response_body_size(1000));
  EXPECT_EQ(c.fetch(khz::method::get, srv.url()).error(), errc::too_large);
  EXPECT_EQ(c.fetch(khz::method::get, srv.url()).error(), errc::too_large);
  EXPECT_EQ(c.fetch(khz::method::get, srv.url()).error(), errc::too_large);
}

TEST_P(client_test, server_that_never_answers_hits_the_deadline) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.wait_eof(5s);
  });
  client c(options().with_deadline(200ms));
  auto r = c.fetch(khz::method::get, srv.url());
  EXPECT_EQ(r.error(), errc::timeout) << r.error().message();
  khz::send_options o;
  o.deadline = 100ms;
  EXPECT_EQ(c.fetch(khz::method::get, srv.url(), o).error(), errc::timeout);
}

TEST_P(client_test, concurrent_deadlines_expire_each_at_its_own_time) {
  // Every connection reads its request and never answers.
  script_server srv([](peer& p, int) {
    p.read_request();
    p.wait_eof(5s);
  });
  test_server fast(GetParam());
  client c(options().with_deadline(3s));
  khz::loop_options lo;
  lo.kind = GetParam();
  khz::event_loop loop(lo);
  // Started in this order, later calls have earlier deadlines: each must still expire on
  // time (the loop's one deadline timer moves earlier), and the fast call, which
  // completes, must leave the others' deadlines alone.
  const std::chrono::milliseconds wanted[] = {600ms, 150ms, 350ms, 100ms};
  std::chrono::steady_clock::duration took[4]{};
  std::error_code got[4];
  std::string fast_body;
  int running = 4;
  auto call = [&](std::string url, int i) -> khz::task<> {
    khz::send_options o;
    o.deadline = wanted[i];
    const auto t0 = std::chrono::steady_clock::now();
    auto r = co_await c.get(url, std::move(o));
    took[i] = std::chrono::steady_clock::now() - t0;
    if (r) {
      fast_body = body_of(*r);
    } else {
      got[i] = r.error();
    }
    if (--running == 0) loop.stop();
  };
  std::vector<khz::task<>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(call(srv.url(), i));
  tasks.push_back(call(fast.url("/hello"), 3));
  loop.post([&] {
    for (auto& t : tasks) t.start();
  });
  std::thread t([&] { loop.run(); });
  t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i], errc::timeout) << i << ": " << got[i].message();
    EXPECT_GE(took[i], wanted[i]) << i;
    EXPECT_LT(took[i], wanted[i] + 1500ms) << i;
  }
  EXPECT_LT(took[1], took[2]);
  EXPECT_LT(took[2], took[0]);
  EXPECT_FALSE(got[3]) << got[3].message();
  EXPECT_EQ(fast_body, "hello");
}

TEST_P(client_test, alternating_urls_and_origins) {
  test_server a(GetParam());
  test_server b(GetParam());
  client c(options());
  for (int i = 0; i < 3; ++i) {
    auto r = c.fetch(khz::method::get, a.url("/hello"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(body_of(*r), "hello");
    r = c.fetch(khz::method::get, a.url("/header/host"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(body_of(*r), "127.0.0.1:" + std::to_string(a.port));
    r = c.fetch(khz::method::get, b.url("/header/host"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(body_of(*r), "127.0.0.1:" + std::to_string(b.port));
  }
  EXPECT_EQ(c.fetch(khz::method::get, "http://127.0.0.1:0x/").error(), errc::invalid_argument);
  auto st = c.pool_stats();
  EXPECT_EQ(st.dialed, 2u);
  EXPECT_EQ(st.reused, 7u);
}

TEST_P(client_test, server_that_never_reads_a_large_body_hits_the_write_timeout) {
  script_server srv(
      [](peer& p, int) {
        p.hold(5s);  // never reads: the request piles up in the socket buffers
      });
  client c(options().with_write_timeout(300ms).with_deadline(10s));
  // An endless chunked body: whatever the kernel buffers absorb, the rest waits in the
  // client's output without progress until the write timeout closes the connection.
  khz::send_options o;
  std::string piece(64 * 1024, 'x');
  o.body = khz::body_source::producer([&piece](khz::link_buffer& out) -> khz::task<bool> {
    out.append(piece);
    co_return true;
  });
  auto r = c.fetch(khz::method::post, srv.url(), o);
  EXPECT_EQ(r.error(), errc::timeout) << r.error().message();
}

TEST_P(client_test, malformed_status_line) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.send("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2s);
  });
  client c(options());
  EXPECT_EQ(c.fetch(khz::method::get, srv.url()).error(), errc::protocol_error);
}

TEST_P(client_test, unsolicited_bytes_on_an_idle_pooled_connection_discard_it) {
  script_server srv([](peer& p, int i) {
    p.read_request();
    p.send(ok_response(i == 0 ? "first" : "second"));
    if (i == 0) p.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nspoof");
    p.wait_eof(2s);
  });
  client c(options());
  ASSERT_TRUE(c.fetch(khz::method::get, srv.url()));
  for (int i = 0; i < 200 && c.pool_stats().discarded == 0; ++i) std::this_thread::sleep_for(5ms);
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "second");
  EXPECT_EQ(c.pool_stats().discarded, 1u);
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_P(client_test, pool_full_when_the_wait_times_out) {
  script_server srv([](peer& p, int) {
    p.read_request();
    p.wait_eof(3s);  // holds the only connection
  });
  client c(options().with_max_conns_per_host(1).with_pool_wait_timeout(100ms).with_deadline(1s));
  khz::result<khz::response> first{errc::cancelled}, second{errc::cancelled};
  c.run([&]() -> khz::task<> {
    auto a = c.get(srv.url());
    a.start();  // runs until it waits for the answer, holding the slot
    second = co_await c.get(srv.url());
    first = co_await a;
  });
  EXPECT_EQ(second.error(), errc::pool_full) << second.error().message();
  EXPECT_EQ(first.error(), errc::timeout);
}

TEST_P(client_test, waiters_get_a_released_connection) {
  test_server s(GetParam());
  client c(options().with_max_conns_per_host(1));
  int ok = 0;
  c.run([&]() -> khz::task<> {
    auto a = c.get(s.url("/hello"));
    auto b = c.get(s.url("/hello"));
    a.start();
    b.start();
    auto ra = co_await a;
    auto rb = co_await b;
    ok = (ra && body_of(*ra) == "hello") + (rb && body_of(*rb) == "hello");
  });
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(c.pool_stats().dialed, 1u);
}

// ------------------------------------------------------------------ redirects

TEST_P(client_test, redirects_change_method_as_the_status_says) {
  script_server srv([](peer& p, int) {
    for (;;) {
      std::string req = p.read_request(3s);
      if (req.empty()) return;
      std::string line = req.substr(0, req.find("\r\n"));
      if (line == "POST /303 HTTP/1.1") {
        p.send("HTTP/1.1 303 See Other\r\nLocation: /seen\r\nContent-Length: 0\r\n\r\n");
      } else if (line == "POST /307 HTTP/1.1") {
        p.send("HTTP/1.1 307 Temporary Redirect\r\nLocation: /seen\r\nContent-Length: 0\r\n\r\n");
      } else {
        std::string body = req.substr(req.find("\r\n\r\n") + 4);
        p.send(ok_response(line + "|" + body));
      }
    }
  });
  client c(options());
  khz::send_options o;
  o.body = khz::body_source::bytes("data");
  auto a = c.fetch(khz::method::post, srv.url("/303"), o);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(body_of(*a), "GET /seen HTTP/1.1|");
  auto b = c.fetch(khz::method::post, srv.url("/307"), o);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(body_of(*b), "POST /seen HTTP/1.1|data");
  khz::send_options off;
  off.max_redirects = 0;
  auto n = c.fetch(khz::method::post, srv.url("/303"), off);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->status_code(), 303u);
}

TEST_P(client_test, redirect_to_another_host_drops_credentials) {
  // 127.0.0.1 redirects to localhost: another host name, so credentials must go.
  script_server other([](peer& p, int) {
    std::string req = p.read_request(3s);
    p.send(ok_response(req));
    p.wait_eof(2s);
  });
  script_server first([&other](peer& p, int) {
    std::string req = p.read_request(3s);
    p.send("HTTP/1.1 302 Found\r\nLocation: http://localhost:" + std::to_string(other.port()) +
           "/landed\r\nContent-Length: 0\r\n\r\n");
    p.wait_eof(2s);
  });
  client c(options());
  auto req = khz::make_request(khz::method::get, first.url("/start"));
  req.headers().add("Authorization", "Bearer secret");
  req.headers().add("Cookie", "a=b");
  req.headers().add("X-Keep", "yes");
  auto r = c.fetch(std::move(req));
  if (!r) {
    // localhost resolving to ::1 only: the redirect could not be followed here.
    EXPECT_EQ(r.error(), client_errc::connect_failed);
    return;
  }
  std::string seen = body_of(*r);
  EXPECT_NE(seen.find("GET /landed"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("Authorization"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("Cookie"), std::string::npos) << seen;
  EXPECT_NE(seen.find("X-Keep: yes"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Host: localhost:"), std::string::npos) << seen;
}

TEST_P(client_test, redirect_loop_and_too_many_redirects) {
  script_server srv([](peer& p, int) {
    for (;;) {
      std::string req = p.read_request(3s);
      if (req.empty()) return;
      if (req.starts_with("GET /a ")) {
        p.send("HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n");
      } else if (req.starts_with("GET /b ")) {
        p.send("HTTP/1.1 302 Found\r\nLocation: /a\r\nContent-Length: 0\r\n\r\n");
      } else {
        // /n<k> -> /n<k+1>, forever
        std::size_t k = std::stoul(req.substr(6, req.find(' ', 6) - 6));
        p.send("HTTP/1.1 301 Moved\r\nLocation: /n" + std::to_string(k + 1) + "\r\nContent-Length: 0\r\n\r\n");
      }
    }
  });
  client c(options());
  EXPECT_EQ(c.fetch(khz::method::get, srv.url("/a")).error(), client_errc::redirect_loop);
  EXPECT_EQ(c.fetch(khz::method::get, srv.url("/n0")).error(), client_errc::too_many_redirects);
  khz::send_options o;
  o.max_redirects = 3;
  EXPECT_EQ(c.fetch(khz::method::get, srv.url("/n0"), o).error(), client_errc::too_many_redirects);
}

// ------------------------------------------------------------------ retries

TEST_P(client_test, retries_idempotent_requests_only) {
  script_server srv([](peer& p, int i) {
    if (i < 2) return;  // the first two connections close at once
    for (;;) {
      std::string req = p.read_request(3s);
      if (req.empty()) return;
      p.send(ok_response("third"));
    }
  });
  khz::retry_policy rp;
  rp.max_attempts = 3;
  rp.delay = 1ms;
  client c(options().with_retry(rp));
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "third");

  script_server once([](peer&, int) {});  // closes every connection at once
  auto post = c.fetch(khz::method::post, once.url());
  EXPECT_EQ(post.error(), client_errc::connection_reset);
  EXPECT_EQ(once.accepted(), 1);
  khz::send_options marked;
  marked.idempotent = true;
  auto post2 = c.fetch(khz::method::post, once.url(), marked);
  EXPECT_FALSE(post2);
  for (int i = 0; i < 200 && once.accepted() < 4; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(once.accepted(), 4);

  // A producer body cannot be replayed: no retry.
  khz::send_options stream_body;
  stream_body.idempotent = true;
  stream_body.body = khz::body_source::producer([](khz::link_buffer& out) -> khz::task<bool> {
    out.append("x");
    co_return false;
  });
  auto p = c.fetch(khz::method::put, once.url(), stream_body);
  EXPECT_FALSE(p);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(once.accepted(), 5);
}

TEST_P(client_test, retry_if_sees_responses) {
  script_server srv([](peer& p, int) {
    int n = 0;
    for (;;) {
      std::string req = p.read_request(3s);
      if (req.empty()) return;
      p.send(n++ == 0 ? "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n" : ok_response("ok"));
    }
  });
  khz::retry_policy rp;
  rp.max_attempts = 2;
  rp.backoff = khz::backoff_kind::fixed;
  rp.delay = 1ms;
  rp.retry_if = [](const khz::request&, const khz::result<khz::response>& r) {
    return !r || r->status_code() == 503;
  };
  client c(options().with_retry(rp));
  auto r = c.fetch(khz::method::get, srv.url());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_code(), 200u);
}

// ------------------------------------------------------------------ streamed responses

TEST_P(client_test, streamed_body_with_backpressure_then_reuse) {
  test_server s(GetParam());
  client c(options());
  std::size_t total = 0, pieces = 0;
  bool ended = false;
  c.run([&]() -> khz::task<> {
    auto st = co_await c.stream(khz::make_request(khz::method::get, s.url("/big")));
    if (!st) co_return;
    EXPECT_EQ(st->head().status_code(), 200u);
    for (;;) {
      auto piece = co_await st->read();
      if (!piece) co_return;
      if (piece->empty()) break;
      total += piece->size();
      ++pieces;
    }
    ended = st->done();
  });
  EXPECT_TRUE(ended);
  EXPECT_EQ(total, 300000u);
  EXPECT_GE(pieces, 1u);
  EXPECT_EQ(c.pool_stats().idle, 1u);  // back in the pool once fully read
  ASSERT_TRUE(c.fetch(khz::method::get, s.url("/hello")));
  EXPECT_EQ(c.pool_stats().dialed, 1u);
}

TEST_P(client_test, stream_dropped_early_closes_the_connection) {
  test_server s(GetParam());
  client c(options());
  c.run([&]() -> khz::task<> {
    auto st = co_await c.stream(khz::make_request(khz::method::get, s.url("/big")));
    EXPECT_TRUE(st);
    if (st) (void)co_await st->read();
  });  // the stream dies here, unread
  for (int i = 0; i < 200 && c.pool_stats().open != 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(c.pool_stats().open, 0u);
  EXPECT_EQ(c.pool_stats().idle, 0u);
}

// ------------------------------------------------------------------ middleware

// Written once against basic_context: installs on the server and on the client.
template <class Ctx>
khz::task<> trace_middleware(Ctx& ctx) {
  ctx.set("trace-id", std::string("t-42"));
  co_await ctx.next();
  ctx.set("traced", true);
}

TEST_P(client_test, one_middleware_on_server_and_client) {
  std::atomic<int> server_traced{0};
  khz::server srv(khz::server_options{}.with_address("127.0.0.1:0").with_loops(1).with_transport(GetParam()));
  srv.use([](khz::context& ctx) -> khz::task<> {
    static std::vector<std::string> log;
    ctx.set("log", &log);
    co_await ctx.next();
  });
  srv.use(trace_middleware<khz::context>);
  srv.get("/t", [](khz::context& ctx) { ctx.data(200, "text/plain", ctx.template must_get<std::string>("trace-id")); });
  srv.use([&](khz::context& ctx) {
    ctx.next();
    if (ctx.has("traced")) ++server_traced;
  });
  srv.start();
  std::string url = "http://127.0.0.1:" + std::to_string(srv.listen_addresses().front().port()) + "/t";

  client c(options());
  std::vector<std::string> log;
  c.use([&log](khz::client_context& ctx) {
    ctx.set("log", &log);
    ctx.req().headers().add("X-Seen", "1");
  });
  c.use(trace_middleware<khz::client_context>);
  c.use([&log](khz::client_context& ctx) -> khz::task<> {
    log.push_back("before " + ctx.template must_get<std::string>("trace-id"));
    co_await ctx.next();
    log.push_back(ctx.outcome() ? "status " + std::to_string(ctx.outcome()->status_code()) : "error");
  });
  auto r = c.fetch(khz::method::get, url);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(body_of(*r), "t-42");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "before t-42");
  EXPECT_EQ(log[1], "status 200");
  srv.shutdown(1s);
}

TEST_P(client_test, middleware_can_refuse_a_call) {
  client c(options());
  c.use([](khz::client_context& ctx) {
    if (ctx.target().host == "blocked.example") {
      ctx.fail(khz::make_error_code(errc::invalid_argument));
      ctx.abort();
    }
  });
  EXPECT_EQ(c.fetch(khz::method::get, "http://blocked.example/").error(), errc::invalid_argument);
  EXPECT_EQ(c.pool_stats().dialed, 0u);
}

KHZ_INSTANTIATE_TRANSPORTS(client_test);

}  // namespace
