#include "pack_upload.h"

namespace jsnap {

void PackUpload::BeginPiece() {
  std::lock_guard<std::mutex> lock(mu_);
  ++writing_;
}

Status PackUpload::WritePiece(uint64_t offset, std::string_view piece) {
  Status st = upload_->WriteAt(offset, piece);
  std::lock_guard<std::mutex> lock(mu_);
  if (!st.ok() && error_.ok()) error_ = st;
  if (--writing_ == 0) idle_.notify_all();
  return st;
}

Status PackUpload::Finish(uint64_t offset, std::string_view tail, const FileHandle& h) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return writing_ == 0; });
    RETURN_IF_ERROR(error_);
  }
  RETURN_IF_ERROR(upload_->WriteAt(offset, tail));
  return upload_->Commit(h);
}

}  // namespace jsnap
