// The id hash is jsnap's own SHA-256 compression (x86 SHA extensions, or
// portable). Both are held to libsodium's HMAC-SHA-256 and SHA-256.
#include "../../src/crypto/sha256.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <random>
#include <string>
#include <vector>

#include "jsnap/crypto.h"

namespace jsnap {
namespace {

struct Implementation {
  const char* name;
  sha256::CompressFn compress;
};

std::vector<Implementation> Implementations() {
  std::vector<Implementation> all = {{"portable", sha256::CompressPortable}};
  if (sha256::ShaExtensionsAvailable()) all.push_back({"sha-extensions", sha256::CompressShaExtensions});
  return all;
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
    uint8_t expected[32];
    crypto_auth_hmacsha256(expected, reinterpret_cast<const uint8_t*>(msg.data()), msg.size(),
                           reinterpret_cast<const uint8_t*>(key.data()));
    for (const Implementation& impl : impls) {
      uint8_t got[32];
      sha256::Hmac(impl.compress, reinterpret_cast<const uint8_t*>(key.data()), key.size(),
                   reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), got);
      ASSERT_EQ(Hex(got, 32), Hex(expected, 32)) << impl.name << " length " << len;
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

}  // namespace
}  // namespace jsnap
