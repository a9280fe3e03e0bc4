// Key files (keys/<id>) and the config file: the plaintext JSON parts of a
// repository. Internal to the repository module.
#pragma once

#include <string>

#include "jsnap/crypto.h"
#include "jsnap/repository.h"

namespace jsnap::internal {

std::string EncodeConfig(const RepoConfig& config);
Result<RepoConfig> DecodeConfig(const std::string& text);

// Wraps the master key with a key derived from `password`.
std::string EncodeKeyFile(const MasterKey& key, const Id& repo_id, const std::string& password,
                          const KdfParams& kdf);
// Corruption for a malformed file; WrongPassword when the password does not
// open it (or the key belongs to another repository).
Result<MasterKey> OpenKeyFile(const std::string& text, const Id& repo_id,
                              const std::string& password);
Result<KeyInfo> DescribeKeyFile(const std::string& id, const std::string& text);

}  // namespace jsnap::internal
