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

// FIPS 180-4 round constants.
alignas(16) inline constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
inline constexpr size_t kDigestSize = 32;

// Runs the compression function over `blocks` consecutive 64-byte blocks.
using CompressFn = void (*)(uint32_t state[8], const uint8_t* data, size_t blocks);

// Two messages side by side, `blocks` blocks of each: the same result as two
// calls of a CompressFn. With the SHA extensions it is ~1.5x faster than the
// two calls (2.7 against 1.8 GB/s on an AMD EPYC): sha256rnds2 is pipelined
// but each round waits for the last, so one message leaves it idle half of
// the time. (Four messages reach 3.0 GB/s; not worth their bookkeeping.)
using CompressTwoFn = void (*)(uint32_t state_a[8], const uint8_t* data_a, uint32_t state_b[8],
                               const uint8_t* data_b, size_t blocks);

void CompressPortable(uint32_t state[8], const uint8_t* data, size_t blocks);
void CompressTwoPortable(uint32_t state_a[8], const uint8_t* data_a, uint32_t state_b[8],
                         const uint8_t* data_b, size_t blocks);
// Only call these when ShaExtensionsAvailable().
void CompressShaExtensions(uint32_t state[8], const uint8_t* data, size_t blocks);
void CompressTwoShaExtensions(uint32_t state_a[8], const uint8_t* data_a, uint32_t state_b[8],
                              const uint8_t* data_b, size_t blocks);
bool ShaExtensionsAvailable();

struct Implementation {
  CompressFn one;
  CompressTwoFn two;
};
// The fastest implementation this CPU runs.
Implementation Best();

// HMAC-SHA-256 of `data` under `key` (at most 64 bytes).
void Hmac(CompressFn compress, const uint8_t* key, size_t key_size, const uint8_t* data,
          size_t size, uint8_t out[kDigestSize]);

struct HmacJob {
  const uint8_t* data;
  size_t size;
  uint8_t* out;  // kDigestSize bytes
};
// HMAC-SHA-256 of each job's message under one key, two messages at a time:
// when one ends, the next job takes its place beside the other.
void HmacMany(Implementation impl, const uint8_t* key, size_t key_size, const HmacJob* jobs,
              size_t count);

}  // namespace jsnap::sha256
