// khz-echo-server: the server of the HTTP echo benchmark, and the target of conformance
// and fault tests. It runs with the library's default safety settings (limits, timeouts):
// no benchmark-only shortcuts.
//   khz-echo-server --port P [--host 127.0.0.1] [--loops N] [--transport epoll|io_uring|auto]
//                   [--max-body BYTES]
// Serves POST /echo (200, the body back, application/octet-stream), GET / (200,
// "Hello, World!", text/plain), 404 for the rest. Prints "ready <transport> <port>" once
// listening; exits 0 on SIGINT/SIGTERM after a graceful shutdown.
#include <khz/khz.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "khz-echo-server: %s\nusage: khz-echo-server --port P [--host H] [--loops N] "
               "[--transport epoll|io_uring|auto] [--max-body BYTES]\n",
               why);
  std::exit(2);
}
}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::string port;
  khz::server_options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + std::string(arg)).c_str());
      return argv[++i];
    };
    if (arg == "--port") {
      port = value();
    } else if (arg == "--host") {
      host = value();
    } else if (arg == "--loops") {
      options.loops = std::strtoul(value().c_str(), nullptr, 10);
    } else if (arg == "--transport") {
      auto t = khz::parse_transport(value());
      if (!t) usage("--transport takes epoll, io_uring or auto");
      options.transport = *t;
    } else if (arg == "--max-body") {
      options.max_request_body_size = std::strtoull(value().c_str(), nullptr, 10);
    } else {
      usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  if (port.empty()) usage("--port is required");
  options.addresses = {(host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port};

  khz::server s(options);
  s.get("/", [](khz::context& c) { c.data(200, "text/plain", std::string_view("Hello, World!")); });
  s.post("/echo", [](khz::context& c) { c.data(200, "application/octet-stream", std::move(c.body_buffer())); });
  s.on_run([&s] {
    std::printf("ready %s %u\n", khz::to_string(s.transport_in_use()), s.listen_addresses().front().port());
    std::fflush(stdout);
  });
  try {
    s.spin();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "khz-echo-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
