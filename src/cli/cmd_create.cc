#include <ctime>

#include "commands.h"
#include "stream_sources.h"
#include "jsnap/archiver.h"
#include "jsnap/compress.h"
#include "jsnap/system.h"

namespace jsnap::cli {

namespace {

struct CreateOpts {
  std::vector<std::string> paths;
  std::vector<std::string> tags;
  std::vector<std::string> excludes;
  std::vector<std::string> exclude_files;
  std::string host;
  std::string time;
  bool one_file_system = false;
  bool dry_run = false;
  bool force = false;
  int compression = kDefaultCompressionLevel;
  size_t threads = 0;
  std::vector<std::string> sqlite;
  std::string sqlite_timeout = "60s";
  bool verify_sqlite = false;
  bool stdin_data = false;
  bool stdin_from_command = false;
  std::string stdin_name = "stdin";
};

nlohmann::json StatsJson(const SnapshotStats& s) {
  return {{"files_new", s.files_new},
          {"files_changed", s.files_changed},
          {"files_unmodified", s.files_unmodified},
          {"dirs", s.dirs},
          {"other_nodes", s.other_nodes},
          {"total_bytes", s.total_bytes},
          {"bytes_read", s.bytes_read},
          {"data_blobs_added", s.data_blobs_added},
          {"tree_blobs_added", s.tree_blobs_added},
          {"bytes_added", s.bytes_added},
          {"bytes_added_stored", s.bytes_added_stored},
          {"errors", s.errors}};
}

int RunCreate(GlobalOptions& g, const CreateOpts& o, const std::vector<std::string>& command) {
  ArchiveOptions a;
  for (const std::string& p : o.paths) a.paths.push_back(NormalizePath(p));
  for (const std::string& p : o.sqlite) a.sqlite_paths.push_back(NormalizePath(p));
  auto timeout = ParseDuration(o.sqlite_timeout);
  if (!timeout.ok()) return Fail(timeout.status().WithContext("--sqlite-timeout"));
  a.sqlite_timeout = timeout.value();
  a.verify_sqlite = o.verify_sqlite;
  if (o.stdin_data && o.stdin_from_command) {
    return Fail(Status::InvalidArgument("give --stdin or --stdin-from-command, not both"));
  }
  if (!command.empty() && !o.stdin_from_command) {
    return Fail(Status::InvalidArgument("a command after '--' needs --stdin-from-command"));
  }
  for (const std::string& e : o.excludes) a.excludes.Add(e);
  for (const std::string& f : o.exclude_files) {
    Status st = a.excludes.AddFile(f);
    if (!st.ok()) return Fail(st.WithContext("--exclude-file"));
  }
  a.tags = o.tags;
  a.hostname = o.host.empty() ? CurrentHost() : o.host;
  if (!o.time.empty()) {
    auto t = ParseLocalTime(o.time);
    if (!t.ok()) return Fail(t.status());
    a.time_ns = t.value();
  } else {
    a.time_ns = NowNs();
  }
  a.one_file_system = o.one_file_system;
  a.dry_run = o.dry_run;
  a.force_reread = o.force;
  a.threads = o.threads;
  g.compression = o.compression;

  {
    ArchiveOptions probe = a;  // the stream as it will be named, before its command starts
    if (o.stdin_data || o.stdin_from_command) probe.streams.push_back(StreamSource{o.stdin_name, nullptr, nullptr});
    Status st = CheckSources(probe);
    if (!st.ok()) return Fail(st);
  }
  // The sources' metadata is listed while the repository opens (its key
  // derivation alone takes ~50 ms): all a no-change create reads of them.
  std::shared_ptr<SourceScan> scan;
  if (auto repo_path = RepoPath(g); repo_path.ok() && !a.paths.empty()) {
    scan = StartSourceScan(a, repo_path.value());
  }
  auto repo = OpenRepo(g, LockMode::kAppend, true, "create");
  if (!repo.ok()) return Fail(repo.status());
  // The stream starts only once the repository is open and locked.
  if (o.stdin_data) a.streams.push_back(StdinSource(o.stdin_name));
  if (o.stdin_from_command) {
    auto src = CommandSource(o.stdin_name, command);
    if (!src.ok()) return Fail(src.status());
    a.streams.push_back(std::move(src).value());
  }

  ArchiveProgress progress;
  a.progress = &progress;
  ProgressLine line(g, [&](double t) {
    const double rate = t > 0 ? static_cast<double>(progress.bytes_done) / t : 0;
    return "[" + FormatDuration(t) + "] " + std::to_string(progress.files.load()) + " files, " +
           std::to_string(progress.dirs.load()) + " dirs, " + FormatBytes(progress.bytes_done) +
           " processed, " + FormatBytes(progress.bytes_added) + " new, " +
           FormatBytes(static_cast<uint64_t>(rate)) + "/s" +
           (progress.errors ? ", " + std::to_string(progress.errors.load()) + " errors" : "");
  });
  a.warn = [&](const std::string& msg) { line.Message("jsnap: " + msg); };

  const auto start = std::chrono::steady_clock::now();
  auto result = CreateSnapshot(**repo, a, scan.get());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.ok()) {
    (*repo)->DiscardWrittenPacks();
    return Fail(result.status().WithContext("no snapshot was saved"));
  }
  const Snapshot& s = result->snapshot;
  const int code = s.stats.errors > 0 || result->parent_unreadable > 0 ? kExitPartial : kExitOk;
  if (g.json) {
    nlohmann::json j = StatsJson(s.stats);
    j["message_type"] = "summary";
    j["dry_run"] = o.dry_run;
    j["snapshot_id"] = o.dry_run ? nlohmann::json(nullptr) : nlohmann::json(result->snapshot_id.Hex());
    j["parent"] = result->has_parent ? nlohmann::json(s.parent.Hex()) : nlohmann::json(nullptr);
    j["parent_unreadable"] = result->parent_unreadable;
    j["duration_seconds"] = secs;
    PrintJson(j);
    return code;
  }
  if (!g.quiet) {
    std::printf("Files:       %llu new, %llu changed, %llu unmodified\n",
                (unsigned long long)s.stats.files_new, (unsigned long long)s.stats.files_changed,
                (unsigned long long)s.stats.files_unmodified);
    std::printf("Dirs:        %llu\n", (unsigned long long)s.stats.dirs);
    std::printf("Added:       %s (%s stored)\n", FormatBytes(s.stats.bytes_added).c_str(),
                FormatBytes(s.stats.bytes_added_stored).c_str());
    std::printf("Processed:   %s in %s\n", FormatBytes(s.stats.total_bytes).c_str(),
                FormatDuration(secs).c_str());
  }
  if (o.dry_run) {
    std::printf("dry run: no snapshot saved\n");
  } else {
    std::printf("snapshot %s saved\n", result->snapshot_id.Short().c_str());
  }
  if (s.stats.errors > 0) {
    std::fprintf(stderr, "jsnap: %llu source(s) could not be read and are missing from the snapshot\n",
                 (unsigned long long)s.stats.errors);
  }
  if (result->parent_unreadable > 0) {
    std::fprintf(stderr,
                 "jsnap: %llu part(s) of the previous snapshot could not be read (named above); what they held "
                 "was read again, so this snapshot is complete. Run 'jsnap check' to find the damage\n",
                 (unsigned long long)result->parent_unreadable);
  }
  return code;
}

}  // namespace

void RegisterCreate(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("create", "Take a snapshot of files and folders");
  auto o = std::make_shared<CreateOpts>();
  cmd->add_option("paths", o->paths, "Files and folders to back up (stored with absolute paths)");
  cmd->add_option("--tag", o->tags, "Tag the snapshot (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_option("--host", o->host, "Hostname to record (default: this machine's)");
  cmd->add_option("--time", o->time, "Snapshot time \"YYYY-MM-DD HH:MM:SS\" (default: now)");
  cmd->add_option("-e,--exclude", o->excludes,
                  "Leave out paths matching a gitignore-style pattern (repeatable)")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_option("--exclude-file", o->exclude_files, "Read exclude patterns from a file")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_flag("-x,--one-file-system", o->one_file_system, "Do not cross file system boundaries");
  cmd->add_flag("-n,--dry-run", o->dry_run, "Do everything but write to the repository");
  cmd->add_flag("--force", o->force, "Read every file, even those unchanged since the parent snapshot");
  cmd->add_option("--compression", o->compression, "zstd level 1-19, 0 to store uncompressed (default 3)")
      ->check(CLI::Range(0, 19));
  cmd->add_option("--threads", o->threads, "Worker threads (default: one per core)");
  cmd->add_option("--sqlite", o->sqlite,
                  "A live SQLite database to snapshot consistently through SQLite (repeatable); "
                  "its -wal/-shm/-journal files are not stored")
      ->allow_extra_args(false);  // one value per occurrence: repeat the option for more
  cmd->add_option("--sqlite-timeout", o->sqlite_timeout,
                  "How long to wait for a database locked by a writer (default 60s)");
  cmd->add_flag("--verify-sqlite", o->verify_sqlite,
                "Run PRAGMA integrity_check on each stored database image; fail the run if not ok");
  cmd->add_flag("--stdin", o->stdin_data, "Store standard input as a file (see --stdin-name)");
  cmd->add_flag("--stdin-from-command", o->stdin_from_command,
                "Store the output of the command given after '--' (e.g. -- pg_dump mydb); "
                "no snapshot is saved when the command fails");
  cmd->add_option("--stdin-name", o->stdin_name,
                  "File name (or absolute path) of the stream in the snapshot (default: stdin); "
                  "not inside a path that is backed up");
  cmd->callback([&g, o, exit_code] { *exit_code = RunCreate(g, *o, CommandAfterDashes()); });
}

}  // namespace jsnap::cli
