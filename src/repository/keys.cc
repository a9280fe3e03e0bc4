#include "keys.h"

#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "jsnap/system.h"

namespace jsnap::internal {

using json = nlohmann::json;

std::string EncodeConfig(const RepoConfig& c) {
  json j = {{"version", c.version},
            {"id", c.id.Hex()},
            {"chunker",
             {{"algorithm", "fastcdc-gear-keyed"},
              {"min_size", c.chunker.min_size},
              {"avg_size", c.chunker.avg_size},
              {"max_size", c.chunker.max_size}}},
            {"pack_size", c.pack_size}};
  return j.dump(2) + "\n";
}

Result<RepoConfig> DecodeConfig(const std::string& text) {
  try {
    json j = json::parse(text);
    RepoConfig c;
    c.version = j.at("version").get<int>();
    if (c.version == 1) {
      return Status::Corruption(
          "config: repository format version 1 (blob ids by keyed BLAKE2b) is no longer "
          "readable: this jsnap reads and writes version 2 (blob ids by HMAC-SHA-256). Restore "
          "its snapshots with the jsnap that created it, then back up into a new repository");
    }
    if (c.version < kOldestFormatVersion || c.version > kFormatVersion) {
      return Status::Corruption("config: repository format version " + std::to_string(c.version) +
                                " is not supported by this jsnap (it reads versions " +
                                std::to_string(kOldestFormatVersion) + " to " +
                                std::to_string(kFormatVersion) + ")");
    }
    ASSIGN_OR_RETURN(c.id, Id::FromHex(j.at("id").get<std::string>()));
    const json& ch = j.at("chunker");
    if (ch.at("algorithm").get<std::string>() != "fastcdc-gear-keyed") {
      return Status::Corruption("config: unknown chunker algorithm");
    }
    c.chunker.min_size = ch.at("min_size").get<uint32_t>();
    c.chunker.avg_size = ch.at("avg_size").get<uint32_t>();
    c.chunker.max_size = ch.at("max_size").get<uint32_t>();
    RETURN_IF_ERROR(c.chunker.Validate().WithContext("config"));
    c.pack_size = j.at("pack_size").get<uint32_t>();
    if (c.pack_size < (1u << 20) || c.pack_size > (1u << 30)) {
      return Status::Corruption("config: pack_size out of range");
    }
    return c;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("config: malformed JSON: ") + e.what());
  }
}

std::string EncodeKeyFile(const MasterKey& key, const Id& repo_id, const std::string& password,
                          const KdfParams& kdf) {
  KeyBytes wrapping = DeriveKeyFromPassword(password, kdf).value();
  std::string plain(reinterpret_cast<const char*>(key.master.data()), kKeySize);
  plain.append(repo_id.View());
  char created[32];
  time_t now = std::time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  std::strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
  json j = {{"version", 1},
            {"created", created},
            {"hostname", CurrentHost()},
            {"username", CurrentUser()},
            {"kdf",
             {{"algorithm", "argon2id13"},
              {"opslimit", kdf.opslimit},
              {"memlimit", kdf.memlimit},
              {"salt", Base64Encode(kdf.salt)}}},
            {"data", Base64Encode(Seal(wrapping, plain))}};
  return j.dump(2) + "\n";
}

Result<MasterKey> OpenKeyFile(const std::string& text, const Id& repo_id,
                              const std::string& password) {
  KdfParams kdf;
  std::string sealed;
  try {
    json j = json::parse(text);
    const json& k = j.at("kdf");
    if (k.at("algorithm").get<std::string>() != "argon2id13") {
      return Status::Corruption("unknown key derivation algorithm");
    }
    kdf.opslimit = k.at("opslimit").get<uint64_t>();
    kdf.memlimit = k.at("memlimit").get<uint64_t>();
    ASSIGN_OR_RETURN(kdf.salt, Base64Decode(k.at("salt").get<std::string>()));
    ASSIGN_OR_RETURN(sealed, Base64Decode(j.at("data").get<std::string>()));
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("malformed key file: ") + e.what());
  }
  ASSIGN_OR_RETURN(KeyBytes wrapping, DeriveKeyFromPassword(password, kdf));
  auto plain = Open(wrapping, sealed);
  if (!plain.ok()) return Status::WrongPassword("password does not open this key");
  if (plain->size() != 2 * kKeySize || std::string_view(*plain).substr(kKeySize) != repo_id.View()) {
    return Status::WrongPassword("key belongs to another repository");
  }
  KeyBytes master;
  std::copy_n(plain->begin(), kKeySize, master.begin());
  return MasterKey::FromBytes(master);
}

Result<KeyInfo> DescribeKeyFile(const std::string& id, const std::string& text) {
  try {
    json j = json::parse(text);
    KeyInfo info;
    info.id = id;
    info.created = j.value("created", "");
    info.hostname = j.value("hostname", "");
    info.username = j.value("username", "");
    return info;
  } catch (const json::exception& e) {
    return Status::Corruption("key " + id + ": malformed JSON: " + e.what());
  }
}

}  // namespace jsnap::internal
