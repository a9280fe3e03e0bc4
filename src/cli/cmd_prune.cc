#include "commands.h"
#include "jsnap/prune.h"
#include "jsnap/system.h"

namespace jsnap::cli {

void RegisterPrune(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("prune", "Delete data no snapshot uses, repacking partly used packs");
  struct Opts {
    double max_unused = 5;
    std::string max_repack = "";
    bool dry_run = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--max-unused", o->max_unused,
                  "Repack a pack when more than this percentage of it is unused (default 5)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--max-repack-size", o->max_repack,
                  "Copy at most this much live data (e.g. 2G): bounds the time and scratch space");
  cmd->add_flag("-n,--dry-run", o->dry_run, "Show what would be deleted; change nothing");
  cmd->callback([&g, o, exit_code] {
    PruneOptions p;
    p.max_unused_percent = o->max_unused;
    p.dry_run = o->dry_run;
    if (!o->max_repack.empty()) {
      auto size = ParseSize(o->max_repack);
      if (!size.ok()) return void(*exit_code = Fail(size.status().WithContext("--max-repack-size")));
      p.max_repack_bytes = size.value();
    }
    auto repo = OpenRepo(g, LockMode::kExclusive, true, "prune");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    ProgressLine line(g, [](double t) { return "[" + FormatDuration(t) + "] pruning"; });
    if (!g.quiet && !g.json) p.progress = [&](const std::string& m) { line.Message("prune: " + m); };
    auto r = Prune(**repo, p);
    if (!r.ok()) return void(*exit_code = Fail(r.status()));
    if (g.json) {
      PrintJson({{"dry_run", o->dry_run}, {"packs_before", r->packs_before}, {"bytes_before", r->bytes_before},
                 {"packs_deleted", r->packs_deleted}, {"packs_repacked", r->packs_repacked},
                 {"packs_written", r->packs_written}, {"blobs_removed", r->blobs_removed},
                 {"bytes_freed", r->bytes_freed}, {"packs_after", r->packs_after},
                 {"bytes_after", r->bytes_after}, {"unused_bytes_kept", r->unused_bytes_kept}});
      return;
    }
    std::printf("%s: %llu packs deleted, %llu repacked into %llu, %llu blobs removed, %s freed\n",
                o->dry_run ? "would prune" : "pruned", (unsigned long long)r->packs_deleted,
                (unsigned long long)r->packs_repacked, (unsigned long long)r->packs_written,
                (unsigned long long)r->blobs_removed, FormatBytes(r->bytes_freed).c_str());
    std::printf("repository: %s in %llu packs (was %s); %s unused kept below the repack threshold\n",
                FormatBytes(r->bytes_after).c_str(), (unsigned long long)r->packs_after,
                FormatBytes(r->bytes_before).c_str(), FormatBytes(r->unused_bytes_kept).c_str());
  });
}

}  // namespace jsnap::cli
