// SHA-256 compression and HMAC-SHA-256 (FIPS 180-4, RFC 2104), the hash that
// names blobs. libsodium has both, but not the x86 SHA extensions, which make
// SHA-256 ~3x faster than libsodium's BLAKE2b on CPUs that have them (every
// AMD Zen, Intel since Ice Lake and Goldmont). Blob ids are on the hot path
// of create and check, so jsnap carries its own compression function: one
// with the SHA extensions, one portable. Tests hold both to libsodium's
// crypto_auth_hmacsha256, byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jsnap::sha256 {

inline constexpr size_t kBlockSize = 64;
inline constexpr size_t kDigestSize = 32;

// Runs the compression function over `blocks` consecutive 64-byte blocks.
using CompressFn = void (*)(uint32_t state[8], const uint8_t* data, size_t blocks);

void CompressPortable(uint32_t state[8], const uint8_t* data, size_t blocks);
// Only call when ShaExtensionsAvailable().
void CompressShaExtensions(uint32_t state[8], const uint8_t* data, size_t blocks);
bool ShaExtensionsAvailable();
// The fastest implementation this CPU runs.
CompressFn BestCompress();

// HMAC-SHA-256 of `data` under `key` (at most 64 bytes).
void Hmac(CompressFn compress, const uint8_t* key, size_t key_size, const uint8_t* data,
          size_t size, uint8_t out[kDigestSize]);

}  // namespace jsnap::sha256
