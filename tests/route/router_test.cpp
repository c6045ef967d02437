// Matching rules: static, :param, *catch-all, priority with backtracking, methods, groups,
// middleware order, fallback chains, routes().

#include "route_test_util.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>

namespace {

using namespace route_test;

TEST(router_match, static_routes) {
  router r;
  r.get("/", h("root"));
  r.get("/users", h("users"));
  r.get("/users/new", h("new"));
  r.get("/user", h("user"));
  r.get("/us", h("us"));
  EXPECT_EQ(target(r.match("GET", "/")), "root");
  EXPECT_EQ(target(r.match("GET", "/users")), "users");
  EXPECT_EQ(target(r.match("GET", "/users/new")), "new");
  EXPECT_EQ(target(r.match("GET", "/user")), "user");
  EXPECT_EQ(target(r.match("GET", "/us")), "us");
  EXPECT_EQ(target(r.match("GET", "/u")), "404");
  EXPECT_EQ(target(r.match("GET", "/usersx")), "404");
  EXPECT_EQ(target(r.match("GET", "")), "404");
  const auto m = r.match("GET", "/users/new");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.full_path, "/users/new");
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(m.route_index, 2);
}

TEST(router_match, params_are_views_into_the_path) {
  router r;
  r.get("/users/:id", h("user"));
  r.get("/repos/:owner/:repo/issues/:number", h("issue"));
  const std::string path = "/repos/cloudwego/hertz/issues/42";
  const auto m = r.match("GET", path);
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.full_path, "/repos/:owner/:repo/issues/:number");
  ASSERT_EQ(m.params.size(), 3u);
  EXPECT_EQ(m.params.get("owner"), "cloudwego");
  EXPECT_EQ(m.params.get("repo"), "hertz");
  EXPECT_EQ(m.params.get("number"), "42");
  EXPECT_EQ(m.params.get("missing"), "");
  EXPECT_FALSE(m.params.find("missing").has_value());
  // Zero copy: the value points into the caller's string.
  EXPECT_EQ(m.params.get("owner").data(), path.data() + 7);
  EXPECT_EQ(m.params[0].key, "owner");
  EXPECT_EQ(m.params[2].value, "42");
  std::string joined;
  for (auto [key, value] : m.params) joined += std::string(key) + "=" + std::string(value) + ";";
  EXPECT_EQ(joined, "owner=cloudwego;repo=hertz;number=42;");
  // A parameter is one non-empty segment.
  EXPECT_EQ(target(r.match("GET", "/users/")), "404");
  EXPECT_EQ(target(r.match("GET", "/users/1/2")), "404");
}

TEST(router_match, param_inside_a_segment) {
  router r;
  r.get("/files/v:version/list", h("list"));
  r.get("/user_:name", h("user"));
  auto m = r.match("GET", "/files/v1.2/list");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("version"), "1.2");
  m = r.match("GET", "/user_gopher");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("name"), "gopher");
  EXPECT_EQ(target(r.match("GET", "/user_")), "404");
}

TEST(router_match, catch_all) {
  router r;
  r.get("/src/*filepath", h("src"));
  r.get("/*all", h("all"));
  auto m = r.match("GET", "/src/a/b/c.txt");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "src");
  EXPECT_EQ(m.params.get("filepath"), "a/b/c.txt");
  // "/src/" matches with an empty value.
  m = r.match("GET", "/src/");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "src");
  ASSERT_TRUE(m.params.find("filepath").has_value());
  EXPECT_EQ(*m.params.find("filepath"), "");
  // "/src" is not "/src/": the root catch-all takes it.
  m = r.match("GET", "/src");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "all");
  EXPECT_EQ(m.params.get("all"), "src");
  m = r.match("GET", "/");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("all"), "");
  m = r.match("GET", "/src//x");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("filepath"), "/x");
}

TEST(router_match, catch_all_without_trailing_slash_redirects_or_misses) {
  router r;
  r.get("/src/*filepath", h("src"));
  EXPECT_EQ(target(r.match("GET", "/src")), "redirect 301 /src/");
  router no_redirect(khz::router_options{.redirect_trailing_slash = false});
  no_redirect.get("/src/*filepath", h("src"));
  EXPECT_EQ(target(no_redirect.match("GET", "/src")), "404");
  EXPECT_EQ(target(no_redirect.match("GET", "/src/")), "src");
}

TEST(router_match, priority_static_then_param_then_catch_all) {
  router r;
  r.get("/a/new", h("static"));
  r.get("/a/:id", h("param"));
  r.get("/a/*rest", h("catchall"));
  EXPECT_EQ(target(r.match("GET", "/a/new")), "static");
  EXPECT_EQ(target(r.match("GET", "/a/newer")), "param");
  EXPECT_EQ(target(r.match("GET", "/a/ne")), "param");
  EXPECT_EQ(target(r.match("GET", "/a/x")), "param");
  EXPECT_EQ(target(r.match("GET", "/a/x/y")), "catchall");
  EXPECT_EQ(target(r.match("GET", "/a/")), "catchall");
  // Registration order does not matter.
  router rev;
  rev.get("/a/*rest", h("catchall"));
  rev.get("/a/:id", h("param"));
  rev.get("/a/new", h("static"));
  EXPECT_EQ(target(rev.match("GET", "/a/new")), "static");
  EXPECT_EQ(target(rev.match("GET", "/a/x")), "param");
  EXPECT_EQ(target(rev.match("GET", "/a/x/y")), "catchall");
}

TEST(router_match, backtracking) {
  router r;
  r.get("/a/b", h("ab"));
  r.get("/:c/d", h("cd"));
  auto m = r.match("GET", "/a/d");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "cd");
  EXPECT_EQ(m.params.get("c"), "a");
  EXPECT_EQ(target(r.match("GET", "/a/b")), "ab");
  EXPECT_EQ(target(r.match("GET", "/x/d")), "cd");
  EXPECT_EQ(target(r.match("GET", "/a/e")), "404");
}

TEST(router_match, deep_backtracking_restores_params) {
  router r;
  r.get("/:a/:b/x", h("params-x"));
  r.get("/s/t/y", h("static-y"));
  r.get("/s/:b/z", h("static-param-z"));
  r.get("/*rest", h("catchall"));
  auto m = r.match("GET", "/s/t/x");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "params-x");
  ASSERT_EQ(m.params.size(), 2u);  // no leftovers from the abandoned "/s/:b" branch
  EXPECT_EQ(m.params.get("a"), "s");
  EXPECT_EQ(m.params.get("b"), "t");
  m = r.match("GET", "/s/t/z");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "static-param-z");
  ASSERT_EQ(m.params.size(), 1u);
  m = r.match("GET", "/s/t/w");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.handlers->back().id, "catchall");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params.get("rest"), "s/t/w");
  // Static prefix that overlaps a parameter's segment: "/ab" is static, "/abc" must fall back.
  router p;
  p.get("/ab", h("ab"));
  p.get("/:x", h("x"));
  EXPECT_EQ(target(p.match("GET", "/ab")), "ab");
  EXPECT_EQ(target(p.match("GET", "/abc")), "x");
  EXPECT_EQ(target(p.match("GET", "/a")), "x");
}

TEST(router_match, more_than_eight_params) {
  router r;
  r.get("/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j", h("ten"));
  const auto m = r.match("GET", "/1/2/3/4/5/6/7/8/9/10");
  ASSERT_TRUE(m.found());
  ASSERT_EQ(m.params.size(), 10u);
  EXPECT_EQ(m.params.get("a"), "1");
  EXPECT_EQ(m.params.get("h"), "8");
  EXPECT_EQ(m.params.get("i"), "9");
  EXPECT_EQ(m.params.get("j"), "10");
  std::string keys;
  for (auto p : m.params) keys += p.key;
  EXPECT_EQ(keys, "abcdefghij");
  const khz::route_params copy = m.params;
  EXPECT_EQ(copy.get("j"), "10");
}

TEST(router_match, methods_are_separate_and_any_token_works) {
  router r;
  r.get("/x", h("get"));
  r.post("/x", h("post"));
  r.handle("PURGE", "/x", h("purge"));
  r.handle("M-SEARCH", "/x", h("msearch"));
  r.del("/x", h("delete"));
  EXPECT_EQ(target(r.match("GET", "/x")), "get");
  EXPECT_EQ(target(r.match("POST", "/x")), "post");
  EXPECT_EQ(target(r.match("PURGE", "/x")), "purge");
  EXPECT_EQ(target(r.match("M-SEARCH", "/x")), "msearch");
  EXPECT_EQ(target(r.match("DELETE", "/x")), "delete");
  EXPECT_EQ(target(r.match("get", "/x")), "404");  // methods are case-sensitive
  EXPECT_EQ(target(r.match("PUT", "/x")), "404");
}

TEST(router_match, any_registers_every_standard_method) {
  router r;
  r.any("/ping", h("ping"));
  for (std::string_view m : khz::standard_methods) {
    EXPECT_EQ(target(r.match(m, "/ping")), "ping") << m;
  }
  EXPECT_EQ(target(r.match("PURGE", "/ping")), "404");
  const auto routes = r.routes();
  ASSERT_EQ(routes.size(), 9u);
  EXPECT_EQ(routes[0].method, "GET");
  EXPECT_EQ(routes[8].method, "TRACE");
}

TEST(router_chain, global_group_route_order) {
  router r;
  r.use(h("g1"), h("g2"));
  auto api = r.group("/api", h("api"));
  auto v1 = api.group("/v1", h("v1a"), h("v1b"));
  v1.get("/users/:id", h("auth"), h("show"));
  api.get("/status", h("status"));
  r.get("/", h("home"));
  auto m = r.match("GET", "/api/v1/users/7");
  ASSERT_TRUE(m.found());
  EXPECT_EQ(ids(m.handlers), "g1,g2,api,v1a,v1b,auth,show");
  EXPECT_EQ(m.full_path, "/api/v1/users/:id");
  EXPECT_EQ(ids(r.match("GET", "/api/status").handlers), "g1,g2,api,status");
  EXPECT_EQ(ids(r.match("GET", "/").handlers), "g1,g2,home");
  EXPECT_EQ(v1.prefix(), "/api/v1");
}

TEST(router_chain, middleware_added_later_applies_to_later_routes_only) {
  router r;
  r.get("/before", h("before"));
  auto g = r.group("/g");
  g.get("/early", h("early"));
  r.use(h("late-global"));
  g.use(h("late-group"));
  g.get("/late", h("late"));
  r.get("/after", h("after"));
  EXPECT_EQ(ids(r.match("GET", "/before").handlers), "before");
  EXPECT_EQ(ids(r.match("GET", "/g/early").handlers), "early");
  EXPECT_EQ(ids(r.match("GET", "/g/late").handlers), "late-global,late-group,late");
  EXPECT_EQ(ids(r.match("GET", "/after").handlers), "late-global,after");
  // Copies of a group share its state.
  auto copy = g;
  copy.use(h("via-copy"));
  g.get("/latest", h("latest"));
  EXPECT_EQ(ids(r.match("GET", "/g/latest").handlers), "late-global,late-group,via-copy,latest");
}

TEST(router_chain, group_prefix_joining) {
  router r;
  auto g = r.group("/v1");
  g.get("users", h("users"));
  g.get("", h("root-no-slash"));
  g.get("/", h("root-slash"));
  auto nested = g.group("admin").group("/x/");
  nested.get("/y", h("y"));
  auto slash = r.group("/v2/");
  slash.get("/x", h("v2x"));
  EXPECT_EQ(target(r.match("GET", "/v1/users")), "users");
  EXPECT_EQ(target(r.match("GET", "/v1/")), "root-slash");
  EXPECT_EQ(target(r.match("GET", "/v1")), "root-no-slash");
  EXPECT_EQ(target(r.match("GET", "/v1/admin/x/y")), "y");
  EXPECT_EQ(target(r.match("GET", "/v2/x")), "v2x");
  EXPECT_EQ(nested.prefix(), "/v1/admin/x/");
  // A group prefix is not a route path: a bad one shows up in the routes registered under it.
  auto bad = r.group("v3");
  EXPECT_THROW(bad.get("/x", h("x")), std::invalid_argument);
}

TEST(router_chain, no_route_and_no_method_chains_hold_all_global_middleware) {
  router r(khz::router_options{.handle_method_not_allowed = true});
  r.no_route(h("nr"));
  r.no_method(h("nm"));
  r.get("/x", h("x"));
  r.use(h("g"));  // after no_route/no_method: still in front of them
  auto m = r.match("GET", "/nothing");
  EXPECT_EQ(m.kind, khz::route_match_kind::not_found);
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(ids(m.handlers), "g,nr");
  EXPECT_TRUE(m.full_path.empty());
  m = r.match("POST", "/x");
  EXPECT_EQ(m.kind, khz::route_match_kind::method_not_allowed);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET");
  EXPECT_EQ(ids(m.handlers), "g,nm");
  EXPECT_EQ(ids(&r.no_route_chain()), "g,nr");
  // Without handlers the chains hold just the middleware.
  router bare;
  bare.use(h("g"));
  EXPECT_EQ(ids(bare.match("GET", "/").handlers), "g");
}

TEST(router_405, allow_list_is_in_a_stable_order) {
  khz::router_options o;
  o.handle_method_not_allowed = true;
  router a(o), b(o);
  a.handle("PURGE", "/r/:id", h("purge"));
  a.del("/r/:id", h("delete"));
  a.post("/r/:id", h("post"));
  a.get("/r/:id", h("get"));
  a.handle("LINK", "/r/:id", h("link"));
  b.get("/r/:id", h("get"));
  b.handle("LINK", "/r/:id", h("link"));
  b.post("/r/:id", h("post"));
  b.handle("PURGE", "/r/:id", h("purge"));
  b.del("/r/:id", h("delete"));
  for (router* r : {&a, &b}) {
    const auto m = r->match("PUT", "/r/1");
    EXPECT_EQ(m.kind, khz::route_match_kind::method_not_allowed);
    EXPECT_EQ(m.allow, "GET, POST, DELETE, LINK, PURGE");
  }
  // Only methods whose routes match the path count.
  a.put("/other", h("put"));
  EXPECT_EQ(a.match("PATCH", "/other").allow, "PUT");
  EXPECT_EQ(target(a.match("GET", "/nowhere")), "404");
  // Off by default: 404.
  router off;
  off.get("/r", h("get"));
  EXPECT_EQ(target(off.match("POST", "/r")), "404");
}

TEST(router_routes, listing_and_names) {
  router r;
  r.use(h("logger"));
  r.get("/users", h("list_users"));
  r.get("/users/:id", h("auth"), h("show_user"));
  r.post("/users", h("create")).name("users.create");
  r.handle("PURGE", "/cache/*key", h("purge"));
  khz::basic_router<std::function<void()>> unnamed;
  unnamed.get("/", [] {});
  const auto routes = r.routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].method, "GET");
  EXPECT_EQ(routes[0].path, "/users");
  EXPECT_EQ(routes[0].handler_name, "list_users");
  EXPECT_EQ(routes[0].handler_count, 2u);
  EXPECT_EQ(routes[1].handler_name, "show_user");
  EXPECT_EQ(routes[1].handler_count, 3u);
  EXPECT_EQ(routes[2].handler_name, "users.create");
  EXPECT_EQ(routes[3].method, "PURGE");
  EXPECT_EQ(routes[3].path, "/cache/*key");
  EXPECT_EQ(unnamed.routes().at(0).handler_name, "anonymous");
  EXPECT_EQ(khz::format_routes(routes),
            "GET   /users      --> list_users (2 handlers)\n"
            "GET   /users/:id  --> show_user (3 handlers)\n"
            "POST  /users      --> users.create (2 handlers)\n"
            "PURGE /cache/*key --> purge (2 handlers)\n");
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(ids(&r.chain_at(1)), "logger,auth,show_user");
}

TEST(router_match, std_function_handlers_run) {
  int calls = 0;
  khz::basic_router<std::function<void(int&)>> r;
  r.use([](int& n) { n += 10; });
  r.get("/x", [](int& n) { n += 1; });
  const auto m = r.match("GET", "/x");
  ASSERT_TRUE(m.found());
  for (const auto& f : *m.handlers) f(calls);
  EXPECT_EQ(calls, 11);
}

TEST(router_match, match_into_reused_storage) {
  router r;
  r.get("/a/:x", h("a"));
  r.get("/b", h("b"));
  match m;
  r.match("GET", "/a/1", "", m);
  ASSERT_TRUE(m.found());
  EXPECT_EQ(m.params.get("x"), "1");
  r.match("GET", "/b", "", m);
  ASSERT_TRUE(m.found());
  EXPECT_TRUE(m.params.empty());
  r.match("GET", "/c", "", m);
  EXPECT_EQ(m.kind, khz::route_match_kind::not_found);
  EXPECT_EQ(m.route_index, -1);
}

}  // namespace
