// SHA-256 compression with the x86 SHA extensions (sha256rnds2, sha256msg1,
// sha256msg2). The state lives in two registers as ABEF and CDGH, the order
// sha256rnds2 wants; each loop step runs four rounds and extends the message
// schedule four words ahead. Compiled for the extensions by function
// attribute, called only after a CPUID check.
#include "sha256.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

namespace jsnap::sha256 {


bool ShaExtensionsAvailable() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool ssse3 = ecx & (1u << 9), sse41 = ecx & (1u << 19);
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool sha = ebx & (1u << 29);
  return ssse3 && sse41 && sha;
}

__attribute__((target("sha,sse4.1,ssse3"))) void CompressShaExtensions(uint32_t state[8],
                                                                       const uint8_t* data,
                                                                       size_t blocks) {
  // Big-endian message words: reverse the bytes of each 32-bit lane.
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));     // DCBA
  __m128i cdgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));    // HGFE
  tmp = _mm_shuffle_epi32(tmp, 0xB1);                                              // CDAB
  cdgh = _mm_shuffle_epi32(cdgh, 0x1B);                                            // EFGH
  __m128i abef = _mm_alignr_epi8(tmp, cdgh, 8);                                    // ABEF
  cdgh = _mm_blend_epi16(cdgh, tmp, 0xF0);                                         // CDGH

  for (; blocks > 0; --blocks, data += kBlockSize) {
    const __m128i abef_before = abef, cdgh_before = cdgh;
    __m128i w[4];  // message schedule, four words per register, W[4g..4g+3] in w[g % 4]
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      if (g < 4) {
        w[g] = _mm_shuffle_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * g)), byte_swap);
      }
      __m128i msg = _mm_add_epi32(
          w[g % 4], _mm_load_si128(reinterpret_cast<const __m128i*>(&kRound[4 * g])));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
      if (g >= 3 && g <= 14) {
        // W[4(g+1)..]: w[(g+1)%4] already holds sigma0 terms (msg1); add
        // W[t-7] and finish with sigma1 (msg2).
        __m128i next = _mm_add_epi32(w[(g + 1) % 4], _mm_alignr_epi8(w[g % 4], w[(g + 3) % 4], 4));
        w[(g + 1) % 4] = _mm_sha256msg2_epu32(next, w[g % 4]);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, msg);
      if (g >= 1 && g <= 12) w[(g + 3) % 4] = _mm_sha256msg1_epu32(w[(g + 3) % 4], w[g % 4]);
    }
    abef = _mm_add_epi32(abef, abef_before);
    cdgh = _mm_add_epi32(cdgh, cdgh_before);
  }

  tmp = _mm_shuffle_epi32(abef, 0x1B);          // FEBA
  cdgh = _mm_shuffle_epi32(cdgh, 0xB1);         // DCHG
  abef = _mm_blend_epi16(tmp, cdgh, 0xF0);      // DCBA
  cdgh = _mm_alignr_epi8(cdgh, tmp, 8);         // HGFE
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), abef);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), cdgh);
}

}  // namespace jsnap::sha256

#else  // not x86-64: the portable function only

namespace jsnap::sha256 {
bool ShaExtensionsAvailable() { return false; }
void CompressShaExtensions(uint32_t state[8], const uint8_t* data, size_t blocks) {
  CompressPortable(state, data, blocks);
}
}  // namespace jsnap::sha256

#endif
