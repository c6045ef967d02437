// A static file server: the tree under a directory at /, plus a single file route.
//   $ khz-example-static [root-directory] [address]      (defaults: . and 127.0.0.1:8080)
//   curl -i http://127.0.0.1:8080/                              (index.html when the root has one)
//   curl -i http://127.0.0.1:8080/some/file.txt                 (ETag, Last-Modified, Content-Type)
//   curl -i -H 'Range: bytes=0-99' http://127.0.0.1:8080/big.bin    (206 Partial Content)
//   curl -i -H 'If-None-Match: "<etag from above>"' http://127.0.0.1:8080/some/file.txt   (304)
//   curl -i --path-as-is http://127.0.0.1:8080/../etc/passwd    (404: nothing above the root)
#include <khz/khz.hpp>
#include <khz/server/static_files.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : ".";
  const std::string address = argc > 2 ? argv[2] : "127.0.0.1:8080";
  try {
    khz::server s(khz::server_options{}.with_address(address));
    s.get("/healthz", [](khz::context& c) { c.string(200, "ok\n"); });
    // Everything else under the root; browsers may cache for a minute, then revalidate
    // with If-None-Match / If-Modified-Since (304 when unchanged).
    khz::static_dir(s, "/", root, khz::static_options{}.with_max_age(std::chrono::seconds(60)));
    s.on_run([&] { std::printf("serving %s on http://%s/\n", root.c_str(), address.c_str()); });
    s.spin();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "khz-example-static: %s\n", e.what());
    return 1;
  }
  return 0;
}
