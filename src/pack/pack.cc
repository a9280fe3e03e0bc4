#include "jsnap/pack.h"

#include <cstring>

#include "jsnap/compress.h"

namespace jsnap {

namespace {
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}
}  // namespace

const char* BlobTypeName(BlobType t) { return t == BlobType::kTree ? "tree" : "data"; }

void PackWriter::Add(BlobType type, const Id& id, std::string_view sealed, uint32_t raw_length) {
  PackEntry e;
  e.type = type;
  e.id = id;
  e.offset = static_cast<uint32_t>(size());
  e.length = static_cast<uint32_t>(sealed.size());
  e.raw_length = raw_length;
  data_.append(sealed);
  entries_.push_back(e);
}

void PackWriter::Prepare(std::string buffer, size_t capacity) {
  if (buffer.capacity() > data_.capacity()) {
    buffer.clear();
    data_ = std::move(buffer);
  }
  if (data_.capacity() < capacity) data_.reserve(capacity);
}

std::string PackWriter::TakeBuffered(std::string next, size_t capacity, uint64_t* offset) {
  *offset = taken_;
  taken_ += data_.size();
  next.clear();
  if (next.capacity() < capacity) next.reserve(capacity);
  std::string out = std::move(data_);
  data_ = std::move(next);
  return out;
}

std::string PackWriter::Finish(const KeyBytes& key, std::vector<PackEntry>* entries, uint64_t* offset) {
  const size_t header_start = data_.size();
  SealAppend(key, EncodePackHeader(entries_), &data_);
  PutU32(&data_, static_cast<uint32_t>(data_.size() - header_start));
  *entries = std::move(entries_);
  entries_.clear();
  if (offset != nullptr) *offset = taken_;
  taken_ = 0;
  std::string out = std::move(data_);
  data_.clear();
  return out;
}

Result<Id> PackId(std::string_view pack) {
  if (pack.size() < kPackTrailerSize) return Status::Corruption("pack is too short to hold a header");
  ASSIGN_OR_RETURN(uint32_t len, DecodePackTrailer(pack.substr(pack.size() - kPackTrailerSize), pack.size()));
  return PlainHash(pack.substr(pack.size() - kPackTrailerSize - len));
}

std::string EncodePackHeader(const std::vector<PackEntry>& entries) {
  std::string out;
  out.reserve(entries.size() * kPackEntrySize);
  for (const PackEntry& e : entries) {
    out.push_back(static_cast<char>(e.type));
    PutU32(&out, e.length);
    PutU32(&out, e.raw_length);
    out.append(e.id.View());
  }
  return out;
}

Result<std::vector<PackEntry>> DecodePackHeader(std::string_view plain, uint64_t body_size) {
  if (plain.size() % kPackEntrySize != 0) {
    return Status::Corruption("pack header size " + std::to_string(plain.size()) +
                              " is not a multiple of the entry size");
  }
  std::vector<PackEntry> entries(plain.size() / kPackEntrySize);
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const char* p = plain.data() + i * kPackEntrySize;
    PackEntry& e = entries[i];
    if (static_cast<uint8_t>(p[0]) > 1) {
      return Status::Corruption("pack header entry " + std::to_string(i) + " has unknown type " +
                                std::to_string(static_cast<uint8_t>(p[0])));
    }
    e.type = static_cast<BlobType>(p[0]);
    e.length = GetU32(p + 1);
    e.raw_length = GetU32(p + 5);
    e.id = Id::FromBytes(p + 9);
    e.offset = static_cast<uint32_t>(offset);
    offset += e.length;
    if (offset > body_size || e.length < kSealOverhead + 1) {
      return Status::Corruption("pack header entry " + std::to_string(i) +
                                " points outside the pack body");
    }
  }
  return entries;
}

Result<uint32_t> DecodePackTrailer(std::string_view trailer, uint64_t pack_size) {
  if (trailer.size() != kPackTrailerSize || pack_size < kPackTrailerSize) {
    return Status::Corruption("pack is too short to hold a header");
  }
  uint32_t len = GetU32(trailer.data());
  if (len < kSealOverhead || len > pack_size - kPackTrailerSize) {
    return Status::Corruption("pack trailer declares a header of " + std::to_string(len) +
                              " bytes, which does not fit (truncated pack?)");
  }
  return len;
}

BlobAd::BlobAd(BlobType type, const Id& id) {
  bytes_[0] = static_cast<char>(type);
  std::memcpy(bytes_ + 1, id.bytes.data(), Id::kSize);
}

void EncodeBlobAppend(const KeyBytes& key, std::string_view plaintext, int level, std::string* out,
                      std::string_view ad, CompressionProfile profile) {
  std::string frame;
  frame.reserve(plaintext.size() / 2 + 64);
  CompressFrameAppend(plaintext, level, &frame, profile);
  SealAppend(key, frame, out, ad);
}

Result<std::string> DecodeBlob(const KeyBytes& enc_key, const KeyBytes& id_key, const Id& id,
                               std::string_view stored, uint32_t raw_length, const BlobCheck& check) {
  std::string frame, plain;
  RETURN_IF_ERROR(DecodeBlobInto(enc_key, id_key, id, stored, raw_length, &frame, &plain, check));
  return plain;
}

Status DecodeBlobInto(const KeyBytes& enc_key, const KeyBytes& id_key, const Id& id,
                      std::string_view stored, uint32_t raw_length, std::string* frame, std::string* plain,
                      const BlobCheck& check) {
  RETURN_IF_ERROR(OpenInto(enc_key, stored, frame, check.ad));
  RETURN_IF_ERROR(DecompressFrameInto(*frame, raw_length, plain));
  if (check.rehash && KeyedHash(id_key, *plain) != id) return IdMismatchError();
  return Status::Ok();
}

Status IdMismatchError() { return Status::Corruption("content does not hash to its id"); }

}  // namespace jsnap
