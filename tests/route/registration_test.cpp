// Registration errors: each throws std::invalid_argument at registration with a message that
// names the route(s) involved and says what to change.

#include "route_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using namespace route_test;
using ::testing::HasSubstr;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(route_registration, conflicting_parameter_names_name_both_routes) {
  router r;
  r.get("/user/:id/profile", h("profile"));
  const std::string msg = error_of([&] { r.get("/user/:name", h("by_name")); });
  EXPECT_THAT(msg, HasSubstr("'GET /user/:name' (handler 'by_name')"));
  EXPECT_THAT(msg, HasSubstr("'GET /user/:id/profile' (handler 'profile')"));
  EXPECT_THAT(msg, HasSubstr("rename ':name' to ':id'"));
  // The tree still works, and the same name at that position is fine.
  r.get("/user/:id", h("show"));
  EXPECT_EQ(target(r.match("GET", "/user/5")), "show");
  EXPECT_EQ(target(r.match("GET", "/user/5/profile")), "profile");
  // Another method has its own tree: no conflict.
  r.post("/user/:name", h("post"));
  EXPECT_EQ(r.match("POST", "/user/bob").params.get("name"), "bob");
}

TEST(route_registration, conflicting_catch_all_names_name_both_routes) {
  router r;
  r.get("/static/*filepath", h("files"));
  const std::string msg = error_of([&] { r.get("/static/*path", h("other")); });
  EXPECT_THAT(msg, HasSubstr("'GET /static/*path'"));
  EXPECT_THAT(msg, HasSubstr("'GET /static/*filepath'"));
  EXPECT_THAT(msg, HasSubstr("rename '*path' to '*filepath'"));
}

TEST(route_registration, param_and_catch_all_at_one_position_coexist) {
  router r;
  r.get("/f/:name", h("one"));
  r.get("/f/*rest", h("rest"));
  EXPECT_EQ(target(r.match("GET", "/f/a")), "one");
  EXPECT_EQ(target(r.match("GET", "/f/a/b")), "rest");
}

TEST(route_registration, duplicate_route_names_both_registrations) {
  router r;
  r.get("/users/:id", h("first"));
  const std::string msg = error_of([&] { r.get("/users/:id", h("second")); });
  EXPECT_THAT(msg, HasSubstr("duplicate route"));
  EXPECT_THAT(msg, HasSubstr("'GET /users/:id' (handler 'second')"));
  EXPECT_THAT(msg, HasSubstr("'GET /users/:id' (handler 'first')"));
  EXPECT_THAT(msg, HasSubstr("remove one of them or change its method or path"));
  // Through a group the full path is what is compared and shown.
  auto g = r.group("/users");
  EXPECT_THAT(error_of([&] { g.get("/:id", h("third")); }), HasSubstr("'GET /users/:id' (handler 'third')"));
  EXPECT_THAT(error_of([&] { r.get("/", h("a")); r.get("/", h("b")); }), HasSubstr("'GET /'"));
  // Static duplicates too, and any() reports the clashing method.
  r.put("/x", h("put"));
  EXPECT_THAT(error_of([&] { r.any("/x", h("any")); }), HasSubstr("'PUT /x' (handler 'any')"));
}

TEST(route_registration, unnamed_wildcards) {
  router r;
  std::string msg = error_of([&] { r.get("/user/:", h("x")); });
  EXPECT_THAT(msg, HasSubstr("'GET /user/:'"));
  EXPECT_THAT(msg, HasSubstr("wildcards must be named"));
  msg = error_of([&] { r.get("/user/:/x", h("x")); });
  EXPECT_THAT(msg, HasSubstr("has no name"));
  msg = error_of([&] { r.get("/src/*", h("x")); });
  EXPECT_THAT(msg, HasSubstr("'GET /src/*'"));
  EXPECT_THAT(msg, HasSubstr("'*filepath'"));
}

TEST(route_registration, two_wildcards_in_one_segment) {
  router r;
  std::string msg = error_of([&] { r.get("/:a:b", h("x")); });
  EXPECT_THAT(msg, HasSubstr("'GET /:a:b'"));
  EXPECT_THAT(msg, HasSubstr("only one wildcard per path segment"));
  msg = error_of([&] { r.get("/x/:a*b/c", h("x")); });
  EXPECT_THAT(msg, HasSubstr("segment ':a*b'"));
  msg = error_of([&] { r.get("/x/*a:b", h("x")); });
  EXPECT_THAT(msg, HasSubstr("only one wildcard per path segment"));
}

TEST(route_registration, catch_all_must_be_last_and_start_a_segment) {
  router r;
  std::string msg = error_of([&] { r.get("/src/*filepath/edit", h("x")); });
  EXPECT_THAT(msg, HasSubstr("'GET /src/*filepath/edit'"));
  EXPECT_THAT(msg, HasSubstr("must be the last segment"));
  EXPECT_THAT(msg, HasSubstr("':filepath'"));
  msg = error_of([&] { r.get("/src*filepath", h("x")); });
  EXPECT_THAT(msg, HasSubstr("must start a segment"));
  EXPECT_THAT(msg, HasSubstr("write '/src/*filepath'"));
}

TEST(route_registration, path_must_begin_with_slash) {
  router r;
  std::string msg = error_of([&] { r.get("users", h("x")); });
  EXPECT_THAT(msg, HasSubstr("'GET users'"));
  EXPECT_THAT(msg, HasSubstr("must begin with '/'; register '/users' instead"));
  EXPECT_THAT(error_of([&] { r.get("", h("x")); }), HasSubstr("must begin with '/'"));
}

TEST(route_registration, no_handler_and_bad_method) {
  router r;
  EXPECT_THAT(error_of([&] { r.get("/x"); }), HasSubstr("'GET /x' has no handler"));
  EXPECT_THAT(error_of([&] { r.handle("BAD METHOD", "/x", h("x")); }),
              HasSubstr("must be a non-empty HTTP token"));
  EXPECT_THAT(error_of([&] { r.handle("", "/x", h("x")); }), HasSubstr("HTTP token"));
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(target(r.match("GET", "/x")), "404");
}

TEST(route_registration, failed_registration_leaves_matching_unchanged) {
  router r;
  r.get("/abc/:id", h("abc"));
  r.get("/abd", h("abd"));
  // Fails after walking (and splitting) existing nodes.
  EXPECT_NE(error_of([&] { r.get("/ab/:x/y", h("a")); r.get("/ab/:z/w", h("b")); }), "(no exception)");
  EXPECT_EQ(target(r.match("GET", "/abc/1")), "abc");
  EXPECT_EQ(target(r.match("GET", "/abd")), "abd");
  EXPECT_EQ(target(r.match("GET", "/ab/1/y")), "a");
  EXPECT_EQ(target(r.match("GET", "/ab/1/w")), "404");
  EXPECT_EQ(r.size(), 3u);
}

}  // namespace
