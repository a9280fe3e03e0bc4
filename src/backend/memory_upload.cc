// The default upload: pieces gathered in memory, one Save at Commit. For
// backends that can only store whole objects.
#include <cstring>
#include <mutex>

#include "jsnap/backend.h"

namespace jsnap {

namespace {

class BufferedUpload : public BackendUpload {
 public:
  explicit BufferedUpload(Backend* backend) : backend_(backend) {}

  Status WriteAt(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (data_.size() < offset + data.size()) data_.resize(offset + data.size());
    std::memcpy(data_.data() + offset, data.data(), data.size());
    return Status::Ok();
  }

  Status Commit(const FileHandle& h) override {
    std::lock_guard<std::mutex> lock(mu_);
    return backend_->Save(h, data_);
  }

 private:
  Backend* backend_;
  std::mutex mu_;
  std::string data_;
};

}  // namespace

Result<std::unique_ptr<BackendUpload>> Backend::StartUpload(FileType type) {
  (void)type;
  return std::unique_ptr<BackendUpload>(std::make_unique<BufferedUpload>(this));
}

}  // namespace jsnap
