#include <khz/net/loop_group.hpp>

#include "net/loop_impl.hpp"

#include <unistd.h>

#include <algorithm>

KHZ_BEGIN_NAMESPACE

loop_group::loop_group(const loop_group_options& options) {
  std::size_t n = options.loops;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  loops_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) loops_.push_back(std::make_unique<event_loop>(options.loop));
}

loop_group::~loop_group() {
  stop();
  join();
}

void loop_group::start() {
  if (!threads_.empty()) return;
  threads_.reserve(loops_.size());
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
}

void loop_group::stop() noexcept {
  for (auto& loop : loops_) loop->stop();
}

void loop_group::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

event_loop& loop_group::next_loop() noexcept {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

result<address> loop_group::listen(const address& addr, connection_handler& handler,
                                   const group_listen_options& options) {
  const bool reuse_port = options.mode == accept_mode::reuse_port && addr.is_ip() && loops_.size() > 1;
  listen_options per_loop = options;
  per_loop.reuse_port = reuse_port || options.reuse_port;

  // Bind every socket first, so that a failure leaves nothing behind.
  std::vector<detail::unique_fd> fds;
  address bound = addr;
  const std::size_t count = reuse_port ? loops_.size() : 1;
  for (std::size_t i = 0; i < count; ++i) {
    auto fd = open_listen_socket(bound, per_loop);
    if (!fd) return fd.error();
    fds.emplace_back(*fd);
    if (i == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        address actual = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        if (addr.is_ip()) bound = actual;  // the real port when addr had port 0
      }
    }
  }

  // Without reuseport (asked for, or impossible as for Unix sockets) the one listener
  // hands connections round-robin to every loop.
  std::vector<event_loop*> targets;
  if (!reuse_port && loops_.size() > 1) {
    for (auto& loop : loops_) targets.push_back(loop.get());
  }
  for (std::size_t i = 0; i < count; ++i) {
    event_loop* loop = loops_[i].get();
    loop->post([loop, fd = std::move(fds[i]), h = &handler, per_loop, targets, done = options.on_listening]() mutable {
      auto l = loop->impl().adopt_listener(fd.release(), *h, per_loop, std::move(targets));
      if (l && done) done(*loop, **l);
    });
  }
  return bound;
}

KHZ_END_NAMESPACE
