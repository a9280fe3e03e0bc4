#include "jsnap/thread_pool.h"

namespace jsnap {

ThreadPool::ThreadPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  has_work_.notify_all();
  for (auto& t : threads_) t.join();
}

size_t ThreadPool::DefaultThreads() {
  // hardware_concurrency() opens and reads /sys/devices/system/cpu/online on
  // every call; callers ask per file.
  static const size_t n = [] {
    const size_t cores = std::thread::hardware_concurrency();
    return cores == 0 ? size_t{2} : cores;
  }();
  return n;
}

void ThreadPool::Submit(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.size() >= max_queued_ || waiting_submitters_ > 0) {
    // Sleep until the queue is half empty, not until one slot frees (a
    // submitter woken per finished task costs a context switch per task);
    // then every waiter may fill it up again. Arrivals queue behind
    // sleepers, so none is overtaken forever.
    ++waiting_submitters_;
    has_room_.wait(lock, [&] { return refill_ && queue_.size() < max_queued_; });
    --waiting_submitters_;
  }
  queue_.push_back(std::move(task));
  if (queue_.size() >= max_queued_) refill_ = false;
  if (idle_workers_ > 0) has_work_.notify_one();
}

void ThreadPool::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
}

void ThreadPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_workers_;
      has_work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      --idle_workers_;
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      if (waiting_submitters_ > 0 && !refill_ && queue_.size() <= max_queued_ / 2) {
        refill_ = true;
        has_room_.notify_all();
      }
    }
    task();
    task = nullptr;  // release what it captured before Wait() can return
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace jsnap
