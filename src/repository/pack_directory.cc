#include "pack_directory.h"

#include <algorithm>

namespace jsnap {

namespace {
bool ById(const PackEntry& a, const PackEntry& b) { return a.id < b.id; }
}  // namespace

std::optional<BlobLocation> PackDirectory::Search(const HeldPack& pack, const Id& blob) {
  PackEntry key;
  key.id = blob;
  auto it = std::lower_bound(pack.entries.begin(), pack.entries.end(), key, ById);
  if (it == pack.entries.end() || it->id != blob) return std::nullopt;
  BlobLocation loc;
  loc.pack = pack.id;
  loc.type = it->type;
  loc.offset = it->offset;
  loc.length = it->length;
  loc.raw_length = it->raw_length;
  return loc;
}

std::optional<BlobLocation> PackDirectory::Find(const Id& blob) {
  std::lock_guard<std::mutex> lock(mu_);
  if (last_hit_ != nullptr) {
    if (auto loc = Search(*last_hit_, blob)) return loc;
  }
  // Newest first: a copy in a newer pack serves as well as the indexed one.
  for (auto it = packs_.rbegin(); it != packs_.rend(); ++it) {
    if (&*it == last_hit_) continue;
    if (auto loc = Search(*it, blob)) {
      last_hit_ = &*it;
      return loc;
    }
  }
  return std::nullopt;
}

bool PackDirectory::Wants(const Id& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unreadable_.count(pack) != 0) return false;
  return std::none_of(packs_.begin(), packs_.end(), [&](const HeldPack& p) { return p.id == pack; });
}

void PackDirectory::Add(const Id& pack, std::vector<PackEntry> entries) {
  std::sort(entries.begin(), entries.end(), ById);  // outside the lock: a header may hold 300k entries
  std::lock_guard<std::mutex> lock(mu_);
  if (std::any_of(packs_.begin(), packs_.end(), [&](const HeldPack& p) { return p.id == pack; })) return;
  while (!packs_.empty() && held_entries_ + entries.size() > max_entries_) {
    held_entries_ -= packs_.front().entries.size();
    if (last_hit_ == &packs_.front()) last_hit_ = nullptr;
    packs_.pop_front();
  }
  held_entries_ += entries.size();
  packs_.push_back({pack, std::move(entries)});
}

void PackDirectory::MarkUnreadable(const Id& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  unreadable_.insert(pack);
}

}  // namespace jsnap
