// The index's files on disk, read the way format-spec.md 16.1 tells a third
// party to: a 64-byte plaintext prefix ("JSNAPIX1", a 24-byte nonce), then
// content XORed with XChaCha20(index key, nonce) at its absolute offset.
#include <gtest/gtest.h>
#include <sodium.h>

#include <filesystem>
#include <set>

#include "jsnap/index.h"
#include "test_util.h"

namespace jsnap {
namespace {

// Decrypts one index file as the spec describes; the prefix is dropped.
std::string DecryptPerSpec(const std::string& file, const KeyBytes& key) {
  std::string raw = test::ReadFile(file);
  EXPECT_GE(raw.size(), 64u) << file;
  if (raw.size() < 64) return "";
  std::string content = raw.substr(64);
  auto* p = reinterpret_cast<uint8_t*>(content.data());
  // Offset 64 is the start of keystream block 1.
  crypto_stream_xchacha20_xor_ic(p, p, content.size(), reinterpret_cast<const uint8_t*>(raw.data() + 8), 1,
                                 key.data());
  return content;
}

TEST(IndexEncryptionTest, FilesDecryptAsTheSpecSaysAndHideTheirIds) {
  ASSERT_TRUE(InitCrypto().ok());
  test::TempDir dir;
  const KeyBytes key = MasterKey::Generate().index;
  PackInfo pack;
  pack.id.bytes.fill(0x5a);
  for (int i = 0; i < 200; ++i) {
    PackEntry e;
    e.id = PlainHash("blob " + std::to_string(i));
    e.offset = 100 * i;
    e.length = 100;
    e.raw_length = 150;
    pack.entries.push_back(e);
  }
  pack.size = 100 * 200 + kPackTrailerSize + kSealOverhead + kPackEntrySize * 200;
  {
    auto index = Index::Open(dir / "index", key, false).value();
    ASSERT_TRUE(index->AddPack(pack).ok());
  }
  // Blob 7's id, less its first two bytes: table files store a key's
  // prefix shared with the previous key only once.
  const std::string wanted = std::string(pack.entries[7].id.View().substr(2));
  std::set<std::string> nonces;
  bool found = false, saw_current = false;
  int tables = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "index")) {
    const std::string name = entry.path().filename();
    if (name.rfind("LOG", 0) == 0 || name == "LOCK") continue;  // plaintext by design (spec 16.1)
    const std::string raw = test::ReadFile(entry.path());
    if (raw.empty()) continue;
    ASSERT_GE(raw.size(), 64u) << name;
    EXPECT_EQ(raw.substr(0, 8), "JSNAPIX1") << name;
    EXPECT_EQ(raw.substr(32, 32), std::string(32, '\0')) << name;
    EXPECT_TRUE(nonces.insert(raw.substr(8, 24)).second) << name << " reuses a nonce";
    EXPECT_EQ(raw.find(wanted), std::string::npos) << name << " holds an id in plain text";
    const std::string content = DecryptPerSpec(entry.path(), key);
    if (name == "CURRENT") {
      saw_current = true;
      EXPECT_EQ(content.rfind("MANIFEST-", 0), 0u) << content;
      EXPECT_EQ(content.back(), '\n');
    }
    // A table file is written in many appends at unaligned offsets; its
    // last 8 bytes decrypt to RocksDB's block-based table magic number.
    if (name.size() > 4 && name.substr(name.size() - 4) == ".sst") {
      ++tables;
      ASSERT_GE(content.size(), 8u) << name;
      uint64_t magic = 0;
      for (int i = 7; i >= 0; --i) magic = (magic << 8) | static_cast<uint8_t>(content[content.size() - 8 + i]);
      EXPECT_EQ(magic, 0x88e241b785f4cff7ull) << name;
    }
    found = found || content.find(wanted) != std::string::npos;
  }
  EXPECT_TRUE(saw_current);
  EXPECT_GE(tables, 1);
  EXPECT_TRUE(found) << "no file decrypts to a content holding blob 7's id";
  EXPECT_GE(nonces.size(), 3u);  // CURRENT, a manifest, a log or table at least
  // And the index reads back what it was given.
  auto index = Index::Open(dir / "index", key, true).value();
  const auto at = index->Find(pack.entries[7].id).value();
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->pack, pack.id);
  EXPECT_EQ(at->offset, 700u);
}

TEST(IndexEncryptionTest, AnotherKeyDoesNotOpenTheIndex) {
  ASSERT_TRUE(InitCrypto().ok());
  test::TempDir dir;
  {
    auto index = Index::Open(dir / "index", MasterKey::Generate().index, false).value();
  }
  auto other = Index::Open(dir / "index", MasterKey::Generate().index, true);
  ASSERT_FALSE(other.ok());
  // The files are this version's: the failure is the key, not the layout.
  EXPECT_EQ(other.status().message().find("another jsnap version"), std::string::npos)
      << other.status().message();
}

}  // namespace
}  // namespace jsnap
