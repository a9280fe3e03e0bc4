#include "commands.h"

namespace jsnap::cli {

void RegisterUnlock(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "unlock", "Remove lock records of jsnap processes that are gone. (Locks are flocks the "
                "kernel releases when a process dies; the records only describe holders.)");
  auto all = std::make_shared<bool>(false);
  cmd->add_flag("--remove-all", *all, "Remove every lock record, also of live processes");
  cmd->callback([&g, all, exit_code] {
    auto path = RepoPath(g);
    if (!path.ok()) return void(*exit_code = Fail(path.status()));
    auto removed = RepoLock::RemoveStaleInfo(path.value(), *all);
    if (!removed.ok()) return void(*exit_code = Fail(removed.status()));
    if (g.json) {
      PrintJson({{"removed", removed.value()}});
      return;
    }
    for (const auto& r : removed.value()) std::printf("removed lock record %s\n", r.c_str());
    if (removed->empty()) std::printf("no stale lock records\n");
  });
}

}  // namespace jsnap::cli
