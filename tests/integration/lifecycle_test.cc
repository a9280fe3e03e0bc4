// check, forget, prune, repair and locking: damage reported by what it
// hurts, retention, space reclaimed, and crash safety of deletion.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <map>
#include <set>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

std::set<std::string> Packs(const std::string& repo) {
  auto r = RunCommand({"sh", "-c", "cd '" + repo + "/data' && find . -type f ! -name '.*' -printf '%f\\n'"});
  std::set<std::string> out;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) out.insert(l);
  return out;
}

std::string PackPath(const std::string& repo, const std::string& id) {
  return repo + "/data/" + id.substr(0, 2) + "/" + id;
}

uint64_t DataBytes(const std::string& repo) {
  auto r = RunCommand({"du", "-sb", repo + "/data"});
  return std::stoull(r.out);
}

class LifecycleTest : public CliTest {
 protected:
  // Snapshot A holds a; snapshot B adds b. Returns the packs B added (b's
  // data, and trees).
  std::set<std::string> TwoSnapshots() {
    src_ = dir_ / "src";
    ::mkdir(src_.c_str(), 0755);
    WriteFile(src_ + "/a", RandomBytes(300000, 1));
    a_ = Create({src_})["snapshot_id"];
    const auto before = Packs(repo_);
    WriteFile(src_ + "/b", RandomBytes(300000, 2));
    b_ = Create({src_})["snapshot_id"];
    std::set<std::string> added;
    for (const auto& p : Packs(repo_)) {
      if (!before.count(p)) added.insert(p);
    }
    return added;
  }
  // The largest of B's packs: the one with b's data.
  std::string DataPackOfB(const std::set<std::string>& added) {
    std::string best;
    uint64_t size = 0;
    for (const auto& p : added) {
      struct stat st;
      ::stat(PackPath(repo_, p).c_str(), &st);
      if (static_cast<uint64_t>(st.st_size) > size) best = p, size = st.st_size;
    }
    return best;
  }
  nlohmann::json CheckJson(std::vector<std::string> extra, int expect_code) {
    std::vector<std::string> args = {"check", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = J(args);
    EXPECT_EQ(r.exit_code, expect_code) << r.out << r.err;
    return nlohmann::json::parse(r.out);
  }
  // Asserts snapshot A still restores byte for byte (it does not use b).
  void ExpectARestores() {
    const std::string restored = Restore(a_, src_);
    EXPECT_EQ(ReadFile(restored + "/a"), RandomBytes(300000, 1));
    EXPECT_FALSE(PathExistsHere(restored + "/b"));
  }
  static bool PathExistsHere(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
  }
  static bool AffectsOnly(const nlohmann::json& report, const std::string& snapshot_short, const std::string& path) {
    bool found = false;
    for (const auto& e : report["errors"]) {
      for (const auto& a : e["affects"]) {
        if (a != "snapshot " + snapshot_short + ": " + path) return false;
        found = true;
      }
    }
    return found;
  }
  std::string src_, a_, b_;
};

TEST_F(LifecycleTest, FlippedByteIsFoundByReadDataAndNamedBySnapshotAndFile) {
  const std::string pack = DataPackOfB(TwoSnapshots());
  FlipByte(PackPath(repo_, pack), 1000, 0x10);
  CheckJson({}, 0);  // the structure is intact: headers still match
  auto report = CheckJson({"--read-data"}, 1);
  ASSERT_EQ(report["errors"].size(), 1u) << report.dump(1);  // the blob, naming its pack
  const std::string error = report["errors"][0]["error"];
  EXPECT_EQ(report["errors"][0]["object"].get<std::string>().rfind("blob ", 0), 0u);
  EXPECT_NE(error.find("pack " + pack), std::string::npos) << error;
  EXPECT_NE(error.find("authentication failed"), std::string::npos) << error;
  EXPECT_TRUE(AffectsOnly(report, b_.substr(0, 8), src_ + "/b")) << report.dump(1);
  ExpectARestores();
}

// From "check --read-data failed" to whole snapshots, both ways a user may
// go: 'repair packs' (then create), or straight to 'repair snapshots' (then
// create). A damaged blob left in the index was deduplicated against, so
// the next create of the same, intact file took the damage over; now it is
// stored again, and every snapshot that refers to it is whole once more.
TEST_F(LifecycleTest, AfterRepairTheNextCreateStoresDamagedDataAgainAndHealsEverySnapshot) {
  for (const std::string way : {"packs", "snapshots"}) {
    SCOPED_TRACE("repair " + way);
    ASSERT_EQ(RunCommand({"rm", "-rf", repo_, dir_ / "src"}).exit_code, 0);
    ASSERT_EQ(J({"init", "--chunk-size", "64"}).exit_code, 0);
    const std::string pack = DataPackOfB(TwoSnapshots());
    const std::string path = PackPath(repo_, pack);
    FlipByte(path, 1000, 0x10);
    auto check = J({"check", "--read-data"});
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_NE(check.err.find("'jsnap repair packs'"), std::string::npos) << check.err;

    auto repair = way == "packs" ? J({"repair", "packs", "--json"})
                                 : J({"repair", "snapshots", "--read-data", "--json"});
    ASSERT_EQ(repair.exit_code, 0) << repair.err;
    const auto report = nlohmann::json::parse(repair.out);
    if (way == "packs") {
      EXPECT_EQ(report["packs"], nlohmann::json::array({pack})) << report.dump();
      EXPECT_EQ(report["blobs_dropped"].size(), 1u) << report.dump();
    } else {
      EXPECT_EQ(report["damaged_blobs_removed"], 1) << report.dump();
    }
    EXPECT_TRUE(PathExistsHere(repo_ + "/packs-lost"));
    EXPECT_FALSE(PathExistsHere(path));
    ExpectARestores();

    auto healed = Create({src_});  // b is read again and stored
    EXPECT_EQ(healed["files_unmodified"], 1) << healed.dump();  // a, whose chunks are all there
    CheckJson({"--read-data"}, 0);
    // A prune finds every blob the snapshots use: creates trust parents again.
    ASSERT_EQ(J({"prune"}).exit_code, 0);
    EXPECT_FALSE(PathExistsHere(repo_ + "/packs-lost"));
    for (const std::string& snap : {b_, healed["snapshot_id"].get<std::string>()}) {
      const std::string restored = Restore(snap, src_);
      EXPECT_EQ(ReadFile(restored + "/b"), RandomBytes(300000, 2)) << snap;
    }
  }
}

// A pack of 9 MiB is written in 1 MiB pieces by the create and read in 2
// MiB windows by check: every byte of every pack is read, and damage in
// the last window is pinned to its blob, not to the whole pack.
TEST_F(LifecycleTest, ReadDataReadsEveryByteOfALargePackAndPinsDamageToItsBlob) {
  src_ = dir_ / "src";
  ::mkdir(src_.c_str(), 0755);
  const std::string big = RandomBytes(9 << 20, 3);
  WriteFile(src_ + "/big", big);
  const std::string snap = Create({src_})["snapshot_id"];
  uint64_t pack_bytes = 0;
  std::string data_pack;
  uint64_t largest = 0;
  for (const auto& p : Packs(repo_)) {
    struct stat st;
    ASSERT_EQ(::stat(PackPath(repo_, p).c_str(), &st), 0);
    pack_bytes += static_cast<uint64_t>(st.st_size);
    if (static_cast<uint64_t>(st.st_size) > largest) largest = st.st_size, data_pack = p;
  }
  ASSERT_GT(largest, uint64_t{9} << 20) << "the data should be one pack";
  EXPECT_EQ(ReadFile(Restore(snap, src_) + "/big"), big);
  auto clean = CheckJson({"--read-data"}, 0);
  EXPECT_EQ(clean["bytes_read"].get<uint64_t>(), pack_bytes);

  FlipByte(PackPath(repo_, data_pack), largest - 100000);  // in the last blob, before the header
  auto report = CheckJson({"--read-data"}, 1);
  ASSERT_EQ(report["errors"].size(), 1u) << report.dump(1);
  EXPECT_EQ(report["errors"][0]["object"].get<std::string>().rfind("blob ", 0), 0u);
  EXPECT_NE(report["errors"][0]["error"].get<std::string>().find("pack " + data_pack), std::string::npos);
  EXPECT_TRUE(AffectsOnly(report, snap.substr(0, 8), src_ + "/big")) << report.dump(1);
}

// With the pack gone and the index rebuilt from the packs that remain, the
// chunk has no entry at all: check finds it missing from the index (not in
// a bad pack) and names what it hurts.
TEST_F(LifecycleTest, ChunkMissingFromTheIndexIsReportedAsLostData) {
  const std::string pack = DataPackOfB(TwoSnapshots());
  ASSERT_EQ(::unlink(PackPath(repo_, pack).c_str()), 0);
  auto repair = J({"repair", "index"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  auto report = CheckJson({}, 1);
  bool lost = false;
  for (const auto& e : report["errors"]) {
    lost |= e["object"].get<std::string>().rfind("blob ", 0) == 0 &&
            e["error"].get<std::string>().find("lost data") != std::string::npos;
  }
  EXPECT_TRUE(lost) << report.dump(1);
  EXPECT_TRUE(AffectsOnly(report, b_.substr(0, 8), src_ + "/b")) << report.dump(1);
  ExpectARestores();
}

TEST_F(LifecycleTest, TruncatedPackIsFoundByTheStructureCheck) {
  const std::string pack = DataPackOfB(TwoSnapshots());
  ASSERT_EQ(::truncate(PackPath(repo_, pack).c_str(), 5000), 0);
  auto report = CheckJson({}, 1);
  bool named = false;
  for (const auto& e : report["errors"]) named |= e["object"] == "pack " + pack;
  EXPECT_TRUE(named) << report.dump(1);
  EXPECT_TRUE(AffectsOnly(report, b_.substr(0, 8), src_ + "/b")) << report.dump(1);
  ExpectARestores();
}

TEST_F(LifecycleTest, DeletedPackIsReportedThenRepaired) {
  const std::string pack = DataPackOfB(TwoSnapshots());
  ASSERT_EQ(::unlink(PackPath(repo_, pack).c_str()), 0);
  auto report = CheckJson({}, 1);
  EXPECT_TRUE(AffectsOnly(report, b_.substr(0, 8), src_ + "/b")) << report.dump(1);
  ExpectARestores();
  // repair snapshots: a new snapshot without the lost data, originals kept.
  auto repair = J({"repair", "snapshots", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  auto rj = nlohmann::json::parse(repair.out);
  ASSERT_EQ(rj["repaired"].size(), 1u) << rj.dump(1);
  EXPECT_EQ(rj["repaired"][0]["original"], b_);
  EXPECT_EQ(rj["repaired"][0]["damaged"][0], src_ + "/b");
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 3u);
  CheckJson({}, 1);  // the original still refers to the lost data
  ASSERT_EQ(J({"repair", "snapshots", "--forget"}).exit_code, 0);
  CheckJson({"--read-data"}, 0);
  const std::string repaired = rj["repaired"][0]["repaired"];
  const std::string restored = Restore(repaired, src_);
  EXPECT_EQ(ReadFile(restored + "/a"), RandomBytes(300000, 1));
  EXPECT_TRUE(PathExistsHere(restored + "/b.damaged"));
  EXPECT_FALSE(PathExistsHere(restored + "/b"));
  auto snaps = nlohmann::json::parse(J({"snapshots", "--json"}).out);
  EXPECT_EQ(snaps.size(), 2u);
}

TEST_F(LifecycleTest, DeletedIndexNeedsRepairThenChecksClean) {
  TwoSnapshots();
  RemoveAll(repo_ + "/index");
  auto r = J({"check"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("repair index"), std::string::npos) << r.err;
  ASSERT_EQ(J({"repair", "index"}).exit_code, 0);
  CheckJson({"--read-data"}, 0);
  ExpectARestores();
}

TEST_F(LifecycleTest, ReadDataSubsetsCoverEveryPackOverRepeatedRuns) {
  // Many small packs: each create of a few files makes its own.
  const std::string src = dir_ / "many";
  ::mkdir(src.c_str(), 0755);
  for (int i = 0; i < 12; ++i) {
    WriteFile(src + "/f" + std::to_string(i), RandomBytes(100000, 50 + i));
    Create({src});
  }
  const auto all = Packs(repo_);
  ASSERT_GE(all.size(), 12u);
  std::set<std::string> covered;
  for (int run = 0; run < 4; ++run) {
    auto report = CheckJson({"--read-data-subset", "25%"}, 0);
    const size_t n = report["packs_verified"].size();
    EXPECT_LE(n, (all.size() + 3) / 4 + 1);
    for (const auto& p : report["packs_verified"]) covered.insert(p);
  }
  EXPECT_EQ(covered, all) << "four 25% runs verify every pack";
  auto group = CheckJson({"--read-data-subset", "1/2"}, 0);
  for (const auto& p : group["packs_verified"]) {
    EXPECT_EQ(std::stoi(p.get<std::string>().substr(0, 2), nullptr, 16) % 2, 0);
  }
  EXPECT_EQ(J({"check", "--read-data-subset", "150%"}).exit_code, 1);
}

TEST_F(LifecycleTest, ForgetAppliesTheCalendarPolicyWithReasons) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/f", "x");
  for (const char* t : {"2026-01-30 10:00:00", "2026-01-31 09:00:00", "2026-01-31 18:00:00",
                        "2026-02-01 08:00:00", "2026-02-02 08:00:00", "2026-02-02 20:00:00"}) {
    Create({src, "--time", t});
  }
  auto dry = J({"forget", "--keep-daily", "2", "--keep-monthly", "2", "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  auto j = nlohmann::json::parse(dry.out);
  std::map<std::string, std::vector<std::string>> kept;
  for (const auto& s : j["groups"][0]["snapshots"]) {
    if (s["keep"]) kept[s["time"]] = s["reasons"].get<std::vector<std::string>>();
  }
  const std::map<std::string, std::vector<std::string>> expected = {
      {"2026-02-02 20:00:00", {"daily snapshot", "monthly snapshot"}},
      {"2026-02-01 08:00:00", {"daily snapshot"}},
      {"2026-01-31 18:00:00", {"monthly snapshot"}},
  };
  EXPECT_EQ(kept, expected) << j.dump(1);
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 6u);  // dry run
  ASSERT_EQ(J({"forget", "--keep-daily", "2", "--keep-monthly", "2"}).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 3u);
  auto none = J({"forget"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no policy"), std::string::npos);
}

TEST_F(LifecycleTest, PruneAfterForgettingAllButTheLastIsNearAFreshRepository) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  for (int round = 0; round < 6; ++round) {
    WriteFile(src + "/stable", RandomBytes(1 << 20, 7));
    WriteFile(src + "/changing-" + std::to_string(round % 2), RandomBytes(2 << 20, 100 + round));
    WriteFile(src + "/log", RandomBytes(300000 + round * 1000, 200 + round));
    Create({src});
  }
  ASSERT_EQ(J({"forget", "--keep-last", "1", "--prune"}).exit_code, 0);
  CheckJson({"--read-data"}, 0);
  // A fresh repository holding only the same tree.
  const std::string fresh = dir_ / "fresh";
  ASSERT_EQ(Jsnap(fresh, pw_, {"init", "--chunk-size", "64"}).exit_code, 0);
  ASSERT_EQ(Jsnap(fresh, pw_, {"create", src}).exit_code, 0);
  const double pruned = DataBytes(repo_), baseline = DataBytes(fresh);
  EXPECT_LT(pruned, baseline * 1.10) << pruned << " vs fresh " << baseline;
  EXPECT_EQ(DiffTrees(DescribeTree(src), DescribeTree(Restore("latest", src))), "");
}

TEST_F(LifecycleTest, Kill9AtAnyMomentOfPruneLeavesACheckedRepository) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  std::mt19937 rng(3);
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 6; ++i) WriteFile(src + "/f" + std::to_string(i), RandomBytes(400000, round * 10 + (i % 3 ? i : 0)));
    Create({src});
  }
  const auto latest = DescribeTree(src);
  for (int round = 0; round < 6; ++round) {
    // Forget one more old snapshot, then kill a prune somewhere inside.
    auto snaps = nlohmann::json::parse(J({"snapshots", "--json"}).out);
    if (snaps.size() > 2) {
      ASSERT_EQ(J({"forget", snaps[0]["id"]}).exit_code, 0);
    }
    const int pid = Spawn({JsnapBinary(), "-r", repo_, "-p", pw_, "prune", "--max-unused", "0"});
    ::usleep(std::uniform_int_distribution<int>(0, 400000)(rng));
    ::kill(pid, SIGKILL);
    WaitFor(pid);
    auto report = CheckJson({}, 0);
    EXPECT_TRUE(report["ok"]) << "round " << round << ": " << report.dump(1);
  }
  ASSERT_EQ(J({"prune"}).exit_code, 0);
  CheckJson({"--read-data"}, 0);
  EXPECT_EQ(DiffTrees(latest, DescribeTree(Restore("latest", src))), "");
}

// kill -9 at any moment of 'repair packs' loses nothing else: the damaged
// blob is either still in its pack or gone from the index, nothing but b
// is affected, and a is whole. A repair that completes, then a create,
// make every snapshot whole again. (A repair of this repository takes ~60
// ms: each round starts from a fresh one and kills within 80 ms.)
TEST_F(LifecycleTest, Kill9AtAnyMomentOfRepairPacksLosesNothingElse) {
  std::mt19937 rng(5);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(RunCommand({"rm", "-rf", repo_, dir_ / "src"}).exit_code, 0);
    ASSERT_EQ(J({"init", "--chunk-size", "64"}).exit_code, 0);
    FlipByte(PackPath(repo_, DataPackOfB(TwoSnapshots())), 1000, 0x10);
    const int pid = Spawn({JsnapBinary(), "-r", repo_, "-p", pw_, "repair", "packs"});
    ::usleep(std::uniform_int_distribution<int>(0, 80000)(rng));
    ::kill(pid, SIGKILL);
    WaitFor(pid);
    auto report = CheckJson({"--read-data"}, 1);  // the blob damaged, or missing
    EXPECT_TRUE(AffectsOnly(report, b_.substr(0, 8), src_ + "/b")) << report.dump(1);
    ExpectARestores();
    ASSERT_EQ(J({"repair", "packs"}).exit_code, 0);
    Create({src_});
    CheckJson({"--read-data"}, 0);
    EXPECT_EQ(ReadFile(Restore(b_, src_) + "/b"), RandomBytes(300000, 2));
  }
}

TEST_F(LifecycleTest, CreatePruneAndRestoreConcurrentlyInALoop) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/base", RandomBytes(500000, 1));
  Create({src});
  for (int round = 0; round < 4; ++round) {
    WriteFile(src + "/r" + std::to_string(round), RandomBytes(300000, 10 + round));
    auto snaps = nlohmann::json::parse(J({"snapshots", "--json"}).out);
    if (snaps.size() > 2) {
      ASSERT_EQ(J({"forget", snaps[0]["id"], "--wait-lock", "60s"}).exit_code, 0);
    }
    const std::string target = dir_ / ("concurrent-restore-" + std::to_string(round));
    const std::string errs[] = {dir_ / "create.err", dir_ / "prune.err", dir_ / "restore.err"};
    std::vector<int> pids = {
        Spawn({JsnapBinary(), "-r", repo_, "-p", pw_, "create", src, "--wait-lock", "60s"}, errs[0]),
        Spawn({JsnapBinary(), "-r", repo_, "-p", pw_, "prune", "--max-unused", "0", "--wait-lock", "60s"}, errs[1]),
        Spawn({JsnapBinary(), "-r", repo_, "-p", pw_, "restore", "latest", "--target", target, "--wait-lock", "60s"},
              errs[2]),
    };
    for (size_t i = 0; i < pids.size(); ++i) {
      EXPECT_EQ(WaitFor(pids[i]), 0) << "round " << round << ": " << ReadFile(errs[i]);
    }
  }
  CheckJson({"--read-data"}, 0);
  EXPECT_EQ(DiffTrees(DescribeTree(src), DescribeTree(Restore("latest", src))), "");
}

TEST_F(LifecycleTest, ReadersRunBesideACreate) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/f", RandomBytes(1 << 20, 1));
  Create({src});
  // Hold the append lock as a running create would; readers are not blocked.
  const int holder = Spawn({"flock", "--exclusive", repo_ + "/locks/append.lock", "sleep", "3"});
  ::usleep(300000);
  EXPECT_EQ(J({"snapshots"}).exit_code, 0);
  EXPECT_EQ(J({"check"}).exit_code, 0);
  EXPECT_EQ(J({"restore", "latest", "--target", dir_ / "r"}).exit_code, 0);
  auto second = J({"create", src});  // a second appender waits its turn
  EXPECT_EQ(second.exit_code, 11) << second.err;
  EXPECT_EQ(WaitFor(holder), 0);
}

TEST_F(LifecycleTest, UnlockRemovesRecordsOfDeadProcessesOnly) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string dead = repo_ + "/locks/" + host + "-999999";
  const std::string live = repo_ + "/locks/" + host + "-" + std::to_string(::getpid());
  WriteFile(dead, "exclusive lock held by pid 999999");
  WriteFile(live, "shared lock held by the test");
  auto r = J({"unlock"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(std::string(host) + "-999999"), std::string::npos) << r.out;
  EXPECT_FALSE(PathExistsHere(dead));
  EXPECT_TRUE(PathExistsHere(live));
  ASSERT_EQ(J({"unlock", "--remove-all"}).exit_code, 0);
  EXPECT_FALSE(PathExistsHere(live));
}

}  // namespace
}  // namespace jsnap::test

namespace jsnap::test {
namespace {

class PruneSmallDiskTest : public LifecycleTest {
 protected:
  void SetUp() override {
    if (!IsRoot()) GTEST_SKIP() << "mounting a tmpfs needs root";
    CliTest::SetUp();
    UseSmallDisk("32m", {"--pack-size", "1", "--chunk-size", "64"});
  }
};

TEST_F(PruneSmallDiskTest, FullDiskDuringPruneLeavesACheckedRepository) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  // Interleaved names: every pack gets blobs of kept and dropped files.
  for (int i = 0; i < 60; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/f%03d-", i);
    WriteFile(src + name + "drop", RandomBytes(100000, 1000 + i));
    WriteFile(src + name + "keep", RandomBytes(100000, 2000 + i));
  }
  auto first = J({"create", src, "--threads", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  for (int i = 0; i < 60; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/f%03d-drop", i);
    ::unlink((src + name).c_str());
  }
  Create({src});
  const auto kept = DescribeTree(src);
  ASSERT_EQ(J({"forget", "--keep-last", "1"}).exit_code, 0);
  // Leave about 2 MiB free: repacking the ~6 MiB that is live cannot fit.
  auto df = RunCommand({"df", "--output=avail", "-B1", mnt_});
  const uint64_t avail = std::stoull(df.out.substr(df.out.find('\n') + 1));
  WriteFile(mnt_ + "/filler", std::string(avail - (2 << 20), 'f'));
  auto full = J({"prune", "--max-unused", "0"});
  EXPECT_EQ(full.exit_code, 1) << full.out;
  EXPECT_NE(full.err.find("No space left"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("before deleting anything"), std::string::npos) << full.err;
  CheckJson({"--read-data"}, 0);
  EXPECT_EQ(DiffTrees(kept, DescribeTree(Restore("latest", src))), "");
  ::unlink((mnt_ + "/filler").c_str());
  const uint64_t before = DataBytes(repo_);
  auto ok = J({"prune", "--max-unused", "0"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_LT(DataBytes(repo_) * 10, before * 6) << "about half of the data was garbage";
  CheckJson({"--read-data"}, 0);
  EXPECT_EQ(DiffTrees(kept, DescribeTree(Restore("latest", src))), "");
}

}  // namespace
}  // namespace jsnap::test

namespace jsnap::test {
namespace {

// After a pack is lost, creates must not reuse the lost chunks of unchanged
// files from their parent, even when another command rebuilt the index first.
TEST_F(LifecycleTest, CreatesAfterALostPackReadUnchangedFilesAgain) {
  const std::string pack = DataPackOfB(TwoSnapshots());
  ASSERT_EQ(::unlink(PackPath(repo_, pack).c_str()), 0);
  ASSERT_EQ(J({"repair", "index"}).exit_code, 0);
  auto s = Create({src_});
  EXPECT_GE(s["files_changed"].get<int>() + s["files_new"].get<int>(), 1) << s.dump();
  const std::string restored = Restore("latest", src_);
  EXPECT_EQ(ReadFile(restored + "/b"), RandomBytes(300000, 2));
  // repair snapshots clears the marker once the damage is rewritten.
  ASSERT_EQ(J({"repair", "snapshots", "--forget"}).exit_code, 0);
  EXPECT_FALSE(PathExistsHere(repo_ + "/packs-lost"));
  CheckJson({"--read-data"}, 0);
}

TEST_F(LifecycleTest, PruneRefusesWhileASnapshotFileIsUnreadable) {
  TwoSnapshots();
  const std::string file = repo_ + "/snapshots/" + a_;
  ::chmod(file.c_str(), 0600);
  WriteFile(file, "garbage");
  CheckJson({}, 1);  // check reads every snapshot file, whatever the index holds
  // Rebuilt, the index no longer has the record: prune must not take the
  // snapshot's data for unused.
  ASSERT_EQ(J({"repair", "index"}).exit_code, 0);
  auto r = J({"prune"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unreadable"), std::string::npos) << r.err;
  auto report = CheckJson({}, 1);
  EXPECT_FALSE(report["errors"].empty());
}

// check counts what no snapshot uses from the index's pack listing, and
// prune names a used blob whose pack is gone instead of pruning around it.
TEST_F(LifecycleTest, CheckCountsUnusedBlobsAndPruneNamesAMissingOne) {
  const auto added = TwoSnapshots();
  EXPECT_EQ(CheckJson({}, 0)["blobs_unreferenced"], 0);
  ASSERT_EQ(J({"forget", b_}).exit_code, 0);
  auto report = CheckJson({}, 0);
  EXPECT_GE(report["blobs_unreferenced"].get<int>(), 2);  // b's data and B's root tree at least
  EXPECT_GE(report["bytes_unreferenced"].get<uint64_t>(), 300000u);  // b is incompressible
  // The largest pack A wrote holds a's data; without it A's blobs are missing.
  std::string a_data;
  uint64_t size = 0;
  for (const auto& p : Packs(repo_)) {
    struct stat st;
    if (added.count(p) || ::stat(PackPath(repo_, p).c_str(), &st) != 0) continue;
    if (static_cast<uint64_t>(st.st_size) > size) a_data = p, size = st.st_size;
  }
  ASSERT_FALSE(a_data.empty());
  ASSERT_EQ(::unlink(PackPath(repo_, a_data).c_str()), 0);
  auto r = J({"prune"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("used by a snapshot but missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("repair snapshots"), std::string::npos) << r.err;
}

TEST_F(LifecycleTest, RepairPicksAFreeNameForADamagedFile) {
  src_ = dir_ / "src";
  ::mkdir(src_.c_str(), 0755);
  WriteFile(src_ + "/b.damaged", "an unrelated file that happens to have this name");
  Create({src_});  // its own pack, which survives
  const auto before = Packs(repo_);
  WriteFile(src_ + "/b", RandomBytes(300000, 2));
  Create({src_});
  std::string biggest;
  uint64_t size = 0;
  for (const auto& p : Packs(repo_)) {
    struct stat st;
    ::stat(PackPath(repo_, p).c_str(), &st);
    if (!before.count(p) && static_cast<uint64_t>(st.st_size) > size) biggest = p, size = st.st_size;
  }
  ASSERT_EQ(::unlink(PackPath(repo_, biggest).c_str()), 0);
  auto repair = J({"repair", "snapshots", "--forget", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  const std::string restored = Restore("latest", src_);
  EXPECT_EQ(ReadFile(restored + "/b.damaged"), "an unrelated file that happens to have this name");
  EXPECT_TRUE(PathExistsHere(restored + "/b.damaged-2"));
}

TEST_F(LifecycleTest, MaxUnusedZeroDoesNotRewriteFullyUsedPacks) {
  TwoSnapshots();
  const auto before = Packs(repo_);
  auto r = J({"prune", "--max-unused", "0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["packs_repacked"], 0) << j.dump();
  EXPECT_EQ(j["packs_deleted"], 0) << j.dump();
  EXPECT_EQ(Packs(repo_), before);
}

}  // namespace
}  // namespace jsnap::test
