// Golden tables for the retention policy. Each expected result was worked out
// by hand from restic's ApplyPolicy (internal/data/snapshot_policy.go); the
// comments on a case say what it pins down.
#include "jsnap/retention.h"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace jsnap {
namespace {

constexpr int64_t kFarFuture = std::numeric_limits<int64_t>::max();

// The zone with daylight saving time the DST cases run in; the POSIX rule is
// Berlin's since 1996, for systems without tzdata.
std::string BerlinTz() {
  return access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0 ? "Europe/Berlin"
                                                                : "CET-1CEST,M3.5.0,M10.5.0/3";
}

// Sets $TZ for one test and restores the previous value afterwards, so other
// tests in the binary are unaffected.
class ScopedTz {
 public:
  explicit ScopedTz(const std::string& tz) {
    if (const char* old = getenv("TZ")) old_ = old;
    setenv("TZ", tz.c_str(), 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

long OffsetAt(time_t t) {
  struct tm tm;
  EXPECT_NE(localtime_r(&t, &tm), nullptr);
  return tm.tm_gmtoff;
}

// "YYYY-MM-DD HH:MM:SS" in the current zone, or with an explicit " +HHMM"
// offset. A local time that falls in a DST gap or is repeated must carry its
// offset: the test data should never depend on how a library guesses.
int64_t T(const std::string& text) {
  int y, mo, d, h, mi, s;
  char sign = 0;
  int off_hh = 0, off_mm = 0;
  const int n = std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d %c%2d%2d", &y, &mo, &d, &h, &mi, &s,
                            &sign, &off_hh, &off_mm);
  if (n != 6 && n != 9) {
    ADD_FAILURE() << "bad test time " << text;
    return 0;
  }
  struct tm tm = {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t wall = timegm(&tm);  // the wall reading as if the zone were UTC
  if (n == 9) {
    const long offset = (sign == '-' ? -1 : 1) * (off_hh * 3600 + off_mm * 60);
    if (OffsetAt(wall - offset) != offset) ADD_FAILURE() << "offset not in effect: " << text;
    return static_cast<int64_t>(wall - offset) * 1'000'000'000;
  }
  std::set<time_t> candidates;
  for (time_t probe : {wall - 2 * 86400, wall, wall + 2 * 86400}) {
    const long offset = OffsetAt(probe);
    if (OffsetAt(wall - offset) == offset) candidates.insert(wall - offset);
  }
  if (candidates.size() != 1) {
    ADD_FAILURE() << "local time " << text << " is "
                  << (candidates.empty() ? "skipped" : "repeated")
                  << " in this zone; give its offset";
    return 0;
  }
  return static_cast<int64_t>(*candidates.begin()) * 1'000'000'000;
}

CalendarDuration D(const std::string& text) {
  auto d = CalendarDuration::Parse(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? d.value() : CalendarDuration{};
}

// ---------------------------------------------------------------------------
// ApplyPolicy golden table.

// Builds policies readably (designated initializers that leave members out
// trip GCC 12's -Wmissing-field-initializers).
class P {
 public:
  P& Last(int n) { return Set(&RetentionPolicy::last, n); }
  P& Hourly(int n) { return Set(&RetentionPolicy::hourly, n); }
  P& Daily(int n) { return Set(&RetentionPolicy::daily, n); }
  P& Weekly(int n) { return Set(&RetentionPolicy::weekly, n); }
  P& Monthly(int n) { return Set(&RetentionPolicy::monthly, n); }
  P& Yearly(int n) { return Set(&RetentionPolicy::yearly, n); }
  P& Within(const std::string& d) { return Set(&RetentionPolicy::within, D(d)); }
  P& WithinHourly(const std::string& d) { return Set(&RetentionPolicy::within_hourly, D(d)); }
  P& WithinDaily(const std::string& d) { return Set(&RetentionPolicy::within_daily, D(d)); }
  P& WithinWeekly(const std::string& d) { return Set(&RetentionPolicy::within_weekly, D(d)); }
  P& WithinMonthly(const std::string& d) { return Set(&RetentionPolicy::within_monthly, D(d)); }
  P& WithinYearly(const std::string& d) { return Set(&RetentionPolicy::within_yearly, D(d)); }
  P& Tags(std::vector<std::vector<std::string>> tags) {
    return Set(&RetentionPolicy::tags, std::move(tags));
  }
  operator RetentionPolicy() const { return p_; }  // NOLINT: a builder

 private:
  template <typename T>
  P& Set(T RetentionPolicy::*field, T value) {
    p_.*field = std::move(value);
    return *this;
  }
  RetentionPolicy p_;
};

struct Snap {
  Snap(std::string time, std::vector<std::string> tags = {})  // NOLINT: tables
      : time(std::move(time)), tags(std::move(tags)) {}
  std::string time;  // see T(); also the snapshot's name in expectations
  std::vector<std::string> tags;
};

struct PolicyCase {
  PolicyCase(std::string name, std::string tz, RetentionPolicy policy, std::vector<Snap> snapshots,
             std::vector<std::string> kept, std::string now = "")
      : name(std::move(name)),
        tz(std::move(tz)),
        policy(std::move(policy)),
        snapshots(std::move(snapshots)),
        kept(std::move(kept)),
        now(std::move(now)) {}
  std::string name;
  std::string tz;
  RetentionPolicy policy;
  std::vector<Snap> snapshots;
  // Kept snapshots, newest first, as "time: reason; reason".
  std::vector<std::string> kept;
  std::string now;  // "" = far future
};

std::ostream& operator<<(std::ostream& os, const PolicyCase& c) { return os << c.name; }

std::vector<PolicyCase> PolicyCases() {
  const std::string utc = "UTC0";
  const std::string berlin = BerlinTz();
  return {
      // restic <= 0.16 ApplyPolicy: nothing configured, nothing removed.
      {"EmptyPolicyKeepsAll",
       utc,
       {},
       {{"2024-01-01 10:00:00"}, {"2024-01-02 10:00:00"}},
       {"2024-01-02 10:00:00: policy is empty", "2024-01-01 10:00:00: policy is empty"}},

      {"KeepLastWithFewerSnapshotsThanN",
       utc,
       P().Last(5),
       {{"2024-01-01 10:00:00"}, {"2024-01-03 10:00:00"}, {"2024-01-02 10:00:00"}},
       {"2024-01-03 10:00:00: last snapshot", "2024-01-02 10:00:00: last snapshot",
        "2024-01-01 10:00:00: last snapshot"}},

      // Counts exhausted: the oldest is not rescued.
      {"KeepLastTwo",
       utc,
       P().Last(2),
       {{"2024-01-01 10:00:00"},
        {"2024-01-02 10:00:00"},
        {"2024-01-03 10:00:00"},
        {"2024-01-04 10:00:00"}},
       {"2024-01-04 10:00:00: last snapshot", "2024-01-03 10:00:00: last snapshot"}},

      {"KeepLastUnlimited",
       utc,
       P().Last(kUnlimited),
       {{"2024-01-01 10:00:00"}, {"2024-01-02 10:00:00"}, {"2024-01-03 10:00:00"}},
       {"2024-01-03 10:00:00: last snapshot", "2024-01-02 10:00:00: last snapshot",
        "2024-01-01 10:00:00: last snapshot"}},

      // Several snapshots a day: the newest of each day wins; a bucket that is
      // not kept uses no count.
      {"DailyNewestOfEachDayWins",
       utc,
       P().Daily(3),
       {{"2024-05-01 08:00:00"},
        {"2024-05-01 20:00:00"},
        {"2024-05-02 09:00:00"},
        {"2024-05-02 09:30:00"},
        {"2024-05-03 23:59:59"},
        {"2024-05-04 00:00:00"},
        {"2024-05-04 12:00:00"}},
       {"2024-05-04 12:00:00: daily snapshot", "2024-05-03 23:59:59: daily snapshot",
        "2024-05-02 09:30:00: daily snapshot"}},

      // Counts left at the end: the oldest snapshot is kept too, marked.
      {"OldestKeptWhileCountsLeft",
       utc,
       P().Daily(7),
       {{"2024-05-01 08:00:00"},
        {"2024-05-01 20:00:00"},
        {"2024-05-02 09:00:00"},
        {"2024-05-02 21:00:00"}},
       {"2024-05-02 21:00:00: daily snapshot", "2024-05-01 20:00:00: daily snapshot",
        "2024-05-01 08:00:00: oldest daily snapshot"}},

      {"HourlyLocalHours",
       berlin,
       P().Hourly(3),
       {{"2024-06-10 09:05:00"},
        {"2024-06-10 09:55:00"},
        {"2024-06-10 10:00:00"},
        {"2024-06-10 10:59:59"},
        {"2024-06-10 12:30:00"}},
       {"2024-06-10 12:30:00: hourly snapshot", "2024-06-10 10:59:59: hourly snapshot",
        "2024-06-10 09:55:00: hourly snapshot"}},

      // 2024-10-27 in Berlin: 02:00-03:00 happens twice. restic buckets by
      // the local clock, so both runs of hour 02 are one hourly bucket.
      {"HourlyRepeatedHourAtDstEndIsOneBucket",
       berlin,
       P().Hourly(3),
       {{"2024-10-27 01:30:00 +0200"},
        {"2024-10-27 02:15:00 +0200"},
        {"2024-10-27 02:45:00 +0200"},
        {"2024-10-27 02:15:00 +0100"},
        {"2024-10-27 02:45:00 +0100"},
        {"2024-10-27 03:15:00 +0100"}},
       {"2024-10-27 03:15:00 +0100: hourly snapshot", "2024-10-27 02:45:00 +0100: hourly snapshot",
        "2024-10-27 01:30:00 +0200: hourly snapshot"}},

      // The same three instants, bucketed at Berlin midnight and at UTC
      // midnight, keep different snapshots.
      {"DailyUsesLocalMidnight",
       berlin,
       P().Daily(2),
       {{"2024-01-01 23:30:00"}, {"2024-01-02 00:30:00"}, {"2024-01-02 08:00:00"}},
       {"2024-01-02 08:00:00: daily snapshot", "2024-01-01 23:30:00: daily snapshot"}},
      {"DailyUsesLocalMidnightUtc",
       utc,
       P().Daily(2),
       {{"2024-01-01 22:30:00"}, {"2024-01-01 23:30:00"}, {"2024-01-02 07:00:00"}},
       {"2024-01-02 07:00:00: daily snapshot", "2024-01-01 23:30:00: daily snapshot"}},

      {"MonthEnd",
       utc,
       P().Daily(2).Monthly(2),
       {{"2024-01-30 12:00:00"},
        {"2024-01-31 23:59:59"},
        {"2024-02-01 00:00:00"},
        {"2024-02-01 06:00:00"}},
       {"2024-02-01 06:00:00: daily snapshot; monthly snapshot",
        "2024-01-31 23:59:59: daily snapshot; monthly snapshot"}},

      {"LeapDay",
       utc,
       P().Daily(3).Monthly(2),
       {{"2024-02-28 10:00:00"},
        {"2024-02-29 10:00:00"},
        {"2024-02-29 18:00:00"},
        {"2024-03-01 00:30:00"}},
       {"2024-03-01 00:30:00: daily snapshot; monthly snapshot",
        "2024-02-29 18:00:00: daily snapshot; monthly snapshot",
        "2024-02-28 10:00:00: daily snapshot"}},

      // 2020-12-28 (Mon) .. 2021-01-03 (Sun) is ISO week 53 of 2020: one
      // weekly bucket across the year end.
      {"IsoWeek53",
       utc,
       P().Weekly(3),
       {{"2020-12-21 12:00:00"},
        {"2020-12-28 12:00:00"},
        {"2020-12-31 12:00:00"},
        {"2021-01-03 12:00:00"},
        {"2021-01-04 12:00:00"}},
       {"2021-01-04 12:00:00: weekly snapshot", "2021-01-03 12:00:00: weekly snapshot",
        "2020-12-21 12:00:00: weekly snapshot"}},

      // 2024-12-30 (Mon) is in ISO week 1 of 2025 but in calendar year 2024.
      {"IsoWeekOneStartsInPreviousYear",
       utc,
       P().Weekly(2).Yearly(2),
       {{"2024-12-29 12:00:00"}, {"2024-12-30 12:00:00"}, {"2025-01-05 12:00:00"}},
       {"2025-01-05 12:00:00: weekly snapshot; yearly snapshot",
        "2024-12-30 12:00:00: yearly snapshot", "2024-12-29 12:00:00: weekly snapshot"}},

      {"MonthlyOverYearEnd",
       utc,
       P().Monthly(3),
       {{"2023-11-15 12:00:00"},
        {"2023-12-01 00:00:00"},
        {"2023-12-31 23:59:59"},
        {"2024-01-01 00:00:00"},
        {"2024-01-15 12:00:00"}},
       {"2024-01-15 12:00:00: monthly snapshot", "2023-12-31 23:59:59: monthly snapshot",
        "2023-11-15 12:00:00: monthly snapshot"}},

      // Unlimited never runs out, so the oldest is always kept.
      {"YearlyUnlimited",
       utc,
       P().Yearly(kUnlimited),
       {{"2021-03-01 12:00:00"},
        {"2021-09-01 12:00:00"},
        {"2022-06-01 12:00:00"},
        {"2023-01-01 12:00:00"},
        {"2023-12-31 12:00:00"}},
       {"2023-12-31 12:00:00: yearly snapshot", "2022-06-01 12:00:00: yearly snapshot",
        "2021-09-01 12:00:00: yearly snapshot", "2021-03-01 12:00:00: oldest yearly snapshot"}},

      // Rules are ORed and every matching rule is a reason; a rule only
      // counts a snapshot it keeps.
      {"CombinedRulesListAllReasons",
       utc,
       P().Last(2).Daily(2).Weekly(2).Monthly(2),
       {{"2024-04-20 10:00:00"},
        {"2024-04-28 10:00:00"},
        {"2024-04-29 09:00:00"},
        {"2024-04-30 09:00:00"},
        {"2024-04-30 18:00:00"},
        {"2024-05-01 08:00:00"}},
       {"2024-05-01 08:00:00: last snapshot; daily snapshot; weekly snapshot; monthly snapshot",
        "2024-04-30 18:00:00: last snapshot; daily snapshot; monthly snapshot",
        "2024-04-28 10:00:00: weekly snapshot"}},

      {"KeepTagNeedsAllTagsOfASet",
       utc,
       P().Tags({{"db", "nightly"}}),
       {{"2024-01-01 10:00:00", {"db"}},
        {"2024-01-02 10:00:00", {"db", "nightly"}},
        {"2024-01-03 10:00:00", {"nightly", "extra", "db"}},
        {"2024-01-04 10:00:00", {"nightly"}}},
       {"2024-01-03 10:00:00: has tags [db, nightly]",
        "2024-01-02 10:00:00: has tags [db, nightly]"}},

      {"KeepTagAnyOfSeveralSets",
       utc,
       P().Last(1).Tags({{"a"}, {"c"}}),
       {{"2024-01-01 10:00:00", {"a"}},
        {"2024-01-02 10:00:00", {"b"}},
        {"2024-01-03 10:00:00", {"a", "c"}},
        {"2024-01-04 10:00:00", {"b"}}},
       {"2024-01-04 10:00:00: last snapshot", "2024-01-03 10:00:00: has tags [a]; has tags [c]",
        "2024-01-01 10:00:00: has tags [a]"}},

      // restic: `--keep-tag ''` keeps untagged snapshots.
      {"KeepTagEmptyMatchesUntagged",
       utc,
       P().Tags({{""}}),
       {{"2024-01-01 10:00:00"}, {"2024-01-02 10:00:00", {"x"}}, {"2024-01-03 10:00:00"}},
       {"2024-01-03 10:00:00: has tags []", "2024-01-01 10:00:00: has tags []"}},

      // Strictly newer than newest minus 2d (Go's Time.After).
      {"KeepWithinDays",
       utc,
       P().Within("2d"),
       {{"2024-05-07 12:00:00"},
        {"2024-05-08 12:00:00"},
        {"2024-05-08 12:00:01"},
        {"2024-05-09 00:00:00"},
        {"2024-05-10 12:00:00"}},
       {"2024-05-10 12:00:00: within 2d", "2024-05-09 00:00:00: within 2d",
        "2024-05-08 12:00:01: within 2d"}},

      // 03-31 minus 1m is "02-31", normalized to 03-02 (Go's AddDate), not
      // clamped to 02-29.
      {"KeepWithinMonthNormalizesOverflow",
       utc,
       P().Within("1m"),
       {{"2024-02-29 12:00:00"},
        {"2024-03-01 12:00:00"},
        {"2024-03-02 10:00:00"},
        {"2024-03-02 10:00:01"},
        {"2024-03-31 10:00:00"}},
       {"2024-03-31 10:00:00: within 1m", "2024-03-02 10:00:01: within 1m"}},

      // 2024-01-31 minus 14m is "2022-11-31", i.e. 2022-12-01.
      {"KeepWithinMonthsAcrossYears",
       utc,
       P().Within("14m"),
       {{"2022-11-30 08:00:00"},
        {"2022-12-01 08:00:00"},
        {"2022-12-01 08:00:01"},
        {"2024-01-31 08:00:00"}},
       {"2024-01-31 08:00:00: within 14m", "2022-12-01 08:00:01: within 14m"}},

      // 2024-02-29 minus 1y is "2023-02-29", i.e. 2023-03-01.
      {"KeepWithinYearFromLeapDay",
       utc,
       P().Within("1y"),
       {{"2023-02-28 23:00:00"},
        {"2023-03-01 12:00:00"},
        {"2023-03-01 12:00:01"},
        {"2024-02-29 12:00:00"}},
       {"2024-02-29 12:00:00: within 1y", "2023-03-01 12:00:01: within 1y"}},

      // 2024-08-10 15:00 minus 2y5m7d is 2022-03-03 15:00, minus 3h 12:00.
      {"KeepWithinCompoundDuration",
       utc,
       P().Within("2y5m7d3h"),
       {{"2022-03-03 12:00:00"}, {"2022-03-03 12:00:01"}, {"2024-08-10 15:00:00"}},
       {"2024-08-10 15:00:00: within 2y5m7d3h", "2022-03-03 12:00:01: within 2y5m7d3h"}},

      // Across the spring-forward night a calendar day is 23 hours: 1d from
      // 03-31 12:00 CEST is 03-30 12:00 CET, so 11:30 CET is out although it
      // is only 23.5 real hours older...
      {"KeepWithinDayIsCalendarDayAcrossDst",
       berlin,
       P().Within("1d"),
       {{"2024-03-30 11:30:00"}, {"2024-03-30 12:30:00"}, {"2024-03-31 12:00:00"}},
       {"2024-03-31 12:00:00: within 1d", "2024-03-30 12:30:00: within 1d"}},
      // ...while 24h are exact hours.
      {"KeepWithinHoursAreExactAcrossDst",
       berlin,
       P().Within("24h"),
       {{"2024-03-30 10:59:00"},
        {"2024-03-30 11:30:00"},
        {"2024-03-30 12:30:00"},
        {"2024-03-31 12:00:00"}},
       {"2024-03-31 12:00:00: within 24h", "2024-03-30 12:30:00: within 24h",
        "2024-03-30 11:30:00: within 24h"}},

      // 04-01 02:30 CEST minus 1d is 03-31 02:30, which does not exist; Go
      // moves it forward to 03:30 CEST.
      {"KeepWithinThresholdInDstGap",
       berlin,
       P().Within("1d"),
       {{"2024-03-31 01:50:00"},
        {"2024-03-31 03:20:00"},
        {"2024-03-31 03:40:00"},
        {"2024-04-01 02:30:00"}},
       {"2024-04-01 02:30:00: within 1d", "2024-03-31 03:40:00: within 1d"}},

      // 10-28 02:30 CET minus 1d is 10-27 02:30, which happens twice; Go
      // picks the second (CET) one.
      {"KeepWithinThresholdInRepeatedHour",
       berlin,
       P().Within("1d"),
       {{"2024-10-27 02:45:00 +0200"},
        {"2024-10-27 02:15:00 +0100"},
        {"2024-10-27 02:45:00 +0100"},
        {"2024-10-28 02:30:00"}},
       {"2024-10-28 02:30:00: within 1d", "2024-10-27 02:45:00 +0100: within 1d"}},

      // The newest snapshot dated in the future is not the reference; it is
      // kept, being newer than the threshold.
      {"KeepWithinIgnoresFutureSnapshots",
       utc,
       P().Within("1d"),
       {{"2024-05-08 11:00:00"},
        {"2024-05-09 13:00:00"},
        {"2024-05-10 12:00:00"},
        {"2024-06-01 00:00:00"}},
       {"2024-06-01 00:00:00: within 1d", "2024-05-10 12:00:00: within 1d",
        "2024-05-09 13:00:00: within 1d"},
       "2024-05-10 13:00:00"},

      {"KeepWithinAllInFutureKeepsAll",
       utc,
       P().Within("1d"),
       {{"2024-05-01 12:00:00"}, {"2024-05-10 12:00:00"}},
       {"2024-05-10 12:00:00: within 1d", "2024-05-01 12:00:00: within 1d"},
       "2024-01-01 00:00:00"},

      // Newest of each day inside the window; nothing outside it.
      {"KeepWithinDaily",
       utc,
       P().WithinDaily("3d"),
       {{"2024-05-06 12:00:00"},
        {"2024-05-07 17:00:00"},
        {"2024-05-07 19:00:00"},
        {"2024-05-08 09:00:00"},
        {"2024-05-08 20:00:00"},
        {"2024-05-09 12:00:00"},
        {"2024-05-10 08:00:00"},
        {"2024-05-10 18:00:00"}},
       {"2024-05-10 18:00:00: daily within 3d", "2024-05-09 12:00:00: daily within 3d",
        "2024-05-08 20:00:00: daily within 3d", "2024-05-07 19:00:00: daily within 3d"}},

      {"KeepWithinWeeklyKeepsOldestInWindow",
       utc,
       P().WithinWeekly("1m"),
       {{"2024-05-06 12:00:00"}, {"2024-05-08 12:00:00"}, {"2024-05-10 12:00:00"}},
       {"2024-05-10 12:00:00: weekly within 1m", "2024-05-06 12:00:00: oldest weekly within 1m"}},

      // Reason order: tags, within, count rules, within-bucket rules.
      {"ReasonOrder",
       utc,
       P().Last(1).Daily(2).Within("1d").WithinDaily("1d").Tags({{"keep"}}),
       {{"2024-05-08 12:00:00", {"keep"}},
        {"2024-05-10 06:00:00"},
        {"2024-05-10 12:00:00", {"keep"}}},
       {"2024-05-10 12:00:00: has tags [keep]; within 1d; last snapshot; daily snapshot; "
        "daily within 1d",
        "2024-05-10 06:00:00: within 1d", "2024-05-08 12:00:00: has tags [keep]; daily snapshot"}},
  };
}

class ApplyPolicyTable : public testing::TestWithParam<PolicyCase> {};

TEST_P(ApplyPolicyTable, KeepsExactlyTheExpectedSnapshots) {
  const PolicyCase& c = GetParam();
  ScopedTz tz(c.tz);
  std::vector<SnapshotRef> refs;
  std::map<Id, std::string> names;
  for (size_t i = 0; i < c.snapshots.size(); ++i) {
    SnapshotRef ref;
    ref.id.bytes[0] = static_cast<uint8_t>(i + 1);
    ref.time_ns = T(c.snapshots[i].time);
    ref.hostname = "host";
    ref.paths = {"/data"};
    ref.tags = c.snapshots[i].tags;
    names[ref.id] = c.snapshots[i].time;
    refs.push_back(std::move(ref));
  }
  const int64_t now = c.now.empty() ? kFarFuture : T(c.now);
  auto decisions = ApplyPolicy(refs, c.policy, now);
  ASSERT_TRUE(decisions.ok()) << decisions.status().ToString();
  ASSERT_EQ(decisions->size(), refs.size());

  std::vector<std::string> kept;
  int64_t previous = kFarFuture;
  for (const Decision& d : *decisions) {
    EXPECT_LE(d.snapshot.time_ns, previous) << "decisions are not newest first";
    previous = d.snapshot.time_ns;
    EXPECT_EQ(d.keep, !d.reasons.empty()) << names[d.snapshot.id];
    if (!d.keep) continue;
    std::string line = names[d.snapshot.id] + ":";
    for (size_t i = 0; i < d.reasons.size(); ++i) line += (i == 0 ? " " : "; ") + d.reasons[i];
    kept.push_back(line);
  }
  EXPECT_EQ(kept, c.kept);
}

INSTANTIATE_TEST_SUITE_P(Golden, ApplyPolicyTable, testing::ValuesIn(PolicyCases()),
                         [](const testing::TestParamInfo<PolicyCase>& info) {
                           return info.param.name;
                         });

// Equal times: restic sorts stably, so input order decides which one counts
// as newer. Many snapshots, so an unstable sort would show.
TEST(ApplyPolicy, EqualTimesKeepInputOrder) {
  ScopedTz tz("UTC0");
  std::vector<SnapshotRef> refs;
  for (uint8_t i = 1; i <= 40; ++i) {
    SnapshotRef r;
    r.id.bytes[0] = i;
    r.time_ns = T(i <= 30 ? "2024-01-01 10:00:00" : "2024-01-01 09:00:00");
    refs.push_back(r);
  }
  for (const RetentionPolicy& policy :
       {RetentionPolicy(P().Last(2)), RetentionPolicy(P().Hourly(2))}) {
    auto decisions = ApplyPolicy(refs, policy, kFarFuture);
    ASSERT_TRUE(decisions.ok());
    ASSERT_EQ(decisions->size(), refs.size());
    std::vector<uint8_t> order, kept;
    for (const Decision& d : *decisions) {
      order.push_back(d.snapshot.id.bytes[0]);
      if (d.keep) kept.push_back(d.snapshot.id.bytes[0]);
    }
    std::vector<uint8_t> want_order;
    for (uint8_t i = 1; i <= 40; ++i) want_order.push_back(i);
    EXPECT_EQ(order, want_order);
    // last: the first two; hourly: the first of each hour.
    EXPECT_EQ(kept, (policy.last == 2 ? std::vector<uint8_t>{1, 2} : std::vector<uint8_t>{1, 31}));
  }
}

TEST(ApplyPolicy, EmptyGroup) {
  auto decisions = ApplyPolicy({}, P().Daily(3), kFarFuture);
  ASSERT_TRUE(decisions.ok());
  EXPECT_TRUE(decisions->empty());
}

TEST(ApplyPolicy, RejectsInvalidPolicies) {
  const RetentionPolicy invalid[] = {
      P().Last(-2),          P().Yearly(-5), P().Within("-1d"), P().WithinMonthly("-3h"),
      P().Tags({{"a"}, {}}),
  };
  for (const RetentionPolicy& policy : invalid) {
    EXPECT_EQ(policy.Validate().code(), Status::Code::kInvalidArgument);
    auto decisions = ApplyPolicy({SnapshotRef{}}, policy, kFarFuture);
    ASSERT_FALSE(decisions.ok());
    EXPECT_EQ(decisions.status().code(), Status::Code::kInvalidArgument);
  }
  EXPECT_TRUE(RetentionPolicy(P().Last(kUnlimited)).Validate().ok());
}

TEST(RetentionPolicy, Empty) {
  EXPECT_TRUE(RetentionPolicy{}.Empty());
  EXPECT_TRUE(RetentionPolicy(P().Within("0d")).Empty());  // restic: a zero duration is off
  EXPECT_FALSE(RetentionPolicy(P().Tags({{""}})).Empty());
  EXPECT_FALSE(RetentionPolicy(P().Weekly(kUnlimited)).Empty());
  EXPECT_FALSE(RetentionPolicy(P().WithinYearly("1y")).Empty());
}

// ---------------------------------------------------------------------------
// Durations: restic's ParseDuration.

CalendarDuration CD(int years, int months, int days, int hours) {
  CalendarDuration d;
  d.years = years;
  d.months = months;
  d.days = days;
  d.hours = hours;
  return d;
}

TEST(CalendarDuration, Parses) {
  struct {
    const char* text;
    CalendarDuration want;
  } cases[] = {
      {"7d", CD(0, 0, 7, 0)},     {"1y2m", CD(1, 2, 0, 0)},    {"2y5m7d3h", CD(2, 5, 7, 3)},
      {"3h2y", CD(2, 0, 0, 3)},   {"  1d \t", CD(0, 0, 1, 0)}, {"", CalendarDuration()},
      {"1d2d", CD(0, 0, 2, 0)},  // restic: the later unit wins
      {"-1d", CD(0, 0, -1, 0)},  // parses; Validate rejects it
      {"0d", CalendarDuration()},
  };
  for (const auto& c : cases) {
    auto d = CalendarDuration::Parse(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().ToString();
    EXPECT_EQ(d.value(), c.want) << c.text;
  }
}

TEST(CalendarDuration, RejectsMalformed) {
  for (const char* text : {"5", "d", "5x", "1w", "1d 2h", "-", "--1d", "1.5d", "99999999999d"}) {
    auto d = CalendarDuration::Parse(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument) << text;
  }
}

TEST(CalendarDuration, FormatsLikeRestic) {
  EXPECT_EQ(D("2y5m7d3h").ToString(), "2y5m7d3h");
  EXPECT_EQ(D("3h1y").ToString(), "1y3h");
  EXPECT_EQ(D("0y7d").ToString(), "7d");
  EXPECT_EQ(CalendarDuration{}.ToString(), "");
}

// ---------------------------------------------------------------------------
// Grouping: restic's GroupSnapshots.

SnapshotRef Ref(uint8_t n, std::string host, std::vector<std::string> paths,
                std::vector<std::string> tags = {}) {
  SnapshotRef r;
  r.id.bytes[0] = n;
  r.time_ns = int64_t{n} * 3600 * 1'000'000'000;
  r.hostname = std::move(host);
  r.paths = std::move(paths);
  r.tags = std::move(tags);
  return r;
}

GroupBy GB(bool host, bool paths, bool tags) {
  GroupBy g;
  g.host = host;
  g.paths = paths;
  g.tags = tags;
  return g;
}

std::vector<uint8_t> Members(const SnapshotGroup& g) {
  std::vector<uint8_t> out;
  for (const SnapshotRef& r : g.snapshots) out.push_back(r.id.bytes[0]);
  return out;
}

TEST(GroupBy, Parses) {
  struct {
    const char* spec;
    GroupBy want;
  } cases[] = {
      {"host,paths", kDefaultGroupBy},     {"hosts,path", kDefaultGroupBy},
      {"paths,host", kDefaultGroupBy},     {"", GB(false, false, false)},
      {"tag", GB(false, false, true)},     {"host,paths,tags", GB(true, true, true)},
      {",host,,", GB(true, false, false)},
  };
  for (const auto& c : cases) {
    auto g = GroupBy::Parse(c.spec);
    ASSERT_TRUE(g.ok()) << c.spec << ": " << g.status().ToString();
    EXPECT_EQ(g.value(), c.want) << c.spec;
  }
  for (const char* bad : {"host, paths", "label", "Host"}) {
    auto g = GroupBy::Parse(bad);
    EXPECT_FALSE(g.ok()) << bad;
  }
}

TEST(GroupSnapshots, DefaultIsHostAndPathsWithPathOrderIgnored) {
  auto groups = GroupSnapshots({Ref(1, "h2", {"/a", "/b"}), Ref(2, "h1", {"/b", "/a"}),
                                Ref(3, "h1", {"/a"}), Ref(4, "h1", {"/a", "/b"}, {"t"})},
                               kDefaultGroupBy);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].key.ToString(), "host h1, path [/a]");
  EXPECT_EQ(Members(groups[0]), std::vector<uint8_t>{3});
  EXPECT_EQ(groups[1].key.ToString(), "host h1, path [/a /b]");
  EXPECT_EQ(Members(groups[1]), (std::vector<uint8_t>{2, 4}));
  EXPECT_EQ(groups[2].key.ToString(), "host h2, path [/a /b]");
  EXPECT_EQ(Members(groups[2]), std::vector<uint8_t>{1});
  // The snapshots themselves are not reordered.
  EXPECT_EQ(groups[1].snapshots[0].paths, (std::vector<std::string>{"/b", "/a"}));
}

TEST(GroupSnapshots, ByTagsIgnoresTagOrder) {
  auto groups = GroupSnapshots(
      {Ref(1, "h1", {"/a"}, {"y", "x"}), Ref(2, "h2", {"/b"}, {"x", "y"}), Ref(3, "h1", {"/a"})},
      GB(false, false, true));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].key, GroupKey{});
  EXPECT_EQ(Members(groups[0]), std::vector<uint8_t>{3});
  EXPECT_EQ(groups[1].key.ToString(), "tags [x y]");
  EXPECT_EQ(Members(groups[1]), (std::vector<uint8_t>{1, 2}));
}

TEST(GroupSnapshots, NoGroupingIsOneGroup) {
  auto groups = GroupSnapshots({Ref(1, "h1", {"/a"}), Ref(2, "h2", {"/b"}, {"t"})},
                               GroupBy::Parse("").value());
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].key.ToString(), "");
  EXPECT_EQ(Members(groups[0]), (std::vector<uint8_t>{1, 2}));
}

TEST(GroupSnapshots, PolicyAppliesPerGroup) {
  ScopedTz tz("UTC0");
  auto groups = GroupSnapshots(
      {Ref(1, "h1", {"/a"}), Ref(2, "h2", {"/a"}), Ref(3, "h1", {"/a"}), Ref(4, "h2", {"/a"})},
      kDefaultGroupBy);
  ASSERT_EQ(groups.size(), 2u);
  std::vector<uint8_t> kept;
  for (SnapshotGroup& g : groups) {
    auto decisions = ApplyPolicy(g.snapshots, P().Last(1), kFarFuture);
    ASSERT_TRUE(decisions.ok());
    for (const Decision& d : *decisions) {
      if (d.keep) kept.push_back(d.snapshot.id.bytes[0]);
    }
  }
  EXPECT_EQ(kept, (std::vector<uint8_t>{3, 4}));  // the newest of each host
}

}  // namespace
}  // namespace jsnap
