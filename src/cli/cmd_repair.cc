#include "commands.h"

namespace jsnap::cli {

void RegisterRepair(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("repair", "Repair a damaged repository");
  cmd->require_subcommand(1);
  auto* index = cmd->add_subcommand("index", "Rebuild the index from the pack files and snapshots");
  index->callback([&g, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, true, "repair index", /*rebuild_index=*/true);
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    uint64_t packs = 0, blobs = 0;
    Status st = (*repo)->index().ForEachPack([&](const PackInfo& p) {
      ++packs;
      blobs += p.entries.size();
    });
    if (!st.ok()) return void(*exit_code = Fail(st));
    if (g.json) PrintJson({{"packs", packs}, {"blobs", blobs}});
    else if (!g.quiet) std::printf("index rebuilt: %llu packs, %llu blobs\n", (unsigned long long)packs, (unsigned long long)blobs);
  });
}

}  // namespace jsnap::cli
