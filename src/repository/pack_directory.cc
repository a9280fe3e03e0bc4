#include "pack_directory.h"

#include <algorithm>

namespace jsnap {

std::optional<BlobLocation> PackDirectory::Find(const Id& blob) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = where_.find(blob);
  if (it == where_.end()) return std::nullopt;
  return it->second;
}

bool PackDirectory::Wants(const Id& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unreadable_.count(pack) != 0) return false;
  return std::none_of(packs_.begin(), packs_.end(), [&](const auto& p) { return p.first == pack; });
}

void PackDirectory::Add(const Id& pack, const std::vector<PackEntry>& entries) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::any_of(packs_.begin(), packs_.end(), [&](const auto& p) { return p.first == pack; })) return;
  while (!packs_.empty() && where_.size() + entries.size() > max_entries_) {
    for (const Id& blob : packs_.front().second) {
      auto it = where_.find(blob);
      if (it != where_.end() && it->second.pack == packs_.front().first) where_.erase(it);
    }
    packs_.pop_front();
  }
  std::vector<Id> blobs;
  blobs.reserve(entries.size());
  for (const PackEntry& e : entries) {
    BlobLocation loc;
    loc.pack = pack;
    loc.type = e.type;
    loc.offset = e.offset;
    loc.length = e.length;
    loc.raw_length = e.raw_length;
    where_[e.id] = loc;  // a copy in a newer pack serves as well as the indexed one
    blobs.push_back(e.id);
  }
  packs_.emplace_back(pack, std::move(blobs));
}

void PackDirectory::MarkUnreadable(const Id& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  unreadable_.insert(pack);
}

}  // namespace jsnap
