// Id: a 32-byte identifier (chunk/blob id, pack id, snapshot id), shown as
// 64 lowercase hex digits. Ordered and hashable so it can key maps.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "jsnap/status.h"

namespace jsnap {

struct Id {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  static Id FromBytes(const void* p) {
    Id id;
    std::memcpy(id.bytes.data(), p, kSize);
    return id;
  }
  // Parses exactly 64 hex digits.
  static Result<Id> FromHex(std::string_view hex);
  std::string Hex() const;
  std::string Short() const { return Hex().substr(0, 8); }
  bool IsZero() const;
  std::string_view View() const {
    return {reinterpret_cast<const char*>(bytes.data()), kSize};
  }

  auto operator<=>(const Id&) const = default;
  bool operator==(const Id&) const = default;
};

struct IdHash {
  size_t operator()(const Id& id) const {
    size_t h;  // ids are uniformly random (keyed hashes): any 8 bytes will do
    std::memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

std::string HexEncode(std::string_view bytes);
inline std::string HexEncodeBytes(const void* p, size_t n) {
  return HexEncode(std::string_view(static_cast<const char*>(p), n));
}
Result<std::string> HexDecode(std::string_view hex);

}  // namespace jsnap
