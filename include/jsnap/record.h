// Record codec: the one binary encoding of every metadata object (tree,
// snapshot, pack header entries in the index). A record is a sequence of
// fields; each field is
//     varint(tag) varint(length) <length bytes>
// Integers inside a field are varints (LEB128, unsigned) or zigzag varints
// (signed). Nested records are fields whose bytes are a record. Unknown tags
// are skipped by readers, so fields can be added without a format break.
// See format-spec.md, "Record encoding".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "jsnap/status.h"

namespace jsnap {

void PutVarint(std::string* out, uint64_t v);
// Reads a varint at *pos; advances *pos. False on truncation or overlong input.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* v);
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class RecordWriter {
 public:
  void Bytes(uint32_t tag, std::string_view value);
  void Uint(uint32_t tag, uint64_t value);
  void Int(uint32_t tag, int64_t value) { Uint(tag, ZigZag(value)); }
  const std::string& data() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Iterates over the fields of a record. Views point into the input, which
// must outlive the reader.
class RecordReader {
 public:
  explicit RecordReader(std::string_view in) : in_(in) {}
  // Advances to the next field. Returns false at the end; check status()
  // afterwards to tell a clean end from malformed input.
  bool Next();
  uint32_t tag() const { return tag_; }
  std::string_view bytes() const { return value_; }
  // Interprets the current field as a varint; sets the error status if it is not one.
  uint64_t AsUint();
  int64_t AsInt() { return UnZigZag(AsUint()); }
  const Status& status() const { return status_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  uint32_t tag_ = 0;
  std::string_view value_;
  Status status_;
};

}  // namespace jsnap
