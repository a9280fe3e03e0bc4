// Fills a repository with N small, distinct data blobs through the real
// write path (id, compression, sealing, packs, index), so the index holds N
// more entries: the "repository holding 10 million chunk entries" that
// bench/index-scale.sh measures a create against.
//
//   JSNAP_PASSWORD=... jsnap_index_fill REPO N
//
// No snapshot refers to the blobs: check accepts them, prune reclaims them.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "jsnap/repository.h"

int main(int argc, char** argv) {
  using namespace jsnap;
  if (argc != 3 || std::getenv("JSNAP_PASSWORD") == nullptr) {
    std::fprintf(stderr, "usage: JSNAP_PASSWORD=... %s REPO N\n", argv[0]);
    return 2;
  }
  const uint64_t n = std::strtoull(argv[2], nullptr, 10);
  if (Status s = InitCrypto(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  OpenOptions opts;
  opts.lock = LockMode::kAppend;
  opts.writable = true;
  opts.description = "index fill";
  auto repo = Repository::Open(argv[1], std::getenv("JSNAP_PASSWORD"), opts);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", repo.status().ToString().c_str());
    return 1;
  }
  // Two writers, as a create on this machine would run.
  const unsigned threads = 2;
  std::vector<Status> results(threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = t; i < n && results[t].ok(); i += threads) {
        Id id;
        bool added = false;
        results[t] = (*repo)->SaveBlob(BlobType::kData, "index fill blob " + std::to_string(i), &id, &added);
      }
    });
  }
  for (auto& w : workers) w.join();
  for (const Status& s : results) {
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (Status s = (*repo)->Flush(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%llu blobs added\n", static_cast<unsigned long long>(n));
  return 0;
}
