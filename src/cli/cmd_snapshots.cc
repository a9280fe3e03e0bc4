#include "commands.h"

namespace jsnap::cli {

nlohmann::json SnapshotJson(const SnapshotEntry& e) {
  const Snapshot& s = e.snapshot;
  nlohmann::json paths = nlohmann::json::array(), tags = nlohmann::json::array();
  for (const auto& p : s.paths) paths.push_back(JsonString(p));
  for (const auto& t : s.tags) tags.push_back(JsonString(t));
  return {{"id", e.id.Hex()},
          {"short_id", e.id.Short()},
          {"time", FormatLocalTime(s.time_ns)},
          {"time_ns", s.time_ns},
          {"hostname", JsonString(s.hostname)},
          {"username", JsonString(s.username)},
          {"paths", paths},
          {"tags", tags},
          {"parent", s.parent.IsZero() ? nlohmann::json(nullptr) : nlohmann::json(s.parent.Hex())},
          {"tree", s.tree.Hex()},
          {"total_bytes", s.stats.total_bytes},
          {"bytes_added", s.stats.bytes_added}};
}

void RegisterSnapshots(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("snapshots", "List the snapshots");
  cmd->callback([&g, exit_code] {
    auto repo = OpenRepo(g, LockMode::kShared, false, "snapshots");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    auto list = (*repo)->ListSnapshots();
    if (!list.ok()) return void(*exit_code = Fail(list.status()));
    if (g.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& e : list.value()) arr.push_back(SnapshotJson(e));
      PrintJson(arr);
      return;
    }
    std::printf("%-9s %-19s  %-12s %-10s %-20s %s\n", "ID", "Time", "Host", "Size", "Tags", "Paths");
    for (const auto& e : list.value()) {
      const Snapshot& s = e.snapshot;
      std::string tags, paths;
      for (const auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
      for (const auto& p : s.paths) paths += (paths.empty() ? "" : " ") + p;
      std::printf("%-9s %-19s  %-12s %-10s %-20s %s\n", e.id.Short().c_str(),
                  FormatLocalTime(s.time_ns).c_str(), s.hostname.c_str(),
                  FormatBytes(s.stats.total_bytes).c_str(), tags.c_str(), paths.c_str());
    }
    std::printf("%zu snapshot%s\n", list->size(), list->size() == 1 ? "" : "s");
  });
}

}  // namespace jsnap::cli
