#include "jsnap/record.h"

namespace jsnap {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    auto byte = static_cast<uint8_t>(in[(*pos)++]);
    if (shift == 63 && (byte & 0x7e) != 0) return false;  // would overflow 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

void RecordWriter::Bytes(uint32_t tag, std::string_view value) {
  PutVarint(&out_, tag);
  PutVarint(&out_, value.size());
  out_.append(value);
}

void RecordWriter::Uint(uint32_t tag, uint64_t value) {
  std::string buf;
  PutVarint(&buf, value);
  Bytes(tag, buf);
}

bool RecordReader::Next() {
  if (!status_.ok() || pos_ >= in_.size()) return false;
  uint64_t tag, len;
  if (!GetVarint(in_, &pos_, &tag) || !GetVarint(in_, &pos_, &len) || tag > UINT32_MAX ||
      len > in_.size() - pos_) {
    status_ = Status::Corruption("malformed record: truncated field at byte " + std::to_string(pos_));
    return false;
  }
  tag_ = static_cast<uint32_t>(tag);
  value_ = in_.substr(pos_, len);
  pos_ += len;
  return true;
}

uint64_t RecordReader::AsUint() {
  size_t p = 0;
  uint64_t v = 0;
  if (!GetVarint(value_, &p, &v) || p != value_.size()) {
    status_ = Status::Corruption("malformed record: field " + std::to_string(tag_) + " is not a varint");
    return 0;
  }
  return v;
}

}  // namespace jsnap
