#pragma once
// worker_pool: threads for blocking user work, so that it never runs on an event loop.
// ctx.offload(fn) runs fn here and resumes the handler on its own loop.
//
// Threading: submit() is thread-safe. The destructor (or stop()) lets queued jobs run,
// then joins the threads; a job submitted after stop() is refused (returns false).

#include <khz/base/config.hpp>
#include <khz/net/move_function.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

KHZ_BEGIN_NAMESPACE

class worker_pool {
 public:
  using job = detail::move_function<void()>;

  // `threads` == 0: one per core.
  explicit worker_pool(std::size_t threads = 0);
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool();

  // Queues a job; false once the pool is stopping.
  bool submit(job j);
  // Runs what is queued, then joins. Idempotent.
  void stop();
  std::size_t size() const noexcept { return threads_.size(); }

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

KHZ_END_NAMESPACE
