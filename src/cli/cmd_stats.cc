#include <unordered_set>

#include "commands.h"
#include "jsnap/restorer.h"

namespace jsnap::cli {

void RegisterStats(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "stats", "Show logical size, stored size and deduplication ratio (of one snapshot or all)");
  auto ref = std::make_shared<std::string>();
  cmd->add_option("snapshot", *ref, "Snapshot id, unique prefix, or 'latest' (default: all)");
  cmd->callback([&g, ref, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "stats");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    std::vector<SnapshotEntry> snaps;
    if (ref->empty()) {
      auto all = (*repo)->ListSnapshots();
      if (!all.ok()) return void(*exit_code = Fail(all.status()));
      snaps = std::move(all).value();
    } else {
      auto one = (*repo)->FindSnapshot(*ref);
      if (!one.ok()) return void(*exit_code = Fail(one.status()));
      snaps.push_back(std::move(one).value());
    }
    // Unique blobs reachable from the chosen snapshots, and their sizes.
    std::unordered_set<Id, IdHash> seen_trees, seen_blobs;
    uint64_t logical = 0, files = 0, raw_unique = 0, stored_unique = 0;
    Status st;
    auto count_blob = [&](const Id& id) -> Status {
      if (!seen_blobs.insert(id).second) return Status::Ok();
      ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, (*repo)->index().Find(id));
      if (!loc) return Status::NotFound("blob " + id.Hex() + " is missing from the index");
      raw_unique += loc->raw_length;
      stored_unique += loc->length;
      return Status::Ok();
    };
    for (const SnapshotEntry& e : snaps) {
      // Logical size per snapshot comes from its record; blobs are counted
      // once, and a subtree shared with an earlier snapshot is not walked
      // again.
      const SnapshotStats& ss = e.snapshot.stats;
      logical += ss.total_bytes;
      files += ss.files_new + ss.files_changed + ss.files_unmodified;
      if (!seen_trees.insert(e.snapshot.tree).second) continue;
      st = count_blob(e.snapshot.tree);
      if (!st.ok()) break;
      st = WalkTree(**repo, e.snapshot.tree, "", [&](const std::string&, const Node& n) -> Result<bool> {
        for (const Id& id : n.content) RETURN_IF_ERROR(count_blob(id));
        if (n.type != NodeType::kDir) return false;
        RETURN_IF_ERROR(count_blob(n.subtree));
        return seen_trees.insert(n.subtree).second;
      });
      if (!st.ok()) break;
    }
    if (!st.ok()) return void(*exit_code = Fail(st));
    uint64_t repo_size = 0, packs = 0;
    st = (*repo)->index().ForEachPackSize([&](const Id&, uint64_t size) {
      repo_size += size;
      ++packs;
    });
    if (!st.ok()) return void(*exit_code = Fail(st));
    const double ratio = stored_unique ? static_cast<double>(logical) / stored_unique : 0;
    if (g.json) {
      PrintJson({{"snapshots", snaps.size()},
                 {"files", files},
                 {"logical_bytes", logical},
                 {"unique_blobs", seen_blobs.size()},
                 {"unique_raw_bytes", raw_unique},
                 {"unique_stored_bytes", stored_unique},
                 {"dedup_ratio", ratio},
                 {"repository_bytes", repo_size},
                 {"packs", packs}});
      return;
    }
    std::printf("Snapshots:            %zu\n", snaps.size());
    std::printf("Files:                %llu\n", (unsigned long long)files);
    std::printf("Logical size:         %s\n", FormatBytes(logical).c_str());
    std::printf("Unique data:          %s (%zu blobs)\n", FormatBytes(raw_unique).c_str(), seen_blobs.size());
    std::printf("Stored size:          %s (compressed and encrypted)\n", FormatBytes(stored_unique).c_str());
    std::printf("Deduplication ratio:  %.2fx (logical / stored)\n", ratio);
    std::printf("Repository:           %s in %llu packs\n", FormatBytes(repo_size).c_str(), (unsigned long long)packs);
  });
}

}  // namespace jsnap::cli
