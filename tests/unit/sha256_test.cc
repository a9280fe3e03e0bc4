// The id hash is jsnap's own SHA-256 compression (x86 SHA extensions, or
// portable). Both are held to libsodium's HMAC-SHA-256 and SHA-256.
#include "../../src/crypto/sha256.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "jsnap/crypto.h"

namespace jsnap {
namespace {

struct Implementation {
  const char* name;
  sha256::CompressFn compress;
  sha256::CompressTwoFn compress_two;
  sha256::Implementation Both() const { return {compress, compress_two}; }
};

std::vector<Implementation> Implementations() {
  std::vector<Implementation> all = {{"portable", sha256::CompressPortable, sha256::CompressTwoPortable}};
  if (sha256::ShaExtensionsAvailable()) {
    all.push_back({"sha-extensions", sha256::CompressShaExtensions, sha256::CompressTwoShaExtensions});
  }
  return all;
}

std::string HmacBySodium(std::string_view key, std::string_view msg) {
  uint8_t mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const uint8_t*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return HexEncodeBytes(mac, sizeof(mac));
}

std::string RandomString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Hex(const uint8_t* p, size_t n) { return HexEncodeBytes(p, n); }

TEST(Sha256Test, CompressionMatchesFips180TestVector) {
  // SHA-256("abc"), FIPS 180-4 appendix B.1: one padded block.
  for (const Implementation& impl : Implementations()) {
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t block[64] = {'a', 'b', 'c', 0x80};
    block[63] = 24;  // bit length
    impl.compress(state, block, 1);
    const uint32_t expected[8] = {0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223,
                                  0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad};
    for (int i = 0; i < 8; ++i) EXPECT_EQ(state[i], expected[i]) << impl.name << " word " << i;
  }
}

TEST(Sha256Test, HmacEqualsLibsodiumForEveryLengthAcrossBlockBoundaries) {
  ASSERT_TRUE(InitCrypto().ok());
  std::mt19937_64 rng(42);
  const auto impls = Implementations();
  for (size_t len = 0; len <= 600; ++len) {
    const std::string key = RandomString(rng, crypto_auth_hmacsha256_KEYBYTES);
    const std::string msg = RandomString(rng, len);
    const std::string expected = HmacBySodium(key, msg);
    for (const Implementation& impl : impls) {
      uint8_t got[32];
      sha256::Hmac(impl.compress, reinterpret_cast<const uint8_t*>(key.data()), key.size(),
                   reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), got);
      ASSERT_EQ(Hex(got, 32), expected) << impl.name << " length " << len;
    }
  }
}

TEST(Sha256Test, HmacEqualsLibsodiumOnLargeUnalignedInputs) {
  ASSERT_TRUE(InitCrypto().ok());
  std::mt19937_64 rng(7);
  const std::string big = RandomString(rng, (4 << 20) + 100);
  const auto impls = Implementations();
  for (size_t offset : {0, 1, 3, 17}) {
    for (size_t len : {size_t{4096}, size_t{65537}, size_t{1} << 20, size_t{4} << 20}) {
      const std::string_view msg = std::string_view(big).substr(offset, len);
      KeyBytes key;
      for (auto& b : key) b = static_cast<uint8_t>(rng());
      uint8_t expected[32];
      crypto_auth_hmacsha256(expected, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), key.data());
      for (const Implementation& impl : impls) {
        uint8_t got[32];
        sha256::Hmac(impl.compress, key.data(), key.size(),
                     reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), got);
        ASSERT_EQ(Hex(got, 32), Hex(expected, 32)) << impl.name << " offset " << offset << " length " << len;
      }
      EXPECT_EQ(KeyedHash(key, msg), Id::FromBytes(reinterpret_cast<const char*>(expected)));
    }
  }
}

TEST(Sha256Test, TwoMessagesSideBySideEqualTwoSingleCompressions) {
  std::mt19937_64 rng(3);
  const std::string a = RandomString(rng, 64 * 40 + 1), b = RandomString(rng, 64 * 40 + 5);
  for (const Implementation& impl : Implementations()) {
    for (size_t blocks : {0, 1, 2, 39}) {
      uint32_t one_a[8], one_b[8], two_a[8], two_b[8];
      for (int i = 0; i < 8; ++i) one_a[i] = two_a[i] = static_cast<uint32_t>(rng());
      for (int i = 0; i < 8; ++i) one_b[i] = two_b[i] = static_cast<uint32_t>(rng());
      // Unaligned message pointers, and different messages in each lane.
      const auto* da = reinterpret_cast<const uint8_t*>(a.data()) + 1;
      const auto* db = reinterpret_cast<const uint8_t*>(b.data()) + 3;
      impl.compress(one_a, da, blocks);
      impl.compress(one_b, db, blocks);
      impl.compress_two(two_a, da, two_b, db, blocks);
      for (int i = 0; i < 8; ++i) {
        ASSERT_EQ(two_a[i], one_a[i]) << impl.name << " lane a, " << blocks << " blocks, word " << i;
        ASSERT_EQ(two_b[i], one_b[i]) << impl.name << " lane b, " << blocks << " blocks, word " << i;
      }
    }
  }
}

// Jobs end at different blocks, so lanes take new jobs at every point: a job
// shorter than a block, at a block boundary, one much longer than the rest,
// an odd count that leaves one job alone at the end.
TEST(Sha256Test, HmacManyEqualsLibsodiumForEveryJobWhateverTheMixOfLengths) {
  ASSERT_TRUE(InitCrypto().ok());
  std::mt19937_64 rng(11);
  const std::string key = RandomString(rng, 32);
  const std::vector<std::vector<size_t>> batches = {
      {},
      {0},
      {100},
      {64, 64},
      {0, 55, 56, 63, 64, 65, 127, 128, 129},
      {1 << 20, 3, 70000, 64 * 7, 1, 200000, 5},
      {4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096},
  };
  for (const Implementation& impl : Implementations()) {
    for (const auto& lengths : batches) {
      std::vector<std::string> msgs;
      for (size_t len : lengths) msgs.push_back(RandomString(rng, len));
      std::vector<std::array<uint8_t, 32>> out(msgs.size());
      std::vector<sha256::HmacJob> jobs;
      for (size_t i = 0; i < msgs.size(); ++i) {
        jobs.push_back({reinterpret_cast<const uint8_t*>(msgs[i].data()), msgs[i].size(), out[i].data()});
      }
      sha256::HmacMany(impl.Both(), reinterpret_cast<const uint8_t*>(key.data()), key.size(), jobs.data(),
                       jobs.size());
      for (size_t i = 0; i < msgs.size(); ++i) {
        ASSERT_EQ(Hex(out[i].data(), 32), HmacBySodium(key, msgs[i]))
            << impl.name << ": job " << i << " of " << msgs.size() << ", " << msgs[i].size() << " bytes";
      }
    }
  }
}

TEST(Sha256Test, KeyedHashManyGivesEachBlobItsKeyedHash) {
  ASSERT_TRUE(InitCrypto().ok());
  std::mt19937_64 rng(5);
  KeyBytes key;
  for (auto& b : key) b = static_cast<uint8_t>(rng());
  std::vector<std::string> blobs;
  for (size_t len : {300000, 524288, 17, 0, 999999}) blobs.push_back(RandomString(rng, len));
  std::vector<std::string_view> views(blobs.begin(), blobs.end());
  std::vector<Id> ids(blobs.size());
  KeyedHashMany(key, views.data(), views.size(), ids.data());
  for (size_t i = 0; i < blobs.size(); ++i) EXPECT_EQ(ids[i], KeyedHash(key, blobs[i])) << "blob " << i;
}

}  // namespace
}  // namespace jsnap
