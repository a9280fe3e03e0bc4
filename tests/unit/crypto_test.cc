#include "jsnap/crypto.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "jsnap/compress.h"
#include "jsnap/pack.h"
#include "test_util.h"

namespace jsnap {
namespace {

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }
};

TEST_F(CryptoTest, SealOpenRoundTripAndEveryFlippedByteIsDetected) {
  MasterKey k = MasterKey::Generate();
  const std::string plain = "the quick brown fox jumps over the lazy dog";
  const std::string sealed = Seal(k.encryption, plain);
  ASSERT_EQ(sealed.size(), plain.size() + kSealOverhead);
  auto opened = Open(k.encryption, sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened.value(), plain);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    auto r = Open(k.encryption, bad);
    ASSERT_FALSE(r.ok()) << "flip at byte " << i << " went unnoticed";
    EXPECT_TRUE(r.status().IsCorruption());
  }
  EXPECT_FALSE(Open(k.encryption, sealed.substr(0, sealed.size() - 1)).ok());
  EXPECT_FALSE(Open(MasterKey::Generate().encryption, sealed).ok());
}

TEST_F(CryptoTest, SubkeysAreDistinctAndDeterministic) {
  MasterKey a = MasterKey::Generate();
  MasterKey b = MasterKey::FromBytes(a.master);
  EXPECT_EQ(a.encryption, b.encryption);
  EXPECT_EQ(a.id_mac, b.id_mac);
  EXPECT_NE(a.encryption, a.id_mac);
  EXPECT_NE(a.id_mac, a.chunker_seed);
  EXPECT_NE(KeyedHash(a.id_mac, "x"), KeyedHash(MasterKey::Generate().id_mac, "x"));
  EXPECT_NE(KeyedHash(a.id_mac, "x"), PlainHash("x"));
}

// A pack's name is the hash of its sealed header and trailer, hashed as two
// parts (a header of ~12 MB is not copied to join them): the same name.
TEST_F(CryptoTest, PlainHashOfTwoPartsIsTheHashOfTheirJoin) {
  const std::string big = test::RandomBytes(3 << 20, 7);
  for (size_t split : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{129}, big.size() - 4, big.size()}) {
    EXPECT_EQ(PlainHash(std::string_view(big).substr(0, split), std::string_view(big).substr(split)), PlainHash(big))
        << split;
  }
  EXPECT_NE(PlainHash("ab", "c"), PlainHash("abc", "d"));
}

TEST_F(CryptoTest, PasswordDerivationDependsOnPasswordAndSalt) {
  KdfParams p = KdfParams::Default();
  p.opslimit = 1;
  p.memlimit = 8192;
  auto k1 = DeriveKeyFromPassword("pw", p);
  auto k2 = DeriveKeyFromPassword("pw", p);
  auto k3 = DeriveKeyFromPassword("pW", p);
  ASSERT_TRUE(k1.ok() && k2.ok() && k3.ok());
  EXPECT_EQ(k1.value(), k2.value());
  EXPECT_NE(k1.value(), k3.value());
  KdfParams q = KdfParams::Default();
  q.opslimit = 1;
  q.memlimit = 8192;
  EXPECT_NE(DeriveKeyFromPassword("pw", q).value(), k1.value());
  p.salt = "short";
  EXPECT_TRUE(DeriveKeyFromPassword("pw", p).status().IsCorruption());
}

// New keys trade memory for passes, never strength: a guess must cost at
// least what libsodium's INTERACTIVE limits cost (memory x passes), and the
// memory stays above OWASP's Argon2id floor (19 MiB), so an attacker cannot
// run many guesses in little memory.
TEST_F(CryptoTest, DefaultKdfCostsAtLeastInteractiveAndDerivesTheSameKeyTwice) {
  KdfParams p = KdfParams::Default();
  EXPECT_GE(p.memlimit * p.opslimit, uint64_t{crypto_pwhash_MEMLIMIT_INTERACTIVE} *
                                         uint64_t{crypto_pwhash_OPSLIMIT_INTERACTIVE});
  EXPECT_GE(p.memlimit, uint64_t{19} << 20);
  EXPECT_LE(p.memlimit, uint64_t{32} << 20) << "the memory is most of a command's peak RSS";
  auto k1 = DeriveKeyFromPassword("pw", p);
  auto k2 = DeriveKeyFromPassword("pw", p);
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_EQ(k1.value(), k2.value());
  EXPECT_NE(KdfParams::Default().salt, p.salt);
}

// Database pages are compressed without Huffman-coded literals (faster to
// decode a 4 KiB frame): the frame differs (larger for skewed text, which
// Huffman coding would shrink) and still round-trips as a standard frame.
TEST_F(CryptoTest, PageProfileSkipsHuffmanLiteralsAndRoundTrips) {
  std::string page;
  uint64_t x = 12345;
  while (page.size() < 4096) {  // skewed letters, few repeats: literals dominate
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    page.push_back("eeeeeeettttaaoinshrdlu"[(x >> 33) % 22]);
  }
  std::string plain, paged;
  CompressFrameAppend(page, 3, &plain);
  CompressFrameAppend(page, 3, &paged, CompressionProfile::kPage);
  ASSERT_EQ(plain[0], 1);
  ASSERT_EQ(paged[0], 1);
  EXPECT_GT(paged.size(), plain.size()) << "the page profile should store literals raw";
  EXPECT_EQ(DecompressFrame(paged, page.size()).value(), page);
  EXPECT_EQ(DecompressFrame(plain, page.size()).value(), page);
}

TEST_F(CryptoTest, CompressionFramesRoundTripAndFallBackToRaw) {
  const std::string text(100000, 'a');
  std::string frame;
  CompressFrameAppend(text, 3, &frame);
  EXPECT_EQ(frame[0], 1);  // zstd
  EXPECT_LT(frame.size(), 1000u);
  EXPECT_EQ(DecompressFrame(frame, text.size()).value(), text);
  EXPECT_TRUE(DecompressFrame(frame, text.size() + 1).status().IsCorruption());

  std::string noise(50000, '\0');
  RandomBytes(noise.data(), noise.size());
  std::string raw;
  CompressFrameAppend(noise, 3, &raw);
  EXPECT_EQ(raw[0], 0);  // incompressible data is stored raw
  EXPECT_EQ(raw.size(), noise.size() + 1);
  EXPECT_EQ(DecompressFrame(raw, noise.size()).value(), noise);

  std::string broken = frame;
  broken[broken.size() / 2] ^= 0x55;
  EXPECT_FALSE(DecompressFrame(broken, text.size()).ok());
  EXPECT_TRUE(DecompressFrame(std::string("\x07xyz", 4), 3).status().IsCorruption());
}

TEST_F(CryptoTest, BlobDecodeVerifiesTheId) {
  MasterKey k = MasterKey::Generate();
  const std::string plain = "chunk content";
  std::string stored;
  EncodeBlobAppend(k.encryption, plain, 3, &stored);
  const Id id = KeyedHash(k.id_mac, plain);
  EXPECT_EQ(DecodeBlob(k.encryption, k.id_mac, id, stored, plain.size()).value(), plain);
  const Id other = KeyedHash(k.id_mac, "something else");
  auto r = DecodeBlob(k.encryption, k.id_mac, other, stored, plain.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not hash to its id"), std::string::npos);
}

// Format 3: a blob sealed with its type and id opens only as that blob,
// even without re-hashing; as another id or type it fails authentication.
TEST_F(CryptoTest, BoundBlobOpensOnlyAsItself) {
  MasterKey k = MasterKey::Generate();
  const std::string plain = "page of a database";
  const Id id = KeyedHash(k.id_mac, plain), other = KeyedHash(k.id_mac, "another page");
  const BlobAd ad(BlobType::kData, id);
  std::string stored;
  EncodeBlobAppend(k.encryption, plain, 3, &stored, ad.view());
  EXPECT_EQ(DecodeBlob(k.encryption, k.id_mac, id, stored, plain.size(), {ad.view(), false}).value(), plain);
  const BlobAd wrong_id(BlobType::kData, other), wrong_type(BlobType::kTree, id);
  for (const BlobAd* w : {&wrong_id, &wrong_type}) {
    auto r = DecodeBlob(k.encryption, k.id_mac, id, stored, plain.size(), {w->view(), false});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("authentication failed"), std::string::npos);
  }
  // Opened without its binding (as a version 2 blob) it fails too.
  EXPECT_FALSE(DecodeBlob(k.encryption, k.id_mac, id, stored, plain.size()).ok());
}

// check --read-data decodes every blob into the same two buffers: each
// result must be exactly its own plaintext, whatever the buffers held.
TEST_F(CryptoTest, BlobDecodeIntoReusedBuffersLeavesNothingBehind) {
  MasterKey k = MasterKey::Generate();
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>("chunk text "[i % 11] + (i >> 16));
  std::string noise(200000, '\0');
  RandomBytes(noise.data(), noise.size());
  std::string frame, plain;
  for (const std::string& p : {big, std::string("small"), noise, std::string(), big.substr(7, 600000)}) {
    std::string stored;
    EncodeBlobAppend(k.encryption, p, 3, &stored);
    const Id id = KeyedHash(k.id_mac, p);
    ASSERT_TRUE(DecodeBlobInto(k.encryption, k.id_mac, id, stored, p.size(), &frame, &plain).ok());
    EXPECT_EQ(plain, p);
    stored[stored.size() / 2] ^= 1;
    EXPECT_TRUE(DecodeBlobInto(k.encryption, k.id_mac, id, stored, p.size(), &frame, &plain).IsCorruption());
  }
}

}  // namespace
}  // namespace jsnap
