// At-rest encryption of the index's files (format-spec.md 16.1): each file
// starts with a 64-byte plaintext prefix holding a magic and a random
// 24-byte nonce; everything after it is XORed with the XChaCha20 keystream
// of (index key, nonce) at the byte's absolute file offset.
#pragma once

#include <rocksdb/env_encryption.h>

#include <memory>

#include "jsnap/crypto.h"

namespace jsnap::internal {

// The prefix's first 8 bytes; the digit is the layout's version.
inline constexpr char kIndexFileMagic[8] = {'J', 'S', 'N', 'A', 'P', 'I', 'X', '1'};
inline constexpr size_t kIndexFilePrefix = 64;

std::shared_ptr<rocksdb::EncryptionProvider> NewIndexEncryption(const KeyBytes& key);

}  // namespace jsnap::internal
