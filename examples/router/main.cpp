// Routing: parameters, catch-all, groups with their own middleware, global middleware,
// a custom 404, and the route table printed at start.
//   $ khz-example-router
//   curl http://127.0.0.1:8080/users/42
//   curl http://127.0.0.1:8080/files/docs/readme.md
//   curl -u admin:secret http://127.0.0.1:8080/admin/stats
//   curl 'http://127.0.0.1:8080/search?q=khz&tag=a&tag=b'
#include <khz/khz.hpp>

#include <string>

int main() {
  auto options = khz::server_options{}.with_address("127.0.0.1:8080").with_print_routes(true);
  options.router.handle_method_not_allowed = true;  // 405 with Allow instead of 404
  khz::server s(options);

  s.use(khz::recovery(), khz::request_id(), khz::access_log());

  s.get("/users/:id", [](khz::context& c) { c.string(200, "user {}\n", c.param("id")); }).name("show_user");
  s.get("/files/*path", [](khz::context& c) { c.string(200, "file '{}'\n", c.param("path")); }).name("show_file");
  s.get("/search", [](khz::context& c) {
    std::string tags;
    for (auto t : c.query_all("tag")) tags += std::string(t) + " ";
    c.string(200, "q={} tags={}\n", c.default_query("q", "(none)"), tags);
  });

  auto admin = s.group("/admin", khz::basic_auth({{"admin", "secret"}}, "admin area"));
  admin.get("/stats", [](khz::context& c) {
    c.string(200, "hello {}, request {}\n", c.must_get<std::string>("user"), khz::request_id_of(c));
  });

  auto api = s.group("/api/v1", [](khz::context& c) { c.set_header("X-API-Version", "1"); });
  api.post("/items", [](khz::context& c) { c.string(201, "created {} bytes\n", c.body().size()); });

  s.no_route([](khz::context& c) { c.string(404, "nothing at {}\n", c.path()); });
  s.spin();
}
