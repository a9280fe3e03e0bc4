// A fixed pool of worker threads running queued tasks. Submit blocks while
// `max_queued` tasks wait, which bounds the memory that queued work holds.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace jsnap {

class ThreadPool {
 public:
  ThreadPool(size_t threads, size_t max_queued);
  ~ThreadPool();  // runs the queued tasks, then joins
  void Submit(std::function<void()> task);
  // Blocks until every submitted task has finished.
  void Wait();
  static size_t DefaultThreads();
  // `requested`, or DefaultThreads() when it is 0 (the --threads default).
  static size_t ThreadCount(size_t requested) { return requested ? requested : DefaultThreads(); }

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable has_work_, has_room_, idle_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  size_t running_ = 0;
  size_t idle_workers_ = 0;         // waiting on has_work_
  size_t waiting_submitters_ = 0;   // waiting on has_room_
  bool refill_ = false;             // waiters may submit until the queue is full
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace jsnap
