// The built-in middleware: recovery, access_log, request_id, basic_auth.
#include <gtest/gtest.h>
#include <khz/core/testing.hpp>
#include <khz/middleware/access_log.hpp>
#include <khz/middleware/basic_auth.hpp>
#include <khz/middleware/recovery.hpp>
#include <khz/middleware/request_id.hpp>

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using khz::context;
using khz::testing::perform_request;
using khz::testing::test_request;

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

TEST(recovery, turns_a_sync_exception_into_500_and_reports_the_route) {
  khz::router r;
  std::string reported;
  khz::recovery_options o;
  o.on_error = [&](context& c, std::string_view what) {
    reported = std::string(c.full_path()) + ": " + std::string(what);
  };
  r.use(khz::recovery(std::move(o)));
  r.get("/users/:id", [](context& c) {
    c.set_header("X-Partial", "yes");
    throw std::runtime_error("db down");
  });
  auto res = perform_request(r, test_request("GET", "/users/7"));
  EXPECT_EQ(res.status(), 500u);
  EXPECT_EQ(res.body(), "500 Internal Server Error");
  EXPECT_EQ(res.header("X-Partial"), "") << "headers of the failed response are dropped";
  EXPECT_EQ(reported, "/users/:id: db down");
  ASSERT_EQ(res.ctx().errors().size(), 1u);
  EXPECT_EQ(res.ctx().errors()[0].code, khz::errc::internal);
}

TEST(recovery, catches_an_exception_thrown_after_a_suspension) {
  khz::router r;
  gate g;
  int reports = 0;
  khz::recovery_options o;
  o.on_error = [&](context&, std::string_view) { ++reports; };
  r.use(khz::recovery(std::move(o)));
  r.get("/async", [&](context&) -> khz::task<> {
    co_await g.wait();
    throw std::logic_error("late");
  });
  auto res = perform_request(r, test_request("GET", "/async"));
  EXPECT_FALSE(res.finished());
  g.open();
  EXPECT_TRUE(res.finished());
  EXPECT_EQ(res.status(), 500u);
  EXPECT_EQ(reports, 1);
}

TEST(recovery, leaves_good_requests_alone) {
  khz::router r;
  r.use(khz::recovery());
  r.get("/ok", [](context& c) { c.string(200, "fine"); });
  auto res = perform_request(r, test_request("GET", "/ok"));
  EXPECT_EQ(res.status(), 200u);
  EXPECT_EQ(res.body(), "fine");
  EXPECT_TRUE(res.ctx().errors().empty());
}

TEST(access_log, writes_the_configured_fields) {
  khz::router r;
  std::vector<std::string> lines;
  khz::access_log_options o;
  o.fields = {khz::log_field::status,     khz::log_field::method,    khz::log_field::path,
              khz::log_field::full_path,  khz::log_field::bytes_out, khz::log_field::user_agent,
              khz::log_field::request_id, khz::log_field::client_ip};
  o.sink = [&](std::string_view line) { lines.emplace_back(line); };
  r.use(khz::request_id());
  r.use(khz::access_log(std::move(o)));
  r.get("/items/:id", [](context& c) { c.string(201, "created"); });
  auto res = perform_request(r, test_request("GET", "/items/3?x=1")
                                    .header("User-Agent", "probe")
                                    .header("X-Request-ID", "abc"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "201 | GET | /items/3 | /items/:id | 7 | probe | abc | 127.0.0.1");
}

TEST(access_log, measures_the_real_duration_of_an_async_handler) {
  khz::router r;
  gate g;
  std::vector<std::string> lines;
  khz::access_log_options o;
  o.fields = {khz::log_field::latency};
  o.sink = [&](std::string_view line) { lines.emplace_back(line); };
  r.use(khz::access_log(std::move(o)));
  r.get("/slow", [&](context& c) -> khz::task<> {
    co_await g.wait();
    c.string(200, "done");
  });
  auto res = perform_request(r, test_request("GET", "/slow"));
  EXPECT_TRUE(lines.empty()) << "nothing is logged while the handler is suspended";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  g.open();
  ASSERT_EQ(lines.size(), 1u);
  // The line is written after the suspension: its latency covers the 20 ms wait.
  EXPECT_TRUE(lines[0].ends_with("ms") || lines[0].ends_with("s")) << lines[0];
  EXPECT_FALSE(lines[0].ends_with("µs")) << lines[0];
  double value = std::stod(lines[0]);
  // A lower bound only (the clock cannot run backwards): not a performance assertion.
  if (lines[0].ends_with("ms")) {
    EXPECT_GE(value, 20.0) << lines[0];
  }
}

TEST(access_log, logs_failed_requests_and_rethrows) {
  khz::router r;
  std::vector<std::string> lines;
  khz::access_log_options o;
  o.fields = {khz::log_field::status, khz::log_field::path};
  o.sink = [&](std::string_view line) { lines.emplace_back(line); };
  r.use(khz::access_log(std::move(o)));
  r.get("/boom", [](context&) { throw std::runtime_error("x"); });
  auto res = perform_request(r, test_request("GET", "/boom"));
  EXPECT_EQ(res.status(), 500u) << "the exception still reaches the server, which answers 500";
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "200 | /boom")
      << "logged before the server turned it into a 500: recovery() goes first";
}

TEST(request_id, generates_an_id_when_the_client_sends_none) {
  khz::router r;
  r.use(khz::request_id());
  std::string seen;
  r.get("/", [&](context& c) { seen = std::string(khz::request_id_of(c)); });
  auto a = perform_request(r, test_request("GET", "/"));
  EXPECT_EQ(seen.size(), 32u);
  EXPECT_EQ(a.header("X-Request-ID"), seen);
  auto b = perform_request(r, test_request("GET", "/"));
  EXPECT_NE(b.header("X-Request-ID"), a.header("X-Request-ID")) << "ids are random";
}

TEST(request_id, propagates_a_good_id_and_replaces_a_bad_one) {
  khz::router r;
  khz::request_id_options o;
  o.header = "X-Trace";
  int made = 0;
  o.generator = [&] { return "gen-" + std::to_string(++made); };
  r.use(khz::request_id(std::move(o)));
  r.get("/", [](context& c) { c.no_content(); });
  EXPECT_EQ(
      perform_request(r, test_request("GET", "/").header("X-Trace", "client-42")).header("X-Trace"),
      "client-42");
  EXPECT_EQ(
      perform_request(r, test_request("GET", "/").header("X-Trace", "has space")).header("X-Trace"),
      "gen-1");
  EXPECT_EQ(perform_request(r, test_request("GET", "/").header("X-Trace", std::string(300, 'a')))
                .header("X-Trace"),
            "gen-2");
}

TEST(basic_auth, accepts_valid_credentials_and_names_the_user) {
  khz::router r;
  r.use(khz::basic_auth({{"ada", "lovelace"}, {"alan", "turing"}}, "staff"));
  r.get("/admin", [](context& c) { c.string(200, "hello {}", c.must_get<std::string>("user")); });
  // "alan:turing"
  auto ok = perform_request(
      r, test_request("GET", "/admin").header("Authorization", "Basic YWxhbjp0dXJpbmc="));
  EXPECT_EQ(ok.status(), 200u);
  EXPECT_EQ(ok.body(), "hello alan");
}

TEST(basic_auth, refuses_missing_wrong_and_malformed_credentials) {
  khz::router r;
  r.use(khz::basic_auth({{"ada", "lovelace"}}, "staff"));
  r.get("/admin", [](context& c) { c.string(200, "secret"); });
  const char* bad[] = {
      nullptr,                    // no header
      "Basic YWRhOndyb25n",       // ada:wrong
      "Basic YWRhOmxvdmVsYWNl=",  // bad padding
      "Bearer YWRhOmxvdmVsYWNl",  // other scheme
      "Basic YWRhbG92ZWxhY2U=",   // no colon
      "Basic !!!!",               // not base64
  };
  for (const char* header : bad) {
    test_request req("GET", "/admin");
    if (header != nullptr) req.header("Authorization", header);
    auto res = perform_request(r, std::move(req));
    EXPECT_EQ(res.status(), 401u) << (header ? header : "(none)");
    EXPECT_EQ(res.header("WWW-Authenticate"), "Basic realm=\"staff\", charset=\"UTF-8\"");
    EXPECT_EQ(res.body(), "401 Unauthorized");
  }
  auto good = perform_request(
      r, test_request("GET", "/admin").header("Authorization", "Basic YWRhOmxvdmVsYWNl"));
  EXPECT_EQ(good.status(), 200u);
}

TEST(basic_auth, bad_account_is_a_setup_error) {
  EXPECT_THROW(khz::basic_auth({{"a:b", "x"}}), std::invalid_argument);
  EXPECT_THROW(khz::basic_auth({{"", "x"}}), std::invalid_argument);
}

TEST(base64, decodes_rfc4648_vectors) {
  std::string out;
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"Zg==", "f"},
                                                         {"Zm8=", "fo"},
                                                         {"Zm9v", "foo"},
                                                         {"Zm9vYg==", "foob"},
                                                         {"Zm9vYmE=", "fooba"},
                                                         {"Zm9vYmFy", "foobar"}};
  for (auto [in, expect] : vectors) {
    ASSERT_TRUE(khz::detail::base64_decode(in, out)) << in;
    EXPECT_EQ(out, expect);
  }
  EXPECT_FALSE(khz::detail::base64_decode("Zg=", out));
  EXPECT_FALSE(khz::detail::base64_decode("Z===", out));
  EXPECT_FALSE(khz::detail::base64_decode("Zg==Zg==", out));
}

}  // namespace
