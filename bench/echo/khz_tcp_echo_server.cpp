// khz-tcp-echo-server: the khz side of the TCP echo benchmark, on khz's net API with the
// library's defaults: a loop_group (one loop per --loops), SO_REUSEPORT listeners, and a
// handler that moves every received block from the input to the output (no copy); the
// loop flushes once per iteration.
//
//   khz-tcp-echo-server --port P [--host 127.0.0.1] [--loops N] [--transport epoll|io_uring|auto]
//
// Prints "ready <transport> <port>" (flushed) once listening; --port 0 picks a free port
// and the printed one is the real one. SIGINT/SIGTERM stop it with exit status 0.

#include <khz/net/net.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <string>
#include <string_view>

namespace {

constexpr const char* program = "khz-tcp-echo-server";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "%s: %s\nusage: %s --port P [--host 127.0.0.1] [--loops N] [--transport epoll|io_uring|auto]\n",
               program, why.c_str(), program);
  std::exit(2);
}

class echo_handler final : public khz::connection_handler {
 public:
  void on_data(khz::connection& c) override { c.output().append(std::move(c.input())); }
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1;
  long loops = 0;  // library default: one per core
  khz::transport kind = khz::transport::auto_select;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + std::string(arg));
      return argv[++i];
    };
    if (arg == "--port") {
      std::string v = value();
      char* end = nullptr;
      port = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) usage("bad --port " + v);
    } else if (arg == "--host") {
      host = value();
    } else if (arg == "--loops") {
      std::string v = value();
      char* end = nullptr;
      loops = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || loops < 0 || loops > 1024) usage("bad --loops " + v);
    } else if (arg == "--transport") {
      std::string v = value();
      auto t = khz::parse_transport(v);
      if (!t) usage("bad --transport " + v + " (epoll, io_uring or auto)");
      kind = *t;
    } else if (arg == "-h" || arg == "--help") {
      usage("help");
    } else {
      usage("unknown argument " + std::string(arg));
    }
  }
  if (port < 0) usage("--port is required");

  std::string why;
  std::string text = host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
  auto addr = khz::address::parse(text + ":" + std::to_string(port), &why);
  if (!addr) usage(why);

  // Signals go to this thread only (sigwait), never to a loop thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    khz::loop_group_options options;
    options.loops = static_cast<std::size_t>(loops);
    options.loop.kind = kind;
    khz::loop_group group(options);
    echo_handler handler;
    auto bound = group.listen(*addr, handler);
    if (!bound) {
      std::fprintf(stderr, "%s: cannot listen on %s: %s\n", program, addr->to_string().c_str(),
                   bound.error().message().c_str());
      return 1;
    }
    group.start();
    std::printf("ready %s %u\n", khz::to_string(group.kind()), static_cast<unsigned>(bound->port()));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    group.stop();
    group.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
  return 0;
}
