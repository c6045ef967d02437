// khz::context accessors, response helpers, dispatch outcomes and lifetime checks,
// driven through khz::testing::perform_request (no network).
#include <gtest/gtest.h>
#include <khz/core/testing.hpp>

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <string>

namespace {

using khz::context;
using khz::testing::perform_request;

TEST(context, method_path_full_path_and_params) {
  khz::router r;
  r.get("/repos/:owner/:repo/*rest", [](context& c) {
    c.string(200, "{}|{}|{}|{}|{}|{}", c.method(), c.path(), c.full_path(), c.param("owner"),
             c.param("repo"), c.param("rest"));
  });
  auto res = perform_request(r, khz::testing::test_request("GET", "/repos/khz/core/issues/7?x=1"));
  EXPECT_EQ(res.status(), 200u);
  EXPECT_EQ(res.body(),
            "GET|/repos/khz/core/issues/7|/repos/:owner/:repo/*rest|khz|core|issues/7");
  EXPECT_EQ(res.header("Content-Type"), "text/plain; charset=utf-8");
}

// begin_request() splits origin-form targets itself (the '?' only); every target must give
// the path and query split_target() gives, short and long, with and without a query.
TEST(context, path_and_query_split_as_split_target_does) {
  const std::string long_path = "/" + std::string(40, 'p');
  const std::string targets[] = {"/", "/?", "/a?b=1", "/a?", "/a??x", "/abc/def", long_path,
                                 long_path + "?q=" + std::string(40, 'v'), "/" + std::string(30, 'x') + "?y",
                                 "/" + std::string(31, 'x') + "?y", "http://h.example/p?z=2"};
  for (const std::string& t : targets) {
    khz::router r;
    r.no_route([](context& c) {
      c.string(200, "{}|{}|{}", c.path(), c.query("b").value_or("-"), c.query("q").has_value());
    });
    auto res = perform_request(r, khz::testing::test_request("GET", t));
    const khz::request_target parts = khz::split_target(t, khz::method::get);
    std::string expect = std::string(parts.path) + "|";
    expect += t.find("b=1") != std::string::npos ? "1" : "-";
    expect += t.find("q=") != std::string::npos ? "|true" : "|false";
    EXPECT_EQ(res.body(), expect) << t;
  }
}

TEST(context, missing_param_is_empty) {
  khz::router r;
  r.get("/a/:id", [](context& c) { c.string(200, "[{}]", c.param("nope")); });
  EXPECT_EQ(perform_request(r, khz::testing::test_request("GET", "/a/1")).body(), "[]");
}

TEST(context, query_values_are_decoded_and_repeatable) {
  khz::router r;
  r.get("/q", [](context& c) {
    auto all = c.query_all("tag");
    std::string tags;
    for (auto t : all) tags += std::string(t) + ",";
    c.string(200, "name={} missing={} empty={} present={} tags={} def={} key={}",
             c.query("name").value_or("?"), c.query("missing").has_value(),
             c.query("empty").value_or("?"), c.query("flag").has_value(), tags,
             c.default_query("lang", "en"), c.query("a b").value_or("?"));
  });
  auto res =
      perform_request(r, khz::testing::test_request(
                             "GET", "/q?name=Ada%20Lovelace&tag=a&empty=&tag=b+c&flag&a%20b=k"));
  EXPECT_EQ(res.body(),
            "name=Ada Lovelace missing=false empty= present=true tags=a,b c, def=en key=k");
}

TEST(context, headers_cookies_and_body) {
  khz::router r;
  r.post("/h", [](context& c) {
    c.string(200, "ua={} x={} sid={} theme={} none={} body={}", c.header("user-agent"),
             c.header("X-Missing").empty(), c.cookie("sid").value_or("?"),
             c.cookie("theme").value_or("?"), c.cookie("none").has_value(), c.body());
  });
  auto res = perform_request(r, khz::testing::test_request("POST", "/h")
                                    .header("User-Agent", "khz-test")
                                    .header("Cookie", "sid=abc123; theme=\"dark\"")
                                    .body("payload"));
  EXPECT_EQ(res.body(), "ua=khz-test x=true sid=abc123 theme=dark none=false body=payload");
}

TEST(context, form_values_only_for_urlencoded_bodies) {
  khz::router r;
  r.post("/f", [](context& c) {
    c.string(200, "{}|{}|{}", c.form("name").value_or("?"), c.form("city").value_or("?"),
             c.default_form("x", "dflt"));
  });
  auto form = perform_request(
      r, khz::testing::test_request("POST", "/f")
             .header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
             .body("name=Grace+Hopper&city=New%20York"));
  EXPECT_EQ(form.body(), "Grace Hopper|New York|dflt");
  auto json = perform_request(r, khz::testing::test_request("POST", "/f")
                                     .header("Content-Type", "application/json")
                                     .body("name=x"));
  EXPECT_EQ(json.body(), "?|?|dflt");
}

TEST(context, client_ip_trusts_forwarding_headers_only_from_trusted_proxies) {
  khz::router r;
  r.get("/ip", [](context& c) { c.string(200, "{} via {}", c.client_ip(), c.remote_ip()); });
  khz::client_ip_options options;
  options.trusted_proxies = {"10.0.0.0/8", "::1"};
  khz::client_ip_resolver rules(options);

  auto trusted = perform_request(r, khz::testing::test_request("GET", "/ip")
                                        .header("X-Forwarded-For", "203.0.113.9, 10.1.2.3")
                                        .remote_ip("10.0.0.5")
                                        .client_ip_rules(&rules));
  EXPECT_EQ(trusted.body(), "203.0.113.9 via 10.0.0.5") << "rightmost untrusted hop is the client";

  auto spoofed = perform_request(r, khz::testing::test_request("GET", "/ip")
                                        .header("X-Forwarded-For", "203.0.113.9, 10.1.2.3")
                                        .remote_ip("198.51.100.7")
                                        .client_ip_rules(&rules));
  EXPECT_EQ(spoofed.body(), "198.51.100.7 via 198.51.100.7")
      << "an untrusted peer's headers are ignored";

  auto real_ip = perform_request(r, khz::testing::test_request("GET", "/ip")
                                        .header("X-Real-IP", "192.0.2.1")
                                        .remote_ip("::1")
                                        .client_ip_rules(&rules));
  EXPECT_EQ(real_ip.body(), "192.0.2.1 via ::1");

  auto garbage = perform_request(r, khz::testing::test_request("GET", "/ip")
                                        .header("X-Forwarded-For", "not-an-ip")
                                        .remote_ip("10.9.9.9")
                                        .client_ip_rules(&rules));
  EXPECT_EQ(garbage.body(), "10.9.9.9 via 10.9.9.9");

  auto no_rules = perform_request(r, khz::testing::test_request("GET", "/ip")
                                         .header("X-Forwarded-For", "203.0.113.9, 10.1.2.3")
                                         .remote_ip("10.0.0.5"));
  EXPECT_EQ(no_rules.body(), "10.0.0.5 via 10.0.0.5") << "nobody is trusted by default";
}

TEST(client_ip, networks) {
  khz::ip_network v4("192.168.0.0/16");
  EXPECT_TRUE(v4.contains("192.168.255.1"));
  EXPECT_FALSE(v4.contains("192.169.0.1"));
  EXPECT_FALSE(v4.contains("::1"));
  khz::ip_network odd("10.0.0.0/9");
  EXPECT_TRUE(odd.contains("10.127.0.1"));
  EXPECT_FALSE(odd.contains("10.128.0.1"));
  khz::ip_network v6("2001:db8::/32");
  EXPECT_TRUE(v6.contains("2001:db8:1::5"));
  EXPECT_FALSE(v6.contains("2001:db9::1"));
  EXPECT_THROW(khz::ip_network("10.0.0.0/33"), std::invalid_argument);
  EXPECT_THROW(khz::ip_network("example.com"), std::invalid_argument);
}

TEST(context, response_helpers) {
  khz::router r;
  r.get("/data", [](context& c) {
    c.data(201, "application/octet-stream", std::string_view("\x01\x02", 2));
  });
  r.get("/redirect", [](context& c) { c.redirect(302, "/elsewhere"); });
  r.get("/bad-redirect", [](context& c) { c.redirect(200, "/x"); });
  r.get("/empty", [](context& c) { c.no_content(); });
  r.get("/nf", [](context& c) { c.not_found(); });
  r.get("/hdr", [](context& c) {
    c.status(202).set_header("X-One", "1").add_header("X-Many", "a").add_header("X-Many", "b");
  });

  auto d = perform_request(r, khz::testing::test_request("GET", "/data"));
  EXPECT_EQ(d.status(), 201u);
  EXPECT_EQ(d.body(), std::string("\x01\x02", 2));
  EXPECT_EQ(d.header("Content-Type"), "application/octet-stream");

  auto rd = perform_request(r, khz::testing::test_request("GET", "/redirect"));
  EXPECT_EQ(rd.status(), 302u);
  EXPECT_EQ(rd.header("Location"), "/elsewhere");

  auto bad = perform_request(r, khz::testing::test_request("GET", "/bad-redirect"));
  EXPECT_EQ(bad.status(), 500u) << "a programming error in a handler becomes a 500";
  ASSERT_FALSE(bad.ctx().errors().empty());
  EXPECT_NE(bad.ctx().errors()[0].message.find("3xx"), std::string::npos);

  auto e = perform_request(r, khz::testing::test_request("GET", "/empty"));
  EXPECT_EQ(e.status(), 204u);
  EXPECT_EQ(e.body(), "");

  auto nf = perform_request(r, khz::testing::test_request("GET", "/nf"));
  EXPECT_EQ(nf.status(), 404u);
  EXPECT_EQ(nf.body(), "404 page not found");

  auto h = perform_request(r, khz::testing::test_request("GET", "/hdr"));
  EXPECT_EQ(h.status(), 202u);
  EXPECT_EQ(h.header("X-One"), "1");
  EXPECT_EQ(h.header_count("X-Many"), 2u);
}

TEST(context, data_leaves_exactly_one_content_type) {
  khz::router r;
  r.get("/twice", [](context& c) {
    c.data(200, "text/plain", std::string_view("a"));
    c.data(201, "application/json", std::string_view("{}"));  // replaces the first answer
  });
  r.get("/preset", [](context& c) {
    c.set_header("content-type", "text/html; charset=utf-8");
    c.data(200, "text/plain", std::string_view("x"));
  });
  r.get("/custom", [](context& c) {
    std::string type = " text/csv; header=present ";  // gone when the handler returns
    c.data(200, type, std::string_view("a,b"));
  });
  r.get("/none", [](context& c) { c.data(200, "", std::string_view("raw")); });

  auto twice = perform_request(r, khz::testing::test_request("GET", "/twice"));
  EXPECT_EQ(twice.status(), 201u);
  EXPECT_EQ(twice.header_count("Content-Type"), 1u);
  EXPECT_EQ(twice.header("Content-Type"), "application/json");
  EXPECT_EQ(twice.body(), "{}");

  auto preset = perform_request(r, khz::testing::test_request("GET", "/preset"));
  EXPECT_EQ(preset.header_count("Content-Type"), 1u);
  EXPECT_EQ(preset.header("Content-Type"), "text/plain");

  auto custom = perform_request(r, khz::testing::test_request("GET", "/custom"));
  EXPECT_EQ(custom.header_count("Content-Type"), 1u);
  EXPECT_EQ(custom.header("Content-Type"), "text/csv; header=present") << "copied, without the padding";
  ASSERT_NE(custom.ctx().response().headers().find(khz::known_field::content_type), nullptr)
      << "found by its known kind too";

  auto none = perform_request(r, khz::testing::test_request("GET", "/none"));
  EXPECT_EQ(none.header_count("Content-Type"), 0u);
  EXPECT_EQ(none.body(), "raw");
}

TEST(context, set_cookie_writes_every_attribute) {
  khz::router r;
  r.get("/login", [](context& c) {
    khz::cookie ck;
    ck.name = "sid";
    ck.value = "abc";
    ck.path = "/";
    ck.domain = "example.com";
    ck.max_age = std::chrono::seconds(3600);
    ck.expires = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    ck.secure = true;
    ck.http_only = true;
    ck.same_site = khz::same_site::strict;
    c.set_cookie(ck);
    khz::cookie gone;
    gone.name = "gone";
    gone.max_age = std::chrono::seconds(-1);
    c.set_cookie(gone);
    c.no_content();
  });
  auto res = perform_request(r, khz::testing::test_request("GET", "/login"));
  ASSERT_EQ(res.header_count("Set-Cookie"), 2u);
  EXPECT_EQ(res.header("Set-Cookie"),
            "sid=abc; Path=/; Domain=example.com; Expires=Tue, 14 Nov 2023 22:13:20 GMT; "
            "Max-Age=3600; Secure; "
            "HttpOnly; SameSite=Strict");
  std::vector<std::string> all;
  res.ctx().response().headers().for_each("Set-Cookie",
                                          [&](std::string_view v) { all.emplace_back(v); });
  EXPECT_EQ(all.at(1), "gone=; Max-Age=0");
}

TEST(cookie, invalid_cookies_are_refused_with_a_reason) {
  auto make = [](std::string name, std::string value) {
    khz::cookie c;
    c.name = std::move(name);
    c.value = std::move(value);
    return c;
  };
  EXPECT_THROW(khz::format_set_cookie(make("bad name", "v")), std::invalid_argument);
  EXPECT_THROW(khz::format_set_cookie(make("", "v")), std::invalid_argument);
  try {
    (void)khz::format_set_cookie(make("n", "a;b"));
    FAIL() << "a ';' in a cookie value must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cookie 'n'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(khz::format_set_cookie(make("q", "\"quoted\"")), "q=\"quoted\"");
}

TEST(cookie, find_cookie_parses_the_field) {
  EXPECT_EQ(khz::find_cookie("a=1; b=2;c=3", "c").value_or("?"), "3");
  EXPECT_EQ(khz::find_cookie("a=1; ab=2", "b").has_value(), false);
  EXPECT_EQ(khz::find_cookie("junk; a=\"x\"", "a").value_or("?"), "x");
  EXPECT_FALSE(khz::find_cookie("", "a").has_value());
}

TEST(dispatch, not_found_and_method_not_allowed_defaults) {
  khz::router_options options;
  options.handle_method_not_allowed = true;
  khz::router r(options);
  r.get("/only-get", [](context& c) { c.string(200, "ok"); });
  r.post("/only-get", [](context& c) { c.string(200, "ok"); });
  auto nf = perform_request(r, khz::testing::test_request("GET", "/missing"));
  EXPECT_EQ(nf.status(), 404u);
  EXPECT_EQ(nf.body(), "404 page not found");
  auto na = perform_request(r, khz::testing::test_request("DELETE", "/only-get"));
  EXPECT_EQ(na.status(), 405u);
  EXPECT_EQ(na.header("Allow"), "GET, POST");
  EXPECT_EQ(na.body(), "405 method not allowed");
}

TEST(dispatch, no_route_chain_runs_global_middleware_and_can_answer) {
  khz::router r;
  r.use([](context& c) { c.set_header("X-Global", "yes"); });
  r.no_route([](context& c) { c.string(404, "custom miss for {}", c.path()); });
  auto res = perform_request(r, khz::testing::test_request("GET", "/nowhere"));
  EXPECT_EQ(res.status(), 404u);
  EXPECT_EQ(res.header("X-Global"), "yes");
  EXPECT_EQ(res.body(), "custom miss for /nowhere");
}

TEST(dispatch, trailing_slash_redirect_keeps_the_query) {
  khz::router r;
  r.get("/users", [](context& c) { c.string(200, "list"); });
  r.post("/users", [](context& c) { c.string(200, "create"); });
  auto get = perform_request(r, khz::testing::test_request("GET", "/users/?page=2"));
  EXPECT_EQ(get.status(), 301u);
  EXPECT_EQ(get.header("Location"), "/users?page=2");
  auto post = perform_request(r, khz::testing::test_request("POST", "/users/"));
  EXPECT_EQ(post.status(), 308u);
}

TEST(dispatch, exception_becomes_500_and_next_request_is_fine) {
  khz::router r;
  r.get("/boom", [](context&) { throw std::runtime_error("kaboom"); });
  r.get("/fine", [](context& c) { c.string(200, "fine"); });
  auto boom = perform_request(r, khz::testing::test_request("GET", "/boom"));
  EXPECT_EQ(boom.status(), 500u);
  EXPECT_EQ(boom.body(), "500 Internal Server Error");
  ASSERT_EQ(boom.ctx().errors().size(), 1u);
  EXPECT_NE(boom.ctx().errors()[0].message.find("/boom: kaboom"), std::string::npos)
      << boom.ctx().errors()[0].message;
  EXPECT_EQ(perform_request(r, khz::testing::test_request("GET", "/fine")).body(), "fine");
}

TEST(dispatch, groups_and_middleware_order) {
  khz::router r;
  auto trace = [](std::string tag) {
    return [tag](context& c) {
      std::string* t = c.get<std::string>("trace");
      if (t == nullptr) {
        c.set("trace", std::string());
        t = c.get<std::string>("trace");
      }
      *t += tag + ">";
    };
  };
  r.use(trace("global"));
  auto api = r.group("/api", trace("api"));
  auto v1 = api.group("/v1", trace("v1"));
  v1.get("/ping", trace("handler"),
         [](context& c) { c.string(200, "{}", c.must_get<std::string>("trace")); });
  auto res = perform_request(r, khz::testing::test_request("GET", "/api/v1/ping"));
  EXPECT_EQ(res.body(), "global>api>v1>handler>");
  EXPECT_EQ(res.ctx().full_path(), "/api/v1/ping");
}

// A coroutine handler suspended on an event the test fires.
struct gate {
  std::coroutine_handle<> waiter{};
  struct awaiter {
    gate* g;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { g->waiter = h; }
    void await_resume() const noexcept {}
  };
  awaiter wait() noexcept { return {this}; }
  void open() { std::exchange(waiter, {}).resume(); }
};

TEST(dispatch, async_handler_finishes_later) {
  khz::router r;
  gate g;
  r.get("/slow/:id", [&](context& c) -> khz::task<> {
    co_await g.wait();
    c.string(200, "done {}", c.param("id"));
  });
  auto res = perform_request(r, khz::testing::test_request("GET", "/slow/9"));
  EXPECT_FALSE(res.finished());
  g.open();
  EXPECT_TRUE(res.finished());
  EXPECT_EQ(res.body(), "done 9");
}

TEST(dispatch, async_exception_becomes_500) {
  khz::router r;
  gate g;
  r.get("/late", [&](context&) -> khz::task<> {
    co_await g.wait();
    throw std::runtime_error("late failure");
  });
  auto res = perform_request(r, khz::testing::test_request("GET", "/late"));
  g.open();
  EXPECT_TRUE(res.finished());
  EXPECT_EQ(res.status(), 500u);
}

TEST(context_lifetime, ref_detects_use_after_the_request_ended) {
  khz::router r;
  khz::context_ref kept;
  r.get("/x", [&](context& c) {
    kept = c.ref();
    EXPECT_TRUE(kept.valid());
    EXPECT_EQ(kept->param("nothing"), "");
    c.string(200, "ok");
  });
  auto res = perform_request(r, khz::testing::test_request("GET", "/x"));
  EXPECT_TRUE(kept.valid()) << "still the same request until the owner ends it";
  res.ctx().end_request();
  EXPECT_FALSE(kept.valid());
  try {
    (void)kept.get();
    FAIL() << "a stale context_ref must throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("after its request ended"), std::string::npos);
  }
}

TEST(dispatch, abort_with_status_stops_the_chain) {
  khz::router r;
  r.use([](context& c) {
    if (c.header("X-Token") != "secret") c.abort_with_status(401);
  });
  r.get("/private", [](context& c) { c.string(200, "secret stuff"); });
  EXPECT_EQ(perform_request(r, khz::testing::test_request("GET", "/private")).status(), 401u);
  auto ok =
      perform_request(r, khz::testing::test_request("GET", "/private").header("X-Token", "secret"));
  EXPECT_EQ(ok.body(), "secret stuff");
}

}  // namespace
