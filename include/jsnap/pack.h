// Packs: the files that hold blobs. Layout (format-spec.md, "Pack file"):
//
//   blob 0 | blob 1 | ... | blob n-1 | sealed header | u32le header length
//
// Each blob is a sealed object (crypto.h) whose plaintext is a compression
// frame (compress.h). The header's plaintext is n fixed-size entries
//   type u8 | stored length u32le | raw length u32le | id (32 bytes)
// in blob order, so offsets are the running sum of stored lengths and a pack
// alone is enough to rebuild the index. A pack's name is the BLAKE2b-256 of
// its sealed header and trailer (PackId): the header binds every blob's id
// and length and a random nonce, so names are unique and a pack's table of
// contents is recognisable without the key, while the blobs themselves are
// protected by their AEAD tags and ids. Hashing the whole pack would hash
// every byte a second time on the create path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jsnap/compress.h"
#include "jsnap/crypto.h"
#include "jsnap/id.h"
#include "jsnap/status.h"

namespace jsnap {

enum class BlobType : uint8_t { kData = 0, kTree = 1 };
const char* BlobTypeName(BlobType t);

struct PackEntry {
  BlobType type = BlobType::kData;
  Id id;
  uint32_t offset = 0;      // derived from the order of entries, not stored
  uint32_t length = 0;      // stored (sealed) length
  uint32_t raw_length = 0;  // plaintext length before compression
};

inline constexpr size_t kPackEntrySize = 1 + 4 + 4 + Id::kSize;
inline constexpr size_t kPackTrailerSize = 4;

// Builds one pack. Not thread-safe; the repository guards it. The bytes may
// leave in pieces while the pack fills (TakeBuffered), so memory holds only
// what has not been written yet.
class PackWriter {
 public:
  // Appends an already sealed blob (EncodeBlob's output).
  void Add(BlobType type, const Id& id, std::string_view sealed, uint32_t raw_length);
  // Bytes of the pack so far, taken or not.
  size_t size() const { return taken_ + data_.size(); }
  size_t buffered() const { return data_.size(); }
  size_t count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Moves out the bytes not yet taken, which belong at `*offset` of the
  // pack; `next`'s memory (its bytes dropped, at least `capacity` reserved)
  // holds what follows.
  std::string TakeBuffered(std::string next, size_t capacity, uint64_t* offset);
  // Appends header and trailer; returns the bytes not yet taken, which end
  // with them and belong at `*offset` (0 and the whole pack when nothing was
  // taken). The pack's name is PackId() of them, left to the caller, outside
  // any lock. The writer is empty again afterwards.
  std::string Finish(const KeyBytes& key, std::vector<PackEntry>* entries, uint64_t* offset = nullptr);
  // Starts the next pack in `buffer`'s memory (its bytes are dropped), or
  // reserves `capacity` bytes when it has less: a written pack's buffer
  // reused is memory already faulted in, and a reserved one never moves.
  // Only while empty().
  void Prepare(std::string buffer, size_t capacity);

 private:
  std::string data_;
  uint64_t taken_ = 0;
  std::vector<PackEntry> entries_;
};

// The name of a complete pack: BLAKE2b-256 of its last header-and-trailer
// bytes (`pack` may be any tail of the pack that holds them). Corruption
// when the trailer does not fit.
Result<Id> PackId(std::string_view pack);
std::string EncodePackHeader(const std::vector<PackEntry>& entries);
// Parses a header's plaintext; `body_size` bounds the blob offsets.
Result<std::vector<PackEntry>> DecodePackHeader(std::string_view plain, uint64_t body_size);
// Parses the trailer of a pack of `pack_size` bytes; returns the sealed
// header's length after checking it fits.
Result<uint32_t> DecodePackTrailer(std::string_view trailer, uint64_t pack_size);

// A blob's associated data in format version 3: its type byte, then its id
// (33 bytes). Sealed with it, a blob opens only as the blob it was stored
// as: an index (or pack) that places another blob under this id fails
// authentication, which makes re-hashing the plaintext on every read
// unnecessary. Version 2 blobs are sealed without it.
class BlobAd {
 public:
  BlobAd(BlobType type, const Id& id);
  std::string_view view() const { return {bytes_, sizeof(bytes_)}; }

 private:
  char bytes_[1 + Id::kSize];
};

// How a stored blob is opened.
struct BlobCheck {
  std::string_view ad;  // what it was sealed with (BlobAd, or empty before version 3)
  // Re-hash the plaintext against the id: a reader that opens with a BlobAd
  // knows the blob's identity from the AEAD; check --read-data still
  // re-hashes, to catch a writer that stored content under a wrong id.
  bool rehash = true;
};

// Blob plaintext <-> stored bytes: compress (level 0 = none), then seal
// with `ad` (BlobAd from version 3 on).
void EncodeBlobAppend(const KeyBytes& key, std::string_view plaintext, int level, std::string* out,
                      std::string_view ad = {}, CompressionProfile profile = CompressionProfile::kDefault);
// Opens, decompresses and checks that the keyed hash of the plaintext is `id`.
Result<std::string> DecodeBlob(const KeyBytes& enc_key, const KeyBytes& id_key, const Id& id,
                               std::string_view stored, uint32_t raw_length, const BlobCheck& check = {});
// The same into reusable buffers: `frame` is scratch, `plain` receives the
// plaintext. For loops that only check blobs (check --read-data).
Status DecodeBlobInto(const KeyBytes& enc_key, const KeyBytes& id_key, const Id& id,
                      std::string_view stored, uint32_t raw_length, std::string* frame, std::string* plain,
                      const BlobCheck& check = {});
// The error of a blob whose plaintext does not hash to its id (a writer
// stored it under another content's id).
Status IdMismatchError();

}  // namespace jsnap
