#include "jsnap/chunker.h"

#include <bit>
#include <cstring>
#include <string>

namespace jsnap {

namespace {
// `bits` one-bits in the top of the word: with hash = (hash << 1) + gear[b],
// bit k depends on the last k+1 bytes, so the top bits see a 64-byte window.
uint64_t TopMask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }
}  // namespace

Status ChunkerParams::Validate() const {
  if (!std::has_single_bit(avg_size) || avg_size < 4096 || avg_size > (64u << 20)) {
    return Status::InvalidArgument("chunker average size must be a power of two in [4 KiB, 64 MiB]");
  }
  if (min_size < 64 || min_size > avg_size || max_size < avg_size || max_size > (128u << 20)) {
    return Status::InvalidArgument("chunker sizes must satisfy 64 <= min <= avg <= max <= 128 MiB");
  }
  return Status::Ok();
}

Chunker::Chunker(const ChunkerParams& params, const KeyBytes& seed) : params_(params) {
  const int avg_bits = std::countr_zero(params.avg_size);
  mask_small_ = TopMask(avg_bits + 2);
  mask_large_ = TopMask(avg_bits - 2);
  // gear[i] = first 8 bytes of BLAKE2b(key = seed, message = i as one byte).
  for (int i = 0; i < 256; ++i) {
    const char b = static_cast<char>(i);
    Id h = KeyedBlake2b(seed, std::string_view(&b, 1));
    uint64_t v = 0;  // little-endian, whatever the host: the format fixes it
    for (int k = 7; k >= 0; --k) v = v << 8 | h.bytes[k];
    gear_[i] = v;
  }
}

size_t Chunker::FindCut(const uint8_t* data, size_t len, bool at_eof) const {
  if (len <= params_.min_size) return at_eof ? len : 0;
  const size_t limit = len < params_.max_size ? len : params_.max_size;
  const size_t normal = limit < params_.avg_size ? limit : params_.avg_size;
  uint64_t hash = 0;
  // Skipping the first min_size bytes is safe: the hash window is 64 bytes,
  // so bytes before min_size - 64 cannot influence a cut after min_size.
  size_t i = params_.min_size - 64;
  for (; i < params_.min_size; ++i) hash = (hash << 1) + gear_[data[i]];
  for (; i < normal; ++i) {
    hash = (hash << 1) + gear_[data[i]];
    if ((hash & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    hash = (hash << 1) + gear_[data[i]];
    if ((hash & mask_large_) == 0) return i + 1;
  }
  if (limit == params_.max_size) return limit;
  return at_eof ? len : 0;
}

}  // namespace jsnap
