// Retention policy: which snapshots `forget` keeps, with restic's semantics
// (restic internal/data/snapshot_policy.go ApplyPolicy, snapshot_group.go,
// duration.go), so a restic `forget --keep-*` policy means the same here.
//
// Pure functions: no IO, no clock (the caller passes "now"), no repository.
// Calendar rules read the local time zone (localtime_r, i.e. $TZ), as restic
// reads the zone a snapshot's time was recorded in; jsnap stores UTC only, so
// the zone of the machine running the policy is used.
//
// Per group, snapshots are sorted newest first (stable: equal times keep
// their input order) and each snapshot is kept when at least one rule keeps
// it; all matching rules are listed as reasons, in this order:
//   - tags: "has tags [a, b]" for each listed tag set the snapshot carries
//     every tag of (a set {""} matches untagged snapshots only);
//   - within: "within 7d", for snapshots strictly newer than the newest
//     snapshot's local time minus the calendar duration;
//   - count rules last/hourly/daily/weekly/monthly/yearly: "last snapshot",
//     "daily snapshot", ...: a snapshot whose bucket (local y-m-d-h, y-m-d,
//     ISO year-week, y-m, y) differs from the bucket the rule kept last is
//     kept while the rule has counts left (kUnlimited never runs out), so the
//     newest snapshot of each bucket wins;
//   - within-bucket rules: "daily within 1m", ...: the same bucketing, for
//     snapshots inside the window, without a count.
// When a count or within-bucket rule still applies at the OLDEST snapshot, it
// keeps that one too ("oldest daily snapshot", "oldest daily within 1m" when
// its bucket was already kept), which keeps the longest history the policy
// allows (restic >= 0.17).
//
// An empty policy keeps every snapshot (reason "policy is empty"), as restic's
// ApplyPolicy did up to 0.16; restic >= 0.17 refuses to run `forget` without a
// policy instead, which the CLI should do too. Removing everything (restic's
// --unsafe-allow-remove-all) is deliberately not expressible here.
//
// Thread-safety: ApplyPolicy reads the process time zone (tzset state); do
// not change $TZ concurrently. Everything else is plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jsnap/id.h"
#include "jsnap/status.h"

namespace jsnap {

// A count rule value meaning "no limit" (restic's `--keep-daily unlimited`).
inline constexpr int kUnlimited = -1;

// restic's Duration: calendar units, applied with date arithmetic (a month is
// "the same day one month earlier", normalized: 03-31 minus 1m is 03-02 in a
// leap year), hours as exact hours. All zero means "rule off".
struct CalendarDuration {
  int years = 0;
  int months = 0;
  int days = 0;
  int hours = 0;

  // restic's ParseDuration: a sequence of <integer><unit>, unit one of
  // y, m, d, h ("7d", "1y2m", "2y5m7d3h"); surrounding spaces are ignored,
  // "" is the zero duration, a repeated unit overrides the earlier one, and a
  // negative number parses (RetentionPolicy::Validate rejects it).
  static Result<CalendarDuration> Parse(std::string_view text);
  // restic's formatting: "2y5m7d3h", zero units omitted ("" when all zero).
  std::string ToString() const;
  bool IsZero() const { return years == 0 && months == 0 && days == 0 && hours == 0; }
  bool operator==(const CalendarDuration&) const = default;
};

struct RetentionPolicy {
  // Keep the newest snapshot of each of the last N buckets; 0 = rule off,
  // kUnlimited = every bucket.
  int last = 0;  // every snapshot is its own bucket
  int hourly = 0;
  int daily = 0;
  int weekly = 0;  // ISO 8601 weeks (Monday to Sunday, year of its Thursday)
  int monthly = 0;
  int yearly = 0;
  // Keep every snapshot newer than the newest one minus `within`.
  CalendarDuration within;
  // Keep the newest snapshot of each bucket newer than the newest snapshot
  // minus the duration.
  CalendarDuration within_hourly;
  CalendarDuration within_daily;
  CalendarDuration within_weekly;
  CalendarDuration within_monthly;
  CalendarDuration within_yearly;
  // Keep snapshots carrying all tags of any one set (restic --keep-tag a,b).
  std::vector<std::vector<std::string>> tags;

  // True when no rule is set (restic's ExpirePolicy.Empty).
  bool Empty() const;
  // restic's forget option checks: counts >= -1, durations not negative;
  // also rejects an empty tag set, which would keep every snapshot (restic's
  // command line cannot produce one; {""} is the way to name "untagged").
  Status Validate() const;
};

struct SnapshotRef {
  Id id;
  int64_t time_ns = 0;  // UTC, nanoseconds since the epoch
  std::string hostname;
  std::vector<std::string> paths;
  std::vector<std::string> tags;
};

struct Decision {
  SnapshotRef snapshot;
  bool keep = false;
  std::vector<std::string> reasons;  // empty when removed
};

// Applies `policy` to one group of snapshots. Returns one decision per
// snapshot, newest first. `now_ns` stands in for restic's time.Now(): the
// "newest snapshot" that within rules count back from is the newest one
// strictly before `now_ns` (a snapshot dated in the future is not trusted as
// the reference; it is still kept by within rules); when every snapshot is in
// the future, within rules keep everything. InvalidArgument when
// policy.Validate() fails.
Result<std::vector<Decision>> ApplyPolicy(std::vector<SnapshotRef> group,
                                          const RetentionPolicy& policy, int64_t now_ns);

// restic's --group-by: a comma-separated list of host(s), path(s), tag(s);
// "" disables grouping.
struct GroupBy {
  bool host = false;
  bool paths = false;
  bool tags = false;

  static Result<GroupBy> Parse(std::string_view spec);
  bool operator==(const GroupBy&) const = default;
};
inline constexpr GroupBy kDefaultGroupBy{.host = true, .paths = true, .tags = false};

// What the snapshots of a group share; fields not grouped by stay empty.
// Paths and tags are sorted, so their order in a snapshot does not matter.
struct GroupKey {
  std::string hostname;
  std::vector<std::string> paths;
  std::vector<std::string> tags;

  // restic's group header: "host h, path [/a /b], tags [t]".
  std::string ToString() const;
  auto operator<=>(const GroupKey&) const = default;
};

struct SnapshotGroup {
  GroupKey key;
  std::vector<SnapshotRef> snapshots;  // in input order
};

// Splits snapshots into groups, ordered by key (restic's map order is
// random; a stable order keeps output and tests reproducible).
std::vector<SnapshotGroup> GroupSnapshots(std::vector<SnapshotRef> snapshots, GroupBy group_by);

}  // namespace jsnap
