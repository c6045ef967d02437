// Lookup options: trailing-slash and fixed-path redirects, extra-slash removal, raw-path matching.

#include "route_test_util.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace route_test;

TEST(route_redirect, trailing_slash_both_directions) {
  router r;
  r.get("/users", h("users"));
  r.get("/docs/", h("docs"));
  r.get("/u/:id/", h("user"));
  EXPECT_EQ(target(r.match("GET", "/users/")), "redirect 301 /users");
  EXPECT_EQ(target(r.match("GET", "/docs")), "redirect 301 /docs/");
  EXPECT_EQ(target(r.match("GET", "/u/7")), "redirect 301 /u/7/");
  const auto m = r.match("GET", "/users/");
  EXPECT_EQ(m.kind, khz::route_match_kind::redirect);
  EXPECT_EQ(m.handlers, nullptr);
  EXPECT_TRUE(m.params.empty());
  EXPECT_TRUE(m.full_path.empty());
  // Only when the other form exists.
  EXPECT_EQ(target(r.match("GET", "/nothing/")), "404");
  EXPECT_EQ(target(r.match("GET", "/")), "404");
}

TEST(route_redirect, status_depends_on_method_and_query_is_kept) {
  router r;
  for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PURGE"}) {
    r.handle(m, "/items", h(std::string(m)));
  }
  EXPECT_EQ(target(r.match("GET", "/items/")), "redirect 301 /items");
  EXPECT_EQ(target(r.match("HEAD", "/items/")), "redirect 301 /items");
  EXPECT_EQ(target(r.match("POST", "/items/")), "redirect 308 /items");
  EXPECT_EQ(target(r.match("PUT", "/items/")), "redirect 308 /items");
  EXPECT_EQ(target(r.match("PATCH", "/items/")), "redirect 308 /items");
  EXPECT_EQ(target(r.match("DELETE", "/items/")), "redirect 308 /items");
  EXPECT_EQ(target(r.match("PURGE", "/items/")), "redirect 308 /items");
  EXPECT_EQ(target(r.match("GET", "/items/", "page=2&q=a%20b")), "redirect 301 /items?page=2&q=a%20b");
  // CONNECT is never redirected.
  r.connect("/tunnel", h("connect"));
  EXPECT_EQ(target(r.match("CONNECT", "/tunnel/")), "404");
}

TEST(route_redirect, trailing_slash_can_be_disabled) {
  router r(khz::router_options{.redirect_trailing_slash = false});
  r.get("/users", h("users"));
  r.get("/docs/", h("docs"));
  EXPECT_EQ(target(r.match("GET", "/users/")), "404");
  EXPECT_EQ(target(r.match("GET", "/docs")), "404");
}

TEST(route_redirect, fixed_path_is_off_by_default) {
  router r;
  r.get("/users/list", h("list"));
  EXPECT_EQ(target(r.match("GET", "/USERS/list")), "404");
  EXPECT_EQ(target(r.match("GET", "/users/../users/list")), "404");
}

TEST(route_redirect, fixed_path_case_insensitive_and_cleaned) {
  router r(khz::router_options{.redirect_fixed_path = true});
  r.get("/users/list", h("list"));
  r.get("/users/:name/Repos", h("repos"));
  r.get("/Static/*file", h("static"));
  r.get("/dir/", h("dir"));
  EXPECT_EQ(target(r.match("GET", "/USERS/LIST")), "redirect 301 /users/list");
  EXPECT_EQ(target(r.match("GET", "/Users/List", "a=1")), "redirect 301 /users/list?a=1");
  EXPECT_EQ(target(r.match("POST", "/x")), "404");
  EXPECT_EQ(target(r.match("GET", "/users//list")), "redirect 301 /users/list");
  EXPECT_EQ(target(r.match("GET", "/a/../users/./list")), "redirect 301 /users/list");
  // Parameter values keep their case, static parts take the registered spelling.
  EXPECT_EQ(target(r.match("GET", "/USERS/GoPher/repos")), "redirect 301 /users/GoPher/Repos");
  EXPECT_EQ(target(r.match("GET", "/static/A/B.txt")), "redirect 301 /Static/A/B.txt");
  // Combined with the trailing slash fix.
  EXPECT_EQ(target(r.match("GET", "/DIR")), "redirect 301 /dir/");
  EXPECT_EQ(target(r.match("GET", "/USERS/LIST/")), "redirect 301 /users/list");
  EXPECT_EQ(target(r.match("GET", "/nothing/here")), "404");
}

TEST(route_redirect, fixed_path_for_other_methods_uses_308) {
  router r(khz::router_options{.redirect_fixed_path = true});
  r.post("/Upload", h("upload"));
  EXPECT_EQ(target(r.match("POST", "/upload")), "redirect 308 /Upload");
}

TEST(route_options, remove_extra_slash_matches_the_cleaned_path) {
  router r(khz::router_options{.remove_extra_slash = true});
  r.get("/a/b", h("ab"));
  r.get("/u/:name/x", h("user"));
  EXPECT_EQ(target(r.match("GET", "//a///b")), "ab");
  EXPECT_EQ(target(r.match("GET", "/a/./b")), "ab");
  EXPECT_EQ(target(r.match("GET", "/c/../a/b")), "ab");
  auto m = r.match("GET", "//u//bob//x");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("name"), "bob");
  // The value lives in the match (the cleaned path is not the caller's string): copy and check.
  const auto copy = m;
  m = r.match("GET", "/a/b");
  EXPECT_EQ(copy.params.get("name"), "bob");
  router plain;
  plain.get("/a/b", h("ab"));
  EXPECT_EQ(target(plain.match("GET", "//a///b")), "404");
  // Redirects are computed on the cleaned path.
  EXPECT_EQ(target(r.match("GET", "//a//b/", "q=1")), "redirect 301 /a/b?q=1");
}

TEST(route_redirect, never_for_a_target_that_is_not_a_path) {
  router r(khz::router_options{.redirect_fixed_path = true});
  r.any("/*all", h("all"));
  EXPECT_EQ(target(r.match("OPTIONS", "*")), "404");
  EXPECT_EQ(target(r.match("GET", "users")), "404");
  EXPECT_EQ(target(r.match("GET", "/users")), "all");
}

TEST(route_redirect, only_within_the_method) {
  router r;
  r.get("/users", h("users"));
  EXPECT_EQ(target(r.match("POST", "/users/")), "404");
  EXPECT_EQ(target(r.match("PURGE", "/users/")), "404");
}

TEST(route_options, default_mode_decodes_the_path_before_matching) {
  router r;
  r.get("/user/:name", h("user"));
  r.get("/caf\xc3\xa9", h("cafe"));
  auto m = r.match("GET", "/user/a%20b");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("name"), "a b");
  EXPECT_EQ(target(r.match("GET", "/caf%C3%A9")), "cafe");
  // %2F becomes a '/' and splits the segment.
  EXPECT_EQ(target(r.match("GET", "/user/a%2Fb")), "404");
  // Invalid escapes stay as they are.
  m = r.match("GET", "/user/100%zz");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("name"), "100%zz");
}

TEST(route_options, raw_path_with_escaped_params) {
  router r(khz::router_options{.use_raw_path = true});
  r.get("/user/:name", h("user"));
  r.get("/files/*path", h("files"));
  const std::string path = "/user/a%2Fb";
  auto m = r.match("GET", path);
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("name"), "a/b");
  m = r.match("GET", "/files/dir%2Fx/y%20z");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("path"), "dir/x/y z");
  // Values without escapes stay views into the caller's path.
  const std::string plain = "/user/bob";
  m = r.match("GET", plain);
  EXPECT_EQ(m.params.get("name").data(), plain.data() + 6);
  // unescape_path_values = false keeps the raw value.
  router raw(khz::router_options{.use_raw_path = true, .unescape_path_values = false});
  raw.get("/user/:name", h("user"));
  EXPECT_EQ(raw.match("GET", "/user/a%2Fb").params.get("name"), "a%2Fb");
}

TEST(route_options, decoded_values_survive_copy_move_and_long_paths) {
  router r(khz::router_options{.use_raw_path = true});
  r.get("/k/:a/:b", h("k"));
  route_test::match copy;
  {
    std::string path = "/k/x%20y/%41%42";
    auto m = r.match("GET", path);
    ASSERT_TRUE(m.found());
    copy = m;
    route_test::match moved = std::move(m);
    EXPECT_EQ(moved.params.get("a"), "x y");
    path.assign(path.size(), '#');  // the decoded values do not depend on the caller's string
  }
  EXPECT_EQ(copy.params.get("a"), "x y");
  EXPECT_EQ(copy.params.get("b"), "AB");
  // Longer than the inline buffer: the decoded bytes go to the heap, same results.
  const std::string long_a(300, 'a');
  const std::string long_b(300, 'b');
  const std::string long_path = "/k/" + long_a + "%21/" + long_b;  // b stays a view into it
  auto m = r.match("GET", long_path);
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("a"), long_a + "!");
  EXPECT_EQ(m.params.get("b"), long_b);
  const auto m2 = m;
  m = r.match("GET", "/k/1/2");
  EXPECT_EQ(m2.params.get("a"), long_a + "!");
}

TEST(route_options, redirect_location_is_escaped_in_decoded_mode) {
  router r(khz::router_options{.redirect_fixed_path = true});
  r.get("/Name/:v", h("n"));
  r.get("/dir/", h("dir"));
  EXPECT_EQ(target(r.match("GET", "/name/a%20b")), "redirect 301 /Name/a%20b");
  EXPECT_EQ(target(r.match("GET", "/d%69r")), "redirect 301 /dir/");
  router raw(khz::router_options{.redirect_fixed_path = true, .use_raw_path = true});
  raw.get("/Name/:v", h("n"));
  EXPECT_EQ(target(raw.match("GET", "/name/a%20b")), "redirect 301 /Name/a%20b");
}

}  // namespace
