// The smallest khz service: one route, served until Ctrl-C.
//   $ khz-example-hello            then: curl http://127.0.0.1:8080/hello/world
#include <khz/khz.hpp>

int main() {
  khz::server s(khz::server_options{}.with_address("127.0.0.1:8080"));
  s.get("/hello/:name", [](khz::context& c) { c.string(200, "Hello, {}!\n", c.param("name")); });
  s.spin();  // until SIGINT/SIGTERM, then a graceful shutdown
}
