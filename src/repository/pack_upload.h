// One pack on its way to the backend while it fills: workers write its
// pieces as they come (in parallel, at known offsets), the writer thread
// waits for them, writes the tail (last blobs, header, trailer) and commits
// the file under its name.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string_view>

#include "jsnap/backend.h"

namespace jsnap {

class PackUpload {
 public:
  explicit PackUpload(std::unique_ptr<BackendUpload> upload) : upload_(std::move(upload)) {}

  // Call under the lock that hands out the piece, before releasing it, so
  // Finish cannot pass a piece that is about to be written.
  void BeginPiece();
  // Writes a piece begun with BeginPiece; the first error is kept for Finish.
  Status WritePiece(uint64_t offset, std::string_view piece);
  // Waits for every piece, writes the tail at `offset` and commits the file
  // as `h`. The first error of any piece or of the tail.
  Status Finish(uint64_t offset, std::string_view tail, const FileHandle& h);

 private:
  std::unique_ptr<BackendUpload> upload_;
  std::mutex mu_;
  std::condition_variable idle_;
  int writing_ = 0;
  Status error_;
};

}  // namespace jsnap
