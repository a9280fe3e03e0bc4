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

// Appends the framed form of `data` to `out`. level 0 stores raw.
void CompressFrameAppend(std::string_view data, int level, std::string* out);
// Decodes a frame; `expected_size` (when known, else SIZE_MAX) is enforced.
Result<std::string> DecompressFrame(std::string_view frame, size_t expected_size);
// The same into `out`, its capacity reused.
Status DecompressFrameInto(std::string_view frame, size_t expected_size, std::string* out);

}  // namespace jsnap
