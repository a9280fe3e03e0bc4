// The pool's hysteresis (a blocked submitter wakes at half-empty, then
// every waiter may refill it) must never lose a task or a wake-up, with
// several submitters and the smallest queues.
#include "jsnap/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace jsnap {
namespace {

void RunMany(size_t workers, size_t max_queued, size_t submitters, size_t per_submitter) {
  std::atomic<size_t> done{0};
  std::atomic<size_t> running{0}, max_running{0};
  {
    ThreadPool pool(workers, max_queued);
    std::vector<std::thread> threads;
    for (size_t s = 0; s < submitters; ++s) {
      threads.emplace_back([&] {
        for (size_t i = 0; i < per_submitter; ++i) {
          pool.Submit([&] {
            const size_t now = ++running;
            size_t seen = max_running.load();
            while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
            }
            if (i % 7 == 0) std::this_thread::yield();
            --running;
            ++done;
          });
        }
      });
    }
    for (auto& t : threads) t.join();
    pool.Wait();
    EXPECT_EQ(done.load(), submitters * per_submitter);
  }
  EXPECT_LE(max_running.load(), workers);
}

TEST(ThreadPoolTest, EveryTaskRunsWithOneSlotAndManySubmitters) { RunMany(2, 1, 4, 3000); }
TEST(ThreadPoolTest, EveryTaskRunsWithTwoSlots) { RunMany(2, 2, 4, 3000); }
TEST(ThreadPoolTest, EveryTaskRunsWithOneWorker) { RunMany(1, 3, 3, 3000); }
TEST(ThreadPoolTest, EveryTaskRunsWithALargeQueue) { RunMany(3, 64, 2, 5000); }

}  // namespace
}  // namespace jsnap
