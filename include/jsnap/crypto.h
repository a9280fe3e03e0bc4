// Cryptography, all from libsodium.
//
// - A repository has one random 32-byte master key. Three subkeys are derived
//   from it with crypto_kdf (BLAKE2b, context "jsnapkey"): the AEAD key for
//   every blob and metadata object, the MAC key for chunk ids, the seed of
//   the chunker's gear table, and the key of the index files.
// - Sealed objects are XChaCha20-Poly1305-IETF: nonce(24) || ciphertext ||
//   tag(16). The 192-bit random nonce makes nonce reuse negligible even when
//   many processes and repositories encrypt with one key, which is what lets
//   an encrypted blob be copied byte for byte to another repository that
//   shares the key (push). Blobs of format version 3 are sealed with their
//   type and id as associated data, so a blob opened under another identity
//   fails authentication (pack.h, BlobAd); other objects have none.
// - Blob ids: HMAC-SHA-256 of the plaintext, so ids reveal nothing about
//   content to someone without the key. SHA-256 rather than BLAKE2b because
//   x86 SHA extensions run it ~3x faster than libsodium's BLAKE2b, and the
//   id hash touches every byte of every create and check (src/crypto/sha256.h).
// - Passwords wrap the master key with a key from Argon2id (crypto_pwhash).
//
// Thread-safety: all functions are thread-safe; call InitCrypto() once first.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "jsnap/id.h"
#include "jsnap/status.h"

namespace jsnap {

Status InitCrypto();

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 24;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kSealOverhead = kNonceSize + kTagSize;

using KeyBytes = std::array<uint8_t, kKeySize>;

struct MasterKey {
  KeyBytes master{};
  // Derived on construction by Derive().
  KeyBytes encryption{};
  KeyBytes id_mac{};
  KeyBytes chunker_seed{};
  KeyBytes index{};  // encrypts the RocksDB index files at rest

  static MasterKey Generate();
  static MasterKey FromBytes(const KeyBytes& master);
};

// nonce || AEAD(plaintext, associated data `ad`). `out` is appended to (no
// intermediate copy). An empty `ad` gives the same bytes as no `ad`.
void SealAppend(const KeyBytes& key, std::string_view plaintext, std::string* out,
                std::string_view ad = {});
std::string Seal(const KeyBytes& key, std::string_view plaintext);
// Corruption when the object is too short or fails authentication.
Result<std::string> Open(const KeyBytes& key, std::string_view sealed);
// The same into `out` (its capacity reused: a loop over many blobs then
// allocates and faults in no new memory per blob).
// `ad` must be what the object was sealed with.
Status OpenInto(const KeyBytes& key, std::string_view sealed, std::string* out, std::string_view ad = {});

// HMAC-SHA-256: the blob id of `data` under the id_mac subkey.
Id KeyedHash(const KeyBytes& key, std::string_view data);
// The ids of `count` blobs at once, into out[0..count): two are hashed side
// by side, ~1.5x the throughput of one KeyedHash after another with the x86
// SHA extensions.
void KeyedHashMany(const KeyBytes& key, const std::string_view* data, size_t count, Id* out);
// Keyed BLAKE2b-256 (crypto_generichash with a key): builds the gear table.
Id KeyedBlake2b(const KeyBytes& key, std::string_view data);

// Unkeyed BLAKE2b-256: names files by their content (packs, snapshots, keys).
Id PlainHash(std::string_view data);
// PlainHash of `head` followed by `tail`, without joining them.
Id PlainHash(std::string_view head, std::string_view tail);

void RandomBytes(void* buf, size_t n);

// Argon2id limits for new keys: 32 MiB, 4 passes (see KdfParams::Default).
inline constexpr uint64_t kDefaultKdfPasses = 4;
inline constexpr uint64_t kDefaultKdfMemory = uint64_t{32} << 20;

struct KdfParams {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;
  std::string salt;  // crypto_pwhash_SALTBYTES raw bytes
  static KdfParams Default();  // fresh random salt, kDefaultKdf* limits
};
Result<KeyBytes> DeriveKeyFromPassword(std::string_view password, const KdfParams& params);

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace jsnap
