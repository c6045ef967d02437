#include <khz/core/worker_pool.hpp>

#include <algorithm>

KHZ_BEGIN_NAMESPACE

worker_pool::worker_pool(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

worker_pool::~worker_pool() { stop(); }

bool worker_pool::submit(job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    jobs_.push_back(std::move(j));
  }
  ready_.notify_one();
  return true;
}

void worker_pool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void worker_pool::work() {
  for (;;) {
    job j;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    j();
  }
}

KHZ_END_NAMESPACE
