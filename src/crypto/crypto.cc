#include "jsnap/crypto.h"

#include <sodium.h>

#include <vector>

#include "sha256.h"

namespace jsnap {

namespace {
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "jsnapkey";
// Subkey 5 keyed SQLite page fingerprints in development builds; unused.
enum Subkey : uint64_t { kEncryption = 1, kIdMac = 2, kChunkerSeed = 3, kIndex = 4 };

KeyBytes DeriveSubkey(const KeyBytes& master, uint64_t id) {
  KeyBytes out;
  crypto_kdf_derive_from_key(out.data(), out.size(), id, kKdfContext, master.data());
  return out;
}
}  // namespace

Status InitCrypto() {
  if (sodium_init() < 0) return Status::IOError("libsodium failed to initialise");
  return Status::Ok();
}

MasterKey MasterKey::Generate() {
  KeyBytes master;
  randombytes_buf(master.data(), master.size());
  return FromBytes(master);
}

MasterKey MasterKey::FromBytes(const KeyBytes& master) {
  MasterKey k;
  k.master = master;
  k.encryption = DeriveSubkey(master, kEncryption);
  k.id_mac = DeriveSubkey(master, kIdMac);
  k.chunker_seed = DeriveSubkey(master, kChunkerSeed);
  k.index = DeriveSubkey(master, kIndex);
  return k;
}

void SealAppend(const KeyBytes& key, std::string_view plaintext, std::string* out, std::string_view ad) {
  const size_t start = out->size();
  out->resize(start + kNonceSize + plaintext.size() + kTagSize);
  auto* nonce = reinterpret_cast<uint8_t*>(out->data() + start);
  randombytes_buf(nonce, kNonceSize);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceSize, &clen, reinterpret_cast<const uint8_t*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const uint8_t*>(ad.data()), ad.size(), nullptr, nonce,
      key.data());
}

std::string Seal(const KeyBytes& key, std::string_view plaintext) {
  std::string out;
  SealAppend(key, plaintext, &out);
  return out;
}

Result<std::string> Open(const KeyBytes& key, std::string_view sealed) {
  std::string plain;
  RETURN_IF_ERROR(OpenInto(key, sealed, &plain));
  return plain;
}

Status OpenInto(const KeyBytes& key, std::string_view sealed, std::string* out, std::string_view ad) {
  if (sealed.size() < kSealOverhead) {
    return Status::Corruption("encrypted object is too short (" + std::to_string(sealed.size()) +
                              " bytes)");
  }
  const auto* nonce = reinterpret_cast<const uint8_t*>(sealed.data());
  out->resize(sealed.size() - kSealOverhead);
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(out->data()), &plen, nullptr, nonce + kNonceSize,
          sealed.size() - kNonceSize, reinterpret_cast<const uint8_t*>(ad.data()), ad.size(), nonce,
          key.data()) != 0) {
    return Status::Corruption("authentication failed (the data was modified or damaged)");
  }
  return Status::Ok();
}

Id KeyedHash(const KeyBytes& key, std::string_view data) {
  static_assert(Id::kSize == sha256::kDigestSize);
  Id id;
  sha256::Hmac(sha256::Best().one, key.data(), key.size(),
               reinterpret_cast<const uint8_t*>(data.data()), data.size(), id.bytes.data());
  return id;
}

void KeyedHashMany(const KeyBytes& key, const std::string_view* data, size_t count, Id* out) {
  std::vector<sha256::HmacJob> jobs(count);
  for (size_t i = 0; i < count; ++i) {
    jobs[i] = {reinterpret_cast<const uint8_t*>(data[i].data()), data[i].size(), out[i].bytes.data()};
  }
  sha256::HmacMany(sha256::Best(), key.data(), key.size(), jobs.data(), count);
}

Id KeyedBlake2b(const KeyBytes& key, std::string_view data) {
  Id id;
  crypto_generichash(id.bytes.data(), Id::kSize, reinterpret_cast<const uint8_t*>(data.data()),
                     data.size(), key.data(), key.size());
  return id;
}

Id PlainHash(std::string_view data) {
  Id id;
  crypto_generichash(id.bytes.data(), Id::kSize, reinterpret_cast<const uint8_t*>(data.data()),
                     data.size(), nullptr, 0);
  return id;
}

Id PlainHash(std::string_view head, std::string_view tail) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, Id::kSize);
  crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(head.data()), head.size());
  crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(tail.data()), tail.size());
  Id id;
  crypto_generichash_final(&state, id.bytes.data(), Id::kSize);
  return id;
}

void RandomBytes(void* buf, size_t n) { randombytes_buf(buf, n); }

KdfParams KdfParams::Default() {
  KdfParams p;
  // Half of libsodium's INTERACTIVE memory (64 MiB, 2 passes) with twice the
  // passes: the same memory-time product, which is what a guess costs an
  // attacker (RFC 9106: with less memory, raise t), in half the resident
  // memory. 64 MiB was most of every command's peak RSS; this also derives
  // faster here (45 vs 70 ms), as fewer pages are faulted in.
  p.opslimit = kDefaultKdfPasses;
  p.memlimit = kDefaultKdfMemory;
  p.salt.resize(crypto_pwhash_SALTBYTES);
  randombytes_buf(p.salt.data(), p.salt.size());
  return p;
}

Result<KeyBytes> DeriveKeyFromPassword(std::string_view password, const KdfParams& params) {
  if (params.salt.size() != crypto_pwhash_SALTBYTES) {
    return Status::Corruption("key file: salt must be " + std::to_string(crypto_pwhash_SALTBYTES) +
                              " bytes");
  }
  if (params.opslimit < crypto_pwhash_OPSLIMIT_MIN || params.opslimit > crypto_pwhash_OPSLIMIT_MAX ||
      params.memlimit < crypto_pwhash_MEMLIMIT_MIN || params.memlimit > (uint64_t{1} << 34)) {
    return Status::Corruption("key file: Argon2id parameters out of range");
  }
  KeyBytes out;
  if (crypto_pwhash(out.data(), out.size(), password.data(), password.size(),
                    reinterpret_cast<const uint8_t*>(params.salt.data()), params.opslimit,
                    static_cast<size_t>(params.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IOError("Argon2id key derivation ran out of memory");
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const uint8_t*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<uint8_t*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Status::Corruption("invalid base64");
  }
  out.resize(len);
  return out;
}

}  // namespace jsnap
