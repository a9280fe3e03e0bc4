// Content-defined chunking: FastCDC with normalized chunking (level 2) and a
// gear table derived from the repository key, so chunk boundaries (and so
// chunk sizes) do not fingerprint content for someone without the key.
//
// The chunker does no IO: FindCut() looks at bytes and returns where the
// current chunk ends. Thread-safety: immutable after construction; share it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "jsnap/crypto.h"

namespace jsnap {

// Defaults chosen by measurement (docs/benchmarks.md, "Chunk size").
struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 512 * 1024;  // a power of two
  uint32_t max_size = 4 * 1024 * 1024;
  Status Validate() const;
};

class Chunker {
 public:
  Chunker(const ChunkerParams& params, const KeyBytes& seed);

  // `data` starts at the beginning of a chunk. Returns the chunk's length:
  // the first cut point in data[0, len), or 0 when no cut lies within the
  // bytes given and more may follow (`at_eof` false and len < max_size).
  // At EOF, returns len (the tail is the last chunk) when no cut is found.
  size_t FindCut(const uint8_t* data, size_t len, bool at_eof) const;

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // more bits: harder to cut before avg_size
  uint64_t mask_large_;  // fewer bits: easier to cut after avg_size
  std::array<uint64_t, 256> gear_;
};

}  // namespace jsnap
