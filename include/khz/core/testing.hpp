#pragma once
// khz::testing::perform_request: runs a request through a router and its chains in
// process, without sockets (Hertz's ut.PerformRequest). For unit tests of handlers and
// middleware:
//
//   khz::router r;
//   r.get("/hello/:name", [](khz::context& c) { c.string(200, "hi {}", c.param("name")); });
//   auto res = khz::testing::perform_request(r, khz::testing::test_request("GET", "/hello/ada"));
//   EXPECT_EQ(res.status(), 200);
//   EXPECT_EQ(res.body(), "hi ada");
//
// A chain whose coroutine handlers suspend on something the test drives (a timer it
// fires, an event it sets) is not finished when perform_request returns: finished()
// says so, and the result keeps the context alive until the test has driven it to the end.

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE
namespace testing {

class performed_request;
class test_request;
performed_request perform_request(const router& r, test_request req);

// A request to perform: method and target, then fluent setters.
//   test_request("POST", "/form").header("Content-Type", "...").body("a=1").remote_ip("10.0.0.1")
class test_request {
 public:
  explicit test_request(std::string method = "GET", std::string target = "/")
      : method_(std::move(method)), target_(std::move(target)) {}
  // Host is added when no header sets it.
  test_request& header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Content-Length is added for a body when no header sets it.
  test_request& body(std::string bytes) {
    body_ = std::move(bytes);
    return *this;
  }
  test_request& remote_ip(std::string ip) {
    remote_ip_ = std::move(ip);
    return *this;
  }
  // Rules for client_ip() (not owned; must outlive the performed request).
  test_request& client_ip_rules(const client_ip_resolver* rules) {
    client_ip_rules_ = rules;
    return *this;
  }

 private:
  friend performed_request perform_request(const router& r, test_request req);
  std::string method_;
  std::string target_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  std::string remote_ip_ = "127.0.0.1";
  const client_ip_resolver* client_ip_rules_ = nullptr;
};

class performed_request {
 public:
  bool finished() const noexcept { return *finished_; }
  unsigned status() const noexcept { return ctx_->response().status_code(); }
  // The first response header of that name; empty when absent.
  std::string_view header(std::string_view name) const noexcept { return ctx_->response().headers().get(name); }
  std::size_t header_count(std::string_view name) const noexcept { return ctx_->response().headers().count(name); }
  // The response body (a copy).
  std::string body() const {
    std::string out(ctx_->response().body().size(), '\0');
    ctx_->response().body().copy_to({out.data(), out.size()});
    return out;
  }
  context& ctx() noexcept { return *ctx_; }

 private:
  friend performed_request perform_request(const router& r, test_request req);
  std::unique_ptr<context> ctx_ = std::make_unique<context>();
  std::unique_ptr<bool> finished_ = std::make_unique<bool>(false);
};

performed_request perform_request(const router& r, test_request req);
inline performed_request perform_request(const router& r, std::string method, std::string target) {
  return perform_request(r, test_request(std::move(method), std::move(target)));
}

}  // namespace testing
KHZ_END_NAMESPACE
