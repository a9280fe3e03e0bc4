#include "jsnap/chunker.h"

#include <gtest/gtest.h>

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
