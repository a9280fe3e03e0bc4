// zstd compression of blob plaintext. The stored form is a one-byte mode
// followed by the payload (format-spec.md, "Blob plaintext frame"):
//   0x00 raw bytes        (compression did not shrink the data, or level 0)
//   0x01 one zstd frame   (with content size, so decoding allocates once)
// Thread-safety: thread-safe; contexts are per thread.
#pragma once

#include <string>
#include <string_view>

#include "jsnap/status.h"

namespace jsnap {

inline constexpr int kDefaultCompressionLevel = 3;

// What a blob holds, for the compressor's choices; frames are standard
// zstd either way, so readers do not care.
enum class CompressionProfile {
  kDefault,
  // A database page (a few KiB, one blob each): literals are stored without
  // Huffman coding. Decoding a 4 KiB frame otherwise spends ~40 % of its
  // time building the frame's Huffman table; for the chat database the
  // repository is 2 % larger and page decoding 40 % faster (measured:
  // 105.4 -> 107.6 MiB, 4.8 -> 2.9 us a page).
  kPage,
};

// Appends the framed form of `data` to `out`. level 0 stores raw.
void CompressFrameAppend(std::string_view data, int level, std::string* out,
                         CompressionProfile profile = CompressionProfile::kDefault);
// Decodes a frame; `expected_size` (when known, else SIZE_MAX) is enforced.
Result<std::string> DecompressFrame(std::string_view frame, size_t expected_size);
// The same into `out`, its capacity reused.
Status DecompressFrameInto(std::string_view frame, size_t expected_size, std::string* out);

}  // namespace jsnap
