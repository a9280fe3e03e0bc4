#include "sha256.h"

#include <algorithm>
#include <cstring>

#include "jsnap/status.h"

namespace jsnap::sha256 {

namespace {

constexpr uint32_t kInitialState[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

uint32_t LoadBigEndian(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

void StoreBigEndian(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Hashes the last, partial block of a message whose blocks before it were
// already compressed: appends 0x80, zeros, and the message length in bits
// (one or two blocks), then writes the digest.
void Finish(CompressFn compress, uint32_t state[8], const uint8_t* tail, size_t tail_size,
            uint64_t message_size, uint8_t out[kDigestSize]) {
  uint8_t last[2 * kBlockSize] = {};
  if (tail_size > 0) std::memcpy(last, tail, tail_size);
  last[tail_size] = 0x80;
  const size_t blocks = tail_size + 1 + 8 <= kBlockSize ? 1 : 2;
  const uint64_t bits = message_size * 8;
  for (int i = 0; i < 8; ++i) last[blocks * kBlockSize - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  compress(state, last, blocks);
  for (int i = 0; i < 8; ++i) StoreBigEndian(out + 4 * i, state[i]);
}

}  // namespace

void CompressPortable(uint32_t state[8], const uint8_t* data, size_t blocks) {
  for (; blocks > 0; --blocks, data += kBlockSize) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = LoadBigEndian(data + 4 * i);
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                          kRound[i] + w[i];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

void CompressTwoPortable(uint32_t state_a[8], const uint8_t* data_a, uint32_t state_b[8],
                         const uint8_t* data_b, size_t blocks) {
  CompressPortable(state_a, data_a, blocks);
  CompressPortable(state_b, data_b, blocks);
}

Implementation Best() {
  static const Implementation best = ShaExtensionsAvailable()
                                         ? Implementation{CompressShaExtensions, CompressTwoShaExtensions}
                                         : Implementation{CompressPortable, CompressTwoPortable};
  return best;
}

namespace {

// RFC 2104 with a key no longer than a block: inner = H((K ^ ipad) || m),
// mac = H((K ^ opad) || inner). (jsnap's keys are 32 bytes.) These are the
// states after the padded key's block, shared by every message.
struct HmacStart {
  uint32_t inner[8];
  uint32_t outer[8];
};

HmacStart StartHmac(CompressFn compress, const uint8_t* key, size_t key_size) {
  JSNAP_CHECK(key_size <= kBlockSize);
  HmacStart start;
  uint8_t pad[kBlockSize];
  std::memset(pad, 0x36, sizeof(pad));
  for (size_t i = 0; i < key_size; ++i) pad[i] ^= key[i];
  std::memcpy(start.inner, kInitialState, sizeof(start.inner));
  compress(start.inner, pad, 1);
  std::memset(pad, 0x5c, sizeof(pad));
  for (size_t i = 0; i < key_size; ++i) pad[i] ^= key[i];
  std::memcpy(start.outer, kInitialState, sizeof(start.outer));
  compress(start.outer, pad, 1);
  return start;
}

// Ends a message whose whole blocks `state` has taken in: its tail, the
// padding, then the outer hash.
void EndHmac(CompressFn compress, const HmacStart& start, uint32_t state[8], const uint8_t* data,
             size_t size, uint8_t out[kDigestSize]) {
  const size_t whole = size / kBlockSize * kBlockSize;
  uint8_t inner[kDigestSize];
  Finish(compress, state, data + whole, size - whole, kBlockSize + size, inner);
  uint32_t outer[8];
  std::memcpy(outer, start.outer, sizeof(outer));
  Finish(compress, outer, inner, sizeof(inner), kBlockSize + sizeof(inner), out);
}

}  // namespace

void Hmac(CompressFn compress, const uint8_t* key, size_t key_size, const uint8_t* data,
          size_t size, uint8_t out[kDigestSize]) {
  const HmacStart start = StartHmac(compress, key, key_size);
  uint32_t state[8];
  std::memcpy(state, start.inner, sizeof(state));
  compress(state, data, size / kBlockSize);
  EndHmac(compress, start, state, data, size, out);
}

void HmacMany(Implementation impl, const uint8_t* key, size_t key_size, const HmacJob* jobs,
              size_t count) {
  const HmacStart start = StartHmac(impl.one, key, key_size);
  struct Lane {
    const HmacJob* job = nullptr;
    uint32_t state[8];
    const uint8_t* next = nullptr;  // the first block not yet taken in
    size_t blocks_left = 0;
  };
  Lane lanes[2];
  size_t next_job = 0;
  auto end = [&](Lane& lane) {
    EndHmac(impl.one, start, lane.state, lane.job->data, lane.job->size, lane.job->out);
    lane.job = nullptr;
  };
  for (;;) {
    for (Lane& lane : lanes) {
      while (lane.job == nullptr && next_job < count) {
        lane.job = &jobs[next_job++];
        std::memcpy(lane.state, start.inner, sizeof(lane.state));
        lane.next = lane.job->data;
        lane.blocks_left = lane.job->size / kBlockSize;
        if (lane.blocks_left == 0) end(lane);  // shorter than a block: no lane work
      }
    }
    Lane& a = lanes[0];
    Lane& b = lanes[1];
    if (a.job != nullptr && b.job != nullptr) {
      const size_t blocks = std::min(a.blocks_left, b.blocks_left);
      impl.two(a.state, a.next, b.state, b.next, blocks);
      for (Lane* lane : {&a, &b}) {
        lane->next += blocks * kBlockSize;
        lane->blocks_left -= blocks;
        if (lane->blocks_left == 0) end(*lane);
      }
      continue;
    }
    // The jobs are all taken: the one left finishes alone.
    Lane* last = a.job != nullptr ? &a : b.job != nullptr ? &b : nullptr;
    if (last == nullptr) return;
    impl.one(last->state, last->next, last->blocks_left);
    end(*last);
  }
}

}  // namespace jsnap::sha256
