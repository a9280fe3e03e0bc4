#include "jsnap/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <set>

#include "test_util.h"

namespace jsnap {
namespace {

std::vector<std::string> Split(const Chunker& c, const std::string& data) {
  std::vector<std::string> chunks;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t cut = c.FindCut(reinterpret_cast<const uint8_t*>(data.data() + pos), data.size() - pos, true);
    EXPECT_GT(cut, 0u);
    chunks.push_back(data.substr(pos, cut));
    pos += cut;
  }
  return chunks;
}

ChunkerParams SmallParams() {
  ChunkerParams p;
  p.min_size = 8 * 1024;
  p.avg_size = 32 * 1024;
  p.max_size = 128 * 1024;
  return p;
}

TEST(Chunker, ChunksRespectBoundsAndReassemble) {
  ASSERT_TRUE(InitCrypto().ok());
  Chunker c(SmallParams(), MasterKey::Generate().chunker_seed);
  const std::string data = test::RandomBytes(4 << 20, 1);
  auto chunks = Split(c, data);
  std::string joined;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].size(), 8u * 1024);
      EXPECT_LE(chunks[i].size(), 128u * 1024);
    }
    joined += chunks[i];
  }
  EXPECT_EQ(joined, data);
  // Normalized chunking keeps the mean near avg_size.
  const double mean = static_cast<double>(data.size()) / chunks.size();
  EXPECT_GT(mean, 20.0 * 1024);
  EXPECT_LT(mean, 64.0 * 1024);
}

TEST(Chunker, NeedsMoreDataUnlessAtEof) {
  Chunker c(SmallParams(), MasterKey::Generate().chunker_seed);
  const std::string data = test::RandomBytes(4096, 2);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  EXPECT_EQ(c.FindCut(p, data.size(), false), 0u);
  EXPECT_EQ(c.FindCut(p, data.size(), true), data.size());
  const std::string zeros(1 << 20, '\0');  // no cut point in zeros: max_size chunks
  EXPECT_EQ(c.FindCut(reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size(), false), 128u * 1024);
}

TEST(Chunker, InsertingBytesAtTheFrontKeepsMostChunks) {
  Chunker c(SmallParams(), MasterKey::Generate().chunker_seed);
  const std::string data = test::RandomBytes(8 << 20, 3);
  auto before = Split(c, data);
  auto after = Split(c, "inserted at the front: a few bytes" + data);
  std::set<std::string> old(before.begin(), before.end());
  size_t shared = 0;
  for (const auto& ch : after) shared += old.count(ch);
  // Only the first chunk or two may change.
  EXPECT_GE(shared + 2, before.size()) << shared << " of " << before.size() << " chunks kept";
}

TEST(Chunker, BoundariesDependOnTheKey) {
  const std::string data = test::RandomBytes(2 << 20, 4);
  auto a = Split(Chunker(SmallParams(), MasterKey::Generate().chunker_seed), data);
  auto b = Split(Chunker(SmallParams(), MasterKey::Generate().chunker_seed), data);
  std::set<size_t> sa, sb;
  size_t pos = 0;
  for (auto& ch : a) sa.insert(pos += ch.size());
  pos = 0;
  for (auto& ch : b) sb.insert(pos += ch.size());
  size_t common = 0;
  for (size_t x : sa) common += sb.count(x);
  EXPECT_LT(common, sa.size() / 4 + 1);  // only the end of data is always shared
}

// find_cut exactly as format-spec.md section 11 writes it: one lane, the
// gear table derived from the seed here, not taken from the chunker.
class SpecChunker {
 public:
  SpecChunker(const ChunkerParams& p, const KeyBytes& seed) : p_(p) {
    for (int i = 0; i < 256; ++i) {
      const char b = static_cast<char>(i);
      const Id h = KeyedBlake2b(seed, std::string_view(&b, 1));
      uint64_t v = 0;
      for (int k = 7; k >= 0; --k) v = v << 8 | h.bytes[k];
      gear_[i] = v;
    }
    const int bits = std::countr_zero(p.avg_size);
    mask_s_ = ~uint64_t{0} << (64 - (bits + 2));
    mask_l_ = ~uint64_t{0} << (64 - (bits - 2));
  }
  size_t FindCut(const uint8_t* data, size_t len, bool at_eof) const {
    if (len <= p_.min_size) return at_eof ? len : 0;
    const size_t limit = std::min<size_t>(len, p_.max_size), normal = std::min<size_t>(limit, p_.avg_size);
    uint64_t h = 0;
    for (size_t i = p_.min_size - 64; i < p_.min_size; ++i) h = (h << 1) + gear_[data[i]];
    for (size_t i = p_.min_size; i < normal; ++i) {
      h = (h << 1) + gear_[data[i]];
      if ((h & mask_s_) == 0) return i + 1;
    }
    for (size_t i = normal; i < limit; ++i) {
      h = (h << 1) + gear_[data[i]];
      if ((h & mask_l_) == 0) return i + 1;
    }
    if (limit == p_.max_size) return limit;
    return at_eof ? len : 0;
  }

 private:
  ChunkerParams p_;
  uint64_t gear_[256];
  uint64_t mask_s_, mask_l_;
};

// Whatever the parameters and wherever the cuts fall (with the small mask,
// the large one, at a forced MAX, at EOF), the chunker's cuts are the spec's,
// and so are its "need more bytes" answers for a buffer that ends anywhere:
// a third party's reader written from format-spec.md cuts the same chunks.
TEST(Chunker, CutsAreTheSpecsWhateverTheParametersAndTheBufferEnd) {
  ASSERT_TRUE(InitCrypto().ok());
  const KeyBytes seed = MasterKey::Generate().chunker_seed;
  // Random bytes (cuts everywhere), then zeros (no cut: forced MAX cuts),
  // then random again.
  std::string data = test::RandomBytes(12 << 20, 7) + std::string(3 << 20, '\0') + test::RandomBytes(1 << 20, 8);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  struct Case { uint32_t min, avg, max; };
  // Defaults; small chunks far from MAX; MIN = AVG (no small-mask region);
  // the smallest sizes.
  for (const Case c : {Case{256 << 10, 512 << 10, 4 << 20}, Case{16 << 10, 64 << 10, 1 << 20},
                       Case{4096, 4096, 256 << 10}, Case{64, 4096, 8192}}) {
    ChunkerParams p;
    p.min_size = c.min, p.avg_size = c.avg, p.max_size = c.max;
    ASSERT_TRUE(p.Validate().ok());
    const Chunker chunker(p, seed);
    const SpecChunker spec(p, seed);
    uint64_t rng = 12345;
    size_t pos = 0, chunks = 0;
    while (pos < data.size()) {
      const size_t rest = data.size() - pos;
      const size_t want = spec.FindCut(bytes + pos, rest, true);
      ASSERT_EQ(chunker.FindCut(bytes + pos, rest, true), want) << "params " << c.min << "/" << c.avg << "/" << c.max << " at " << pos;
      // A buffer that ends short of the stream: the same cut if it lies
      // within, else "need more" (or MAX once MAX bytes are there).
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      const size_t random_end = (rng >> 33) % (2 * static_cast<size_t>(c.max));
      for (size_t end : {random_end, size_t{c.min}, size_t{c.min} + 1, size_t{c.avg}, size_t{c.max} - 1, size_t{c.max}}) {
        const size_t shorter = std::min(rest, end);
        ASSERT_EQ(chunker.FindCut(bytes + pos, shorter, false), spec.FindCut(bytes + pos, shorter, false))
            << "params " << c.min << "/" << c.avg << "/" << c.max << " at " << pos << ", " << shorter << " bytes";
      }
      pos += want;
      ++chunks;
    }
    EXPECT_GT(chunks, data.size() / c.max) << "cuts other than forced ones";
  }
}

TEST(Chunker, ParamsAreValidated) {
  ChunkerParams p;
  EXPECT_TRUE(p.Validate().ok());
  p.avg_size = 3000;
  EXPECT_FALSE(p.Validate().ok());
  p = ChunkerParams{};
  p.min_size = p.avg_size * 2;
  EXPECT_FALSE(p.Validate().ok());
}

}  // namespace
}  // namespace jsnap
