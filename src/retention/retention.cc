// Mirrors restic's internal/data/snapshot_policy.go (ApplyPolicy),
// duration.go (ParseDuration) and snapshot_group.go (GroupSnapshots); the
// comments name the Go behaviour each piece reproduces.
#include "jsnap/retention.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <optional>
#include <utility>

namespace jsnap {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// An instant as whole seconds plus nanoseconds, so thresholds far outside the
// int64-nanosecond range still compare correctly.
struct Instant {
  int64_t sec = 0;
  int64_t nsec = 0;  // [0, 1e9)
  auto operator<=>(const Instant&) const = default;
};

Instant FromNanos(int64_t ns) {
  int64_t sec = ns / kNanosPerSecond;
  int64_t nsec = ns % kNanosPerSecond;
  if (nsec < 0) {  // floor, not truncation, for times before 1970
    nsec += kNanosPerSecond;
    --sec;
  }
  return {sec, nsec};
}

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12; day may
// be out of range and then counts on from the 1st, as Go's time.Date does).
// H. Hinnant's days_from_civil.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468 + (d - 1);
}

struct CivilDate {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2), month, day};
}

// The local calendar fields of an instant, in the process time zone.
struct LocalTime {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
  int hour;
  int minute;
  int second;
  int weekday;  // 0 = Sunday, as struct tm
  long utc_offset;
};

bool ToLocal(int64_t unix_sec, LocalTime* out) {
  // time_t is 64-bit on every platform jsnap builds for; a value past the
  // int tm_year range makes localtime_r fail instead of wrapping.
  const time_t t = static_cast<time_t>(unix_sec);
  struct tm tm;
  if (localtime_r(&t, &tm) == nullptr) return false;
  *out = {static_cast<int64_t>(tm.tm_year) + 1900,
          tm.tm_mon + 1,
          tm.tm_mday,
          tm.tm_hour,
          tm.tm_min,
          tm.tm_sec,
          tm.tm_wday,
          tm.tm_gmtoff};
  return true;
}

LocalTime MustLocal(int64_t unix_sec) {
  LocalTime lt;
  // Every instant an int64 of nanoseconds can hold (years 1677..2262) fits.
  JSNAP_CHECK(ToLocal(unix_sec, &lt));
  return lt;
}

// The zone offset in effect at an instant; 0 when the instant is beyond what
// localtime_r can represent (billions of years away: no snapshot time is near
// it, so the offset cannot change a decision).
long OffsetAt(int64_t unix_sec) {
  LocalTime lt;
  return ToLocal(unix_sec, &lt) ? lt.utc_offset : 0;
}

// Converts a local wall-clock reading (seconds since the epoch as if the zone
// were UTC) to an instant the way Go's time.Date does: take the offset in
// effect at the wall reading treated as UTC; if the resulting instant lies in
// a period with another offset, use that period's offset instead. This is what
// decides where a nonexistent (spring-forward) or repeated (fall-back) local
// time lands; mktime() resolves those cases differently.
int64_t WallToUnix(int64_t wall) {
  long offset = OffsetAt(wall);
  if (offset != 0) {
    const long at_utc = OffsetAt(wall - offset);
    // Go compares against the zone period's bounds; a differing offset is the
    // same test, because adjacent periods with equal offsets give the same
    // answer either way.
    if (at_utc != offset) offset = at_utc;
  }
  return wall - offset;
}

// Go's latest.AddDate(-years, -months, -days).Add(-hours * time.Hour):
// calendar arithmetic on the local date (the month overflows into the year,
// the day overflows into the following days: 03-31 minus 1m is "02-31", i.e.
// 03-02 in a leap year), the local clock time kept, then exact hours.
Instant SubtractCalendar(Instant latest, const CalendarDuration& d) {
  const LocalTime lt = MustLocal(latest.sec);
  int64_t year = lt.year - d.years;
  int64_t month0 = static_cast<int64_t>(lt.month - 1) - d.months;
  // Floor division: Go's norm() for negative months.
  int64_t carry = month0 / 12;
  month0 %= 12;
  if (month0 < 0) {
    month0 += 12;
    --carry;
  }
  year += carry;
  const int64_t days = DaysFromCivil(year, month0 + 1, 1) + (lt.day - 1) - d.days;
  const int64_t wall = days * kSecondsPerDay + lt.hour * 3600 + lt.minute * 60 + lt.second;
  const int64_t unix_sec = WallToUnix(wall) - static_cast<int64_t>(d.hours) * 3600;
  return {unix_sec, latest.nsec};
}

// Go's Time.ISOWeek: the week's Thursday decides the year; week n is the n-th
// seven-day run of that year counted from its first Thursday's week.
int64_t YearWeek(const LocalTime& lt) {
  const int iso_weekday = lt.weekday == 0 ? 7 : lt.weekday;  // Monday = 1
  const int64_t thursday = DaysFromCivil(lt.year, lt.month, lt.day) + (4 - iso_weekday);
  const CivilDate th = CivilFromDays(thursday);
  const int64_t yday = thursday - DaysFromCivil(th.year, 1, 1);
  return th.year * 100 + (yday / 7 + 1);
}

// Bucket keys: restic's ymdh, ymd, yw, ym, y (as integers, so a rule can
// compare a snapshot's key with the key it kept last); "last" uses the
// position instead, making every snapshot a bucket of its own.
enum class Bucketing { kPosition, kHour, kDay, kWeek, kMonth, kYear };

int64_t BucketKey(Bucketing b, const LocalTime& lt, int64_t position) {
  switch (b) {
    case Bucketing::kPosition:
      return position;
    case Bucketing::kHour:
      return lt.year * 1'000'000 + lt.month * 10'000 + lt.day * 100 + lt.hour;
    case Bucketing::kDay:
      return lt.year * 10'000 + lt.month * 100 + lt.day;
    case Bucketing::kWeek:
      return YearWeek(lt);
    case Bucketing::kMonth:
      return lt.year * 100 + lt.month;
    case Bucketing::kYear:
      return lt.year;
  }
  return 0;
}

// restic's "no bucket kept yet": no real key is negative.
constexpr int64_t kNoBucket = -1;

struct CountRule {
  int count;
  Bucketing bucketing;
  const char* reason;
  int64_t last = kNoBucket;
};

struct WithinRule {
  CalendarDuration within;
  Bucketing bucketing;
  const char* reason;
  int64_t last = kNoBucket;
};

// restic's TagList.String(): "[a, b]".
std::string FormatTagSet(const std::vector<std::string>& tags) {
  std::string s = "[";
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i > 0) s += ", ";
    s += tags[i];
  }
  return s + "]";
}

// restic's Snapshot.HasTags: every tag of the set is present, except that an
// empty tag matches (and ends the check successfully) on an untagged snapshot.
bool HasTags(const SnapshotRef& sn, const std::vector<std::string>& set) {
  for (const std::string& tag : set) {
    if (tag.empty() && sn.tags.empty()) return true;
    if (std::find(sn.tags.begin(), sn.tags.end(), tag) == sn.tags.end()) return false;
  }
  return true;
}

// Go's %v of a []string: "[a b]".
std::string FormatGoSlice(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += " ";
    s += items[i];
  }
  return s + "]";
}

}  // namespace

Result<CalendarDuration> CalendarDuration::Parse(std::string_view text) {
  // strings.TrimSpace, for the ASCII spaces a command line can carry.
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t first = text.find_first_not_of(kSpace);
  text = first == std::string_view::npos
             ? std::string_view()
             : text.substr(first, text.find_last_not_of(kSpace) - first + 1);
  const std::string original(text);
  CalendarDuration d;
  while (!text.empty()) {
    bool negative = false;
    if (text.front() == '-') {
      negative = true;
      text.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) {
      return Status::InvalidArgument("duration \"" + original + "\": no number found");
    }
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
    // restic takes up to Go's 64-bit int (and panics beyond); the fields
    // here are int, and more than two billion units is a typo either way.
    if (ec != std::errc() || value > INT_MAX) {
      return Status::InvalidArgument("duration \"" + original + "\": number " +
                                     std::string(text.substr(0, digits)) + " is too large");
    }
    const int num = static_cast<int>(negative ? -value : value);
    text.remove_prefix(digits);
    if (text.empty()) {
      return Status::InvalidArgument("duration \"" + original + "\": no unit found after number " +
                                     std::to_string(num) + " (use y, m, d or h)");
    }
    switch (text.front()) {
      case 'y':
        d.years = num;
        break;
      case 'm':
        d.months = num;
        break;
      case 'd':
        d.days = num;
        break;
      case 'h':
        d.hours = num;
        break;
      default:
        return Status::InvalidArgument("duration \"" + original + "\": invalid unit '" +
                                       std::string(1, text.front()) + "' after number " +
                                       std::to_string(num) + " (use y, m, d or h)");
    }
    text.remove_prefix(1);
  }
  return d;
}

std::string CalendarDuration::ToString() const {
  std::string s;
  if (years != 0) s += std::to_string(years) + "y";
  if (months != 0) s += std::to_string(months) + "m";
  if (days != 0) s += std::to_string(days) + "d";
  if (hours != 0) s += std::to_string(hours) + "h";
  return s;
}

bool RetentionPolicy::Empty() const {
  return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 &&
         within.IsZero() && within_hourly.IsZero() && within_daily.IsZero() &&
         within_weekly.IsZero() && within_monthly.IsZero() && within_yearly.IsZero() &&
         tags.empty();
}

Status RetentionPolicy::Validate() const {
  for (int count : {last, hourly, daily, weekly, monthly, yearly}) {
    if (count < kUnlimited) {
      return Status::InvalidArgument("retention counts must be 0 or more, or unlimited (-1); got " +
                                     std::to_string(count));
    }
  }
  for (const CalendarDuration* d :
       {&within, &within_hourly, &within_daily, &within_weekly, &within_monthly, &within_yearly}) {
    if (d->years < 0 || d->months < 0 || d->days < 0 || d->hours < 0) {
      return Status::InvalidArgument("retention durations must not be negative; got " +
                                     d->ToString());
    }
  }
  for (const auto& set : tags) {
    if (set.empty()) {
      return Status::InvalidArgument(
          "an empty tag set would keep every snapshot; use the tag \"\" to keep untagged ones");
    }
  }
  return Status::Ok();
}

Result<std::vector<Decision>> ApplyPolicy(std::vector<SnapshotRef> group,
                                          const RetentionPolicy& policy, int64_t now_ns) {
  RETURN_IF_ERROR(policy.Validate());

  // restic sorts with sort.Stable on Time.After: newest first, ties in input
  // order.
  std::stable_sort(group.begin(), group.end(), [](const SnapshotRef& a, const SnapshotRef& b) {
    return a.time_ns > b.time_ns;
  });

  std::vector<Decision> decisions;
  decisions.reserve(group.size());
  if (policy.Empty()) {
    for (SnapshotRef& sn : group) {
      decisions.push_back({std::move(sn), true, {"policy is empty"}});
    }
    return decisions;
  }
  if (group.empty()) return decisions;

  CountRule count_rules[] = {
      {policy.last, Bucketing::kPosition, "last snapshot"},
      {policy.hourly, Bucketing::kHour, "hourly snapshot"},
      {policy.daily, Bucketing::kDay, "daily snapshot"},
      {policy.weekly, Bucketing::kWeek, "weekly snapshot"},
      {policy.monthly, Bucketing::kMonth, "monthly snapshot"},
      {policy.yearly, Bucketing::kYear, "yearly snapshot"},
  };
  WithinRule within_rules[] = {
      {policy.within_hourly, Bucketing::kHour, "hourly within"},
      {policy.within_daily, Bucketing::kDay, "daily within"},
      {policy.within_weekly, Bucketing::kWeek, "weekly within"},
      {policy.within_monthly, Bucketing::kMonth, "monthly within"},
      {policy.within_yearly, Bucketing::kYear, "yearly within"},
  };

  // restic's findLatestTimestamp: the newest snapshot not in the future.
  // Without one, Go's zero time (year 1) is the reference, before every
  // snapshot an int64 can date, so every snapshot counts as within.
  std::optional<Instant> latest;
  for (const SnapshotRef& sn : group) {
    if (sn.time_ns < now_ns && (!latest || FromNanos(sn.time_ns) > *latest)) {
      latest = FromNanos(sn.time_ns);
    }
  }
  auto threshold = [&](const CalendarDuration& d) -> std::optional<Instant> {
    if (!latest) return std::nullopt;
    return SubtractCalendar(*latest, d);
  };
  // Go's Time.After: strictly newer than the threshold.
  auto within = [](Instant t, const std::optional<Instant>& limit) { return !limit || t > *limit; };
  const std::optional<Instant> within_limit = threshold(policy.within);
  std::optional<Instant> within_rule_limits[std::size(within_rules)];
  for (size_t i = 0; i < std::size(within_rules); ++i) {
    within_rule_limits[i] = threshold(within_rules[i].within);
  }

  const int64_t oldest = static_cast<int64_t>(group.size()) - 1;
  for (int64_t nr = 0; nr <= oldest; ++nr) {
    SnapshotRef& cur = group[nr];
    const Instant t = FromNanos(cur.time_ns);
    const LocalTime lt = MustLocal(t.sec);
    std::vector<std::string> reasons;

    // Tags are not counted.
    for (const auto& set : policy.tags) {
      if (HasTags(cur, set)) reasons.push_back("has tags " + FormatTagSet(set));
    }

    if (!policy.within.IsZero() && within(t, within_limit)) {
      reasons.push_back("within " + policy.within.ToString());
    }

    for (CountRule& rule : count_rules) {
      if (rule.count <= 0 && rule.count != kUnlimited) continue;
      const int64_t key = BucketKey(rule.bucketing, lt, nr);
      // The oldest snapshot is kept while the rule has counts left, even in
      // a bucket already kept: that maximizes the history kept.
      if (key != rule.last || nr == oldest) {
        std::string reason = rule.reason;
        if (key == rule.last) reason = "oldest " + reason;
        rule.last = key;
        if (rule.count > 0) --rule.count;
        reasons.push_back(std::move(reason));
      }
    }

    for (size_t i = 0; i < std::size(within_rules); ++i) {
      WithinRule& rule = within_rules[i];
      if (rule.within.IsZero() || !within(t, within_rule_limits[i])) continue;
      const int64_t key = BucketKey(rule.bucketing, lt, nr);
      if (key != rule.last || nr == oldest) {
        std::string reason = rule.reason;
        if (key == rule.last) reason = "oldest " + reason;
        rule.last = key;
        reasons.push_back(reason + " " + rule.within.ToString());
      }
    }

    const bool keep = !reasons.empty();
    decisions.push_back({std::move(cur), keep, std::move(reasons)});
  }
  return decisions;
}

Result<GroupBy> GroupBy::Parse(std::string_view spec) {
  GroupBy g;
  // strings.Split(s, ","): no trimming, empty items allowed.
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    const std::string_view option = spec.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (option == "host" || option == "hosts") {
      g.host = true;
    } else if (option == "path" || option == "paths") {
      g.paths = true;
    } else if (option == "tag" || option == "tags") {
      g.tags = true;
    } else if (!option.empty()) {
      return Status::InvalidArgument("unknown grouping option: \"" + std::string(option) +
                                     "\" (use host, paths and/or tags, or \"\" for no grouping)");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return g;
}

std::string GroupKey::ToString() const {
  std::string s;
  auto add = [&s](const std::string& part) {
    if (!s.empty()) s += ", ";
    s += part;
  };
  if (!hostname.empty()) add("host " + hostname);
  if (!paths.empty()) add("path " + FormatGoSlice(paths));
  if (!tags.empty()) add("tags " + FormatGoSlice(tags));
  return s;
}

std::vector<SnapshotGroup> GroupSnapshots(std::vector<SnapshotRef> snapshots, GroupBy group_by) {
  std::vector<SnapshotGroup> groups;
  for (SnapshotRef& sn : snapshots) {
    GroupKey key;
    if (group_by.host) key.hostname = sn.hostname;
    if (group_by.paths) {
      key.paths = sn.paths;
      std::sort(key.paths.begin(), key.paths.end());
    }
    if (group_by.tags) {
      key.tags = sn.tags;
      std::sort(key.tags.begin(), key.tags.end());
    }
    auto it = std::lower_bound(groups.begin(), groups.end(), key,
                               [](const SnapshotGroup& g, const GroupKey& k) { return g.key < k; });
    if (it == groups.end() || it->key != key) {
      it = groups.insert(it, SnapshotGroup{std::move(key), {}});
    }
    it->snapshots.push_back(std::move(sn));
  }
  return groups;
}

}  // namespace jsnap
