#include "commands.h"
#include "jsnap/prune.h"
#include "jsnap/retention.h"
#include "jsnap/system.h"

namespace jsnap::cli {

namespace {

struct ForgetOpts {
  std::vector<std::string> ids;
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  std::string within, within_hourly, within_daily, within_weekly, within_monthly, within_yearly;
  std::vector<std::string> tags;
  std::string group_by = "host,paths";
  bool dry_run = false;
  bool prune = false;
  double max_unused = 5;
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}


int RunForget(GlobalOptions& g, const ForgetOpts& o) {
  RetentionPolicy policy;
  policy.last = o.last;
  policy.hourly = o.hourly;
  policy.daily = o.daily;
  policy.weekly = o.weekly;
  policy.monthly = o.monthly;
  policy.yearly = o.yearly;
  const std::pair<const std::string*, CalendarDuration*> durations[] = {
      {&o.within, &policy.within},
      {&o.within_hourly, &policy.within_hourly},
      {&o.within_daily, &policy.within_daily},
      {&o.within_weekly, &policy.within_weekly},
      {&o.within_monthly, &policy.within_monthly},
      {&o.within_yearly, &policy.within_yearly},
  };
  for (const auto& [text, field] : durations) {
    if (text->empty()) continue;
    auto d = CalendarDuration::Parse(*text);
    if (!d.ok()) return Fail(d.status().WithContext("--keep-within*"));
    *field = d.value();
  }
  for (const auto& t : o.tags) policy.tags.push_back(SplitComma(t));
  auto group_by = GroupBy::Parse(o.group_by);
  if (!group_by.ok()) return Fail(group_by.status().WithContext("--group-by"));
  if (o.ids.empty() && policy.Empty()) {
    return Fail(Status::InvalidArgument(
        "no policy given: name snapshots to forget, or give --keep-last, --keep-daily, ... "
        "(nothing is removed without one)"));
  }
  if (Status st = policy.Validate(); !st.ok()) return Fail(st);

  auto repo = OpenRepo(g, LockMode::kExclusive, true, "forget");
  if (!repo.ok()) return Fail(repo.status());
  Repository& r = **repo;
  auto snaps = r.ListSnapshots();
  if (!snaps.ok()) return Fail(snaps.status());

  std::vector<Id> remove;
  nlohmann::json groups = nlohmann::json::array();
  if (!o.ids.empty()) {
    for (const std::string& ref : o.ids) {
      auto s = r.FindSnapshot(ref);
      if (!s.ok()) return Fail(s.status());
      remove.push_back(s->id);
    }
  } else {
    std::vector<SnapshotRef> refs;
    for (const SnapshotEntry& e : snaps.value()) {
      refs.push_back({e.id, e.snapshot.time_ns, e.snapshot.hostname, e.snapshot.paths, e.snapshot.tags});
    }
    for (const SnapshotGroup& group : GroupSnapshots(std::move(refs), group_by.value())) {
      auto decisions = ApplyPolicy(group.snapshots, policy, NowNs());
      if (!decisions.ok()) return Fail(decisions.status());
      nlohmann::json list = nlohmann::json::array();
      if (!g.json) std::printf("snapshots for %s:\n", group.key.ToString().c_str());
      for (const Decision& d : decisions.value()) {
        std::string reasons;
        for (const auto& why : d.reasons) reasons += (reasons.empty() ? "" : ", ") + why;
        if (!g.json) {
          std::printf("  %-6s %s  %s  %s\n", d.keep ? "keep" : "remove", d.snapshot.id.Short().c_str(),
                      FormatLocalTime(d.snapshot.time_ns).c_str(), reasons.c_str());
        }
        nlohmann::json reason_list = nlohmann::json::array();
        for (const auto& why : d.reasons) reason_list.push_back(why);
        list.push_back({{"id", d.snapshot.id.Hex()}, {"time", FormatLocalTime(d.snapshot.time_ns)},
                        {"keep", d.keep}, {"reasons", reason_list}});
        if (!d.keep) remove.push_back(d.snapshot.id);
      }
      groups.push_back({{"group", JsonString(group.key.ToString())}, {"snapshots", list}});
    }
  }
  if (!o.dry_run) {
    for (const Id& id : remove) {
      Status st = r.RemoveSnapshot(id);
      if (!st.ok()) return Fail(st);
    }
  }
  nlohmann::json out = {{"dry_run", o.dry_run}, {"removed", remove.size()}, {"groups", groups}};
  if (!g.json) {
    std::printf("%s %zu snapshot%s\n", o.dry_run ? "would remove" : "removed", remove.size(),
                remove.size() == 1 ? "" : "s");
  }
  if (o.prune) {
    PruneOptions p;
    p.dry_run = o.dry_run;
    if (o.dry_run) p.ignore_snapshots.insert(remove.begin(), remove.end());  // as if forgotten
    p.max_unused_percent = o.max_unused;
    auto report = Prune(r, p);
    if (!report.ok()) return Fail(report.status());
    out["prune"] = {{"bytes_freed", report->bytes_freed}, {"packs_deleted", report->packs_deleted},
                    {"packs_repacked", report->packs_repacked}};
    if (!g.json) std::printf("prune: %s freed\n", FormatBytes(report->bytes_freed).c_str());
  }
  if (g.json) PrintJson(out);
  return kExitOk;
}

}  // namespace

void RegisterForget(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "forget", "Remove snapshots, by id or by a retention policy (same rules as restic's forget); "
                "'jsnap prune' (or --prune) then reclaims the space");
  auto o = std::make_shared<ForgetOpts>();
  cmd->add_option("snapshots", o->ids, "Snapshot ids to remove (instead of a policy)");
  cmd->add_option("--keep-last", o->last, "Keep the N newest snapshots (-1: all)");
  cmd->add_option("--keep-hourly", o->hourly, "Keep the newest snapshot of each of the last N hours");
  cmd->add_option("--keep-daily", o->daily, "... of each of the last N days (local calendar)");
  cmd->add_option("--keep-weekly", o->weekly, "... of each of the last N ISO weeks");
  cmd->add_option("--keep-monthly", o->monthly, "... of each of the last N months");
  cmd->add_option("--keep-yearly", o->yearly, "... of each of the last N years");
  cmd->add_option("--keep-within", o->within,
                  "Keep every snapshot newer than the newest minus this (e.g. 7d, 1y2m, 12h)");
  cmd->add_option("--keep-within-hourly", o->within_hourly, "Keep hourly snapshots newer than the newest minus this");
  cmd->add_option("--keep-within-daily", o->within_daily, "... daily snapshots within the duration");
  cmd->add_option("--keep-within-weekly", o->within_weekly, "... weekly snapshots within the duration");
  cmd->add_option("--keep-within-monthly", o->within_monthly, "... monthly snapshots within the duration");
  cmd->add_option("--keep-within-yearly", o->within_yearly, "... yearly snapshots within the duration");
  cmd->add_option("--keep-tag", o->tags, "Keep snapshots with these tags (comma: all of them; repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--group-by", o->group_by, "Apply the policy per group of host,paths,tags (default host,paths)");
  cmd->add_flag("-n,--dry-run", o->dry_run, "Show what would be removed; remove nothing");
  cmd->add_flag("--prune", o->prune, "Run prune afterwards");
  cmd->add_option("--max-unused", o->max_unused, "With --prune: see 'jsnap prune --help'");
  cmd->callback([&g, o, exit_code] { *exit_code = RunForget(g, *o); });
}

}  // namespace jsnap::cli
