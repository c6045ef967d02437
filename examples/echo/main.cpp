// An echo service: POST /echo answers with the request body, linked into the response
// without a copy (the body's blocks move from the request to the output buffer).
//   $ khz-example-echo [port]      then: curl --data-binary @file http://127.0.0.1:8080/echo
#include <khz/khz.hpp>

#include <string>

int main(int argc, char** argv) {
  std::string port = argc > 1 ? argv[1] : "8080";
  khz::server s(khz::server_options{}.with_address("127.0.0.1:" + port).with_max_request_body_size(16 << 20));
  s.post("/echo", [](khz::context& c) {
    std::string type(c.header("Content-Type").empty() ? "application/octet-stream" : c.header("Content-Type"));
    c.data(200, type, std::move(c.body_buffer()));
  });
  s.get("/", [](khz::context& c) { c.string(200, "POST a body to /echo\n"); });
  s.spin();
}
