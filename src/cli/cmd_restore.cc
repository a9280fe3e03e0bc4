#include "commands.h"
#include "jsnap/archiver.h"
#include "jsnap/restorer.h"

namespace jsnap::cli {

void RegisterRestore(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("restore", "Restore a snapshot (or parts of it) into a folder");
  struct Opts {
    std::string snapshot;
    std::string target;
    std::vector<std::string> includes;
    std::vector<std::string> excludes;
    bool overwrite = false;
    bool force = false;
    size_t threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("snapshot", o->snapshot, "Snapshot id, unique prefix, or 'latest'")->required();
  cmd->add_option("-t,--target", o->target, "Folder to restore into (created if missing)")->required();
  cmd->add_option("-i,--include", o->includes,
                  "Restore only paths matching this pattern, and what is below them (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_option("-e,--exclude", o->excludes, "Leave out paths matching this pattern (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_flag("--overwrite", o->overwrite, "Replace files that already exist in the target");
  cmd->add_flag("--force", o->force,
                "With --overwrite: replace SQLite databases even while another process holds locks on them");
  cmd->add_option("--threads", o->threads, "Worker threads (default: one per core)");
  cmd->callback([&g, o, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "restore");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto snap = (*repo)->FindSnapshot(o->snapshot);
    if (!snap.ok()) return void(*exit_code = Fail(snap.status()));
    RestoreOptions r;
    r.target = NormalizePath(o->target);
    for (const auto& p : o->includes) r.includes.Add(p);
    for (const auto& p : o->excludes) r.excludes.Add(p);
    r.overwrite = o->overwrite;
    r.force = o->force;
    r.restore_owner = ::geteuid() == 0;
    r.threads = o->threads;
    RestoreProgress progress;
    r.progress = &progress;
    ProgressLine line(g, [&](double t) {
      const double rate = t > 0 ? progress.bytes / t : 0;
      std::string eta;
      if (rate > 0 && progress.total_bytes > progress.bytes) {
        eta = ", ETA " + FormatDuration((progress.total_bytes - progress.bytes) / rate);
      }
      return "[" + FormatDuration(t) + "] " + std::to_string(progress.files.load()) + " files, " +
             FormatBytes(progress.bytes) + " of " + FormatBytes(progress.total_bytes) + ", " +
             FormatBytes(static_cast<uint64_t>(rate)) + "/s" + eta;
    });
    r.warn = [&](const std::string& m) { line.Message("jsnap: warning: " + m); };
    const auto start = std::chrono::steady_clock::now();
    auto result = RestoreSnapshot(**repo, snap->snapshot, r);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result.ok()) return void(*exit_code = Fail(result.status()));
    if (g.json) {
      PrintJson({{"message_type", "summary"},
                 {"snapshot_id", snap->id.Hex()},
                 {"target", r.target},
                 {"files", result->files},
                 {"dirs", result->dirs},
                 {"bytes", result->bytes},
                 {"warnings", result->errors},
                 {"duration_seconds", secs}});
    } else if (!g.quiet) {
      std::printf("restored snapshot %s to %s: %llu files, %llu dirs, %s in %s\n",
                  snap->id.Short().c_str(), r.target.c_str(), (unsigned long long)result->files,
                  (unsigned long long)result->dirs, FormatBytes(result->bytes).c_str(),
                  FormatDuration(secs).c_str());
    }
  });
}

}  // namespace jsnap::cli
