// The scan of the sources' metadata ahead of the archiver's walk (see
// StartSourceScan in jsnap/archiver.h): one thread lists the directories the
// walk will visit, in the order it visits them (depth first, entries sorted
// by name), and queues the listings; the walk takes them instead of listing
// for itself. It starts before the repository is opened, so the listing of
// an unchanged tree (the whole work of a no-change create, besides the
// repository's own) overlaps the password's key derivation, and it then
// stays ahead of the walk, which is left with comparing and storing trees.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "listing.h"

namespace jsnap {

class SourceScan {
 public:
  // How far the scan runs ahead: each queued listing holds its directory
  // open, and each entry ~250 bytes.
  struct Limits {
    size_t max_listings = 4096;
    size_t max_entries = 16384;
  };
  // The limits for this process: listings bounded by a share of its file
  // descriptor limit.
  static Limits DefaultLimits();

  SourceScan(const ArchiveOptions& opts, const std::string& repo_root, Limits limits);
  ~SourceScan();  // stops the scan and waits for its thread
  SourceScan(const SourceScan&) = delete;
  SourceScan& operator=(const SourceScan&) = delete;

  // The listing of the directory `path`, when it is the next one the scan
  // queued; waits for the scan to get there. Nothing when the scan has
  // ended, or when the walk asks for another directory than the scan listed
  // next (a source that changed between the two looks): the scan then
  // stops, and the walk lists for itself from there on.
  std::optional<internal::DirectoryListing> Take(const std::string& path);

  // Stops the scan and drops what it queued: the walk lists for itself.
  void Abandon();
  // How long ago the scan started.
  std::chrono::steady_clock::duration age() const { return std::chrono::steady_clock::now() - started_; }

  // For tests: waits until the scan has queued all it can (it finished, or
  // it waits for room), or stopped.
  void WaitUntilIdle();
  size_t listings_taken() const;
  bool diverged() const;

 private:
  void Run(std::vector<std::string> roots);
  // Lists `path` and, depth first, the directories in it the walk descends
  // into. False once the scan is stopped.
  bool Walk(int parent_fd, const std::string& name, const std::string& path, dev_t root_dev);
  bool Push(internal::DirectoryListing listing);

  const internal::WalkRules rules_;
  const Limits limits_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> cancel_{false};  // set with stop_: ends a listing early
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<internal::DirectoryListing> queue_;
  size_t queued_entries_ = 0;
  size_t taken_ = 0;
  bool stop_ = false;
  bool finished_ = false;
  bool waiting_for_room_ = false;
  bool diverged_ = false;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace jsnap
