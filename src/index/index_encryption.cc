#include "index_encryption.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace jsnap::internal {
namespace {

constexpr size_t kNonceOffset = sizeof(kIndexFileMagic);
constexpr size_t kBlock = 64;  // XChaCha20's keystream block
static_assert(kNonceOffset + crypto_stream_xchacha20_NONCEBYTES <= kIndexFilePrefix);

// One file's keystream. A stream cipher in the clear: the whole range is
// one libsodium call (a keystream block function called per 64 bytes, as
// RocksDB's own CTR mode does, costs an order of magnitude more).
class XChaChaStream : public rocksdb::BlockAccessCipherStream {
 public:
  XChaChaStream(const KeyBytes& key, const char* nonce) : key_(key) {
    std::memcpy(nonce_, nonce, sizeof(nonce_));
  }
  ~XChaChaStream() override { sodium_memzero(key_.data(), key_.size()); }

  size_t BlockSize() override { return kBlock; }
  rocksdb::Status Encrypt(uint64_t offset, char* data, size_t size) override {
    Xor(offset, data, size);
    return rocksdb::Status::OK();
  }
  rocksdb::Status Decrypt(uint64_t offset, char* data, size_t size) override {
    Xor(offset, data, size);
    return rocksdb::Status::OK();
  }

 protected:
  // RocksDB's default Encrypt/Decrypt loop over blocks with these; the
  // overrides above never do, but the interface requires them.
  void AllocateScratch(std::string&) override {}
  rocksdb::Status EncryptBlock(uint64_t block, char* data, char*) override {
    Xor(block * kBlock, data, kBlock);
    return rocksdb::Status::OK();
  }
  rocksdb::Status DecryptBlock(uint64_t block, char* data, char*) override {
    Xor(block * kBlock, data, kBlock);
    return rocksdb::Status::OK();
  }

 private:
  // XORs the keystream bytes [offset, offset + size) into data.
  void Xor(uint64_t offset, char* data, size_t size) {
    auto* p = reinterpret_cast<uint8_t*>(data);
    if (size > 0 && offset % kBlock != 0) {  // a partial first block
      uint8_t block[kBlock] = {};
      crypto_stream_xchacha20_xor_ic(block, block, kBlock, nonce_, offset / kBlock, key_.data());
      const size_t skip = offset % kBlock;
      const size_t take = std::min(size, kBlock - skip);
      for (size_t i = 0; i < take; ++i) p[i] ^= block[skip + i];
      sodium_memzero(block, sizeof(block));
      p += take;
      offset += take;
      size -= take;
    }
    if (size > 0) crypto_stream_xchacha20_xor_ic(p, p, size, nonce_, offset / kBlock, key_.data());
  }

  KeyBytes key_;
  uint8_t nonce_[crypto_stream_xchacha20_NONCEBYTES];
};

class IndexEncryption : public rocksdb::EncryptionProvider {
 public:
  explicit IndexEncryption(const KeyBytes& key) : key_(key) {}
  ~IndexEncryption() override { sodium_memzero(key_.data(), key_.size()); }

  const char* Name() const override { return "jsnap-index-xchacha20"; }
  size_t GetPrefixLength() const override { return kIndexFilePrefix; }

  rocksdb::Status CreateNewPrefix(const std::string&, char* prefix, size_t length) const override {
    if (length < kIndexFilePrefix) return rocksdb::Status::InvalidArgument("index file prefix too short");
    std::memset(prefix, 0, length);
    std::memcpy(prefix, kIndexFileMagic, sizeof(kIndexFileMagic));
    randombytes_buf(prefix + kNonceOffset, crypto_stream_xchacha20_NONCEBYTES);
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    return rocksdb::Status::NotSupported("the index key is fixed when the index is opened");
  }

  rocksdb::Status CreateCipherStream(const std::string& fname, const rocksdb::EnvOptions&,
                                     rocksdb::Slice& prefix,
                                     std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    if (prefix.size() < kIndexFilePrefix) {  // cut short, by a crash or by hand
      return rocksdb::Status::Corruption(fname + ": truncated (" + std::to_string(prefix.size()) +
                                         " bytes, shorter than the " + std::to_string(kIndexFilePrefix) +
                                         "-byte prefix)");
    }
    if (std::memcmp(prefix.data(), kIndexFileMagic, sizeof(kIndexFileMagic)) != 0) {
      // An index written by an older build (or not by jsnap at all).
      return rocksdb::Status::Corruption(fname + ": not an index file of this jsnap version");
    }
    *result = std::make_unique<XChaChaStream>(key_, prefix.data() + kNonceOffset);
    return rocksdb::Status::OK();
  }

 private:
  KeyBytes key_;
};

}  // namespace

std::shared_ptr<rocksdb::EncryptionProvider> NewIndexEncryption(const KeyBytes& key) {
  return std::make_shared<IndexEncryption>(key);
}

}  // namespace jsnap::internal
