// Crashes, full disks and concurrent writers: the repository stays valid,
// earlier snapshots restore, and the next create succeeds.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <random>

#include "cli_fixture.h"
#include "jsnap/file_util.h"

namespace jsnap::test {
namespace {

std::vector<std::string> JsnapArgs(const std::string& repo, const std::string& pw,
                                   std::vector<std::string> args) {
  std::vector<std::string> argv = {JsnapBinary(), "-r", repo, "--password-file", pw};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

TEST_F(CliTest, Kill9AtAnyMomentOfCreateLeavesAUsableRepository) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/base", RandomBytes(1 << 20, 1));
  Create({src});
  const auto first_tree = DescribeTree(src);
  // A change that takes the killed runs a few seconds (zstd -19 on text).
  std::mt19937 gen(7);
  for (int i = 0; i < 30; ++i) {
    std::string text;
    while (text.size() < 400 * 1024) text += "row " + std::to_string(gen() % 100000) + " value " + std::to_string(gen()) + "\n";
    WriteFile(src + "/new-" + std::to_string(i), text);
  }
  std::mt19937 rng(42);
  int killed = 0;
  // A killed run leaves the pack it was writing as a temp file (until the
  // next create, which removes it).
  auto temps = [&] { return RunCommand({"find", repo_, "-name", ".tmp-*"}).out; };
  bool left_temps = false;
  for (int round = 0; round < 12; ++round) {
    const int pid = Spawn(JsnapArgs(repo_, pw_, {"create", src, "--compression", "19", "--threads", "1"}));
    ::usleep(std::uniform_int_distribution<int>(0, 1500000)(rng));
    ::kill(pid, SIGKILL);
    killed += WaitFor(pid) == 128 + SIGKILL;
    left_temps |= !temps().empty();
    auto snaps = J({"snapshots", "--json"});
    ASSERT_EQ(snaps.exit_code, 0) << "round " << round << ": " << snaps.err;
  }
  EXPECT_GE(killed, 6) << "most runs should have been killed mid-way";
  EXPECT_TRUE(left_temps) << "no killed run was writing a pack";
  // The first snapshot restores exactly as it was.
  auto first = nlohmann::json::parse(J({"snapshots", "--json"}).out)[0]["id"].get<std::string>();
  const std::string restored_first = Restore(first, src);
  EXPECT_EQ(DiffTrees(first_tree, DescribeTree(restored_first)), "");
  // The next create succeeds, is complete, and removes what killed runs
  // left (it holds the only lock that writes packs, snapshots and keys).
  for (const char* dir : {"/data/", "/snapshots/", "/keys/"}) WriteFile(repo_ + dir + ".tmp-killed", "x");
  auto s = Create({src});
  EXPECT_FALSE(s["snapshot_id"].is_null());
  EXPECT_EQ(DiffTrees(DescribeTree(src), DescribeTree(Restore("latest", src))), "");
  EXPECT_EQ(temps(), "");
  // prune (under the exclusive lock) removes them everywhere.
  for (const char* dir : {"/data/", "/snapshots/", "/keys/", "/"}) WriteFile(repo_ + dir + ".tmp-left", "x");
  ASSERT_EQ(J({"prune"}).exit_code, 0);
  EXPECT_EQ(temps(), "");
}

// A tmpfs of a few MiB, mounted for the test (needs root, as CI is).
class SmallDiskTest : public CliTest {
 protected:
  void SetUp() override {
    if (!IsRoot()) GTEST_SKIP() << "mounting a tmpfs needs root";
    CliTest::SetUp();
    UseSmallDisk("24m", {"--pack-size", "4"});
  }
};

TEST_F(SmallDiskTest, FullDiskFailsCleanlyAndTheNextCreateSucceeds) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/small", RandomBytes(2 << 20, 1));
  Create({src});
  const auto first_tree = DescribeTree(src);
  WriteFile(src + "/huge", RandomBytes(40 << 20, 2));  // more than the disk holds
  auto full = J({"create", src});
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("No space left"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("no snapshot was saved"), std::string::npos) << full.err;
  // Packs are written while they fill: the one cut short leaves no temp
  // file taking the space.
  auto temps = RunCommand({"find", repo_ + "/data", "-name", ".tmp-*"});
  EXPECT_EQ(temps.out, "") << "temp files left behind";
  // Still one snapshot, and it restores (into a folder outside the full disk).
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 1u);
  EXPECT_EQ(DiffTrees(first_tree, DescribeTree(Restore("latest", src))), "");
  // Free the space the source needs; the next create succeeds.
  ::unlink((src + "/huge").c_str());
  WriteFile(src + "/medium", RandomBytes(3 << 20, 3));
  auto ok = Create({src});
  EXPECT_FALSE(ok["snapshot_id"].is_null());
  EXPECT_EQ(DiffTrees(DescribeTree(src), DescribeTree(Restore("latest", src))), "");
}

TEST_F(CliTest, RestoreIntoAFullDiskSaysSoAndLeavesNoHalfWrittenFile) {
  if (!IsRoot()) GTEST_SKIP() << "mounting a tmpfs needs root";
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  const std::string small = RandomBytes(100 << 10, 4);
  WriteFile(src + "/small.bin", small);
  WriteFile(src + "/big.bin", RandomBytes(12 << 20, 5));  // incompressible, 3x the disk
  Create({src});
  const std::string target = dir_ / "tiny";
  ::mkdir(target.c_str(), 0755);
  ASSERT_EQ(::mount("tmpfs", target.c_str(), "tmpfs", 0, "size=4m"), 0) << std::strerror(errno);
  auto r = J({"restore", "latest", "--target", target});
  const bool big_left = PathExists(target + src + "/big.bin");
  const bool small_whole = !PathExists(target + src + "/small.bin") || ReadFile(target + src + "/small.bin") == small;
  ::umount2(target.c_str(), MNT_DETACH);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("No space left"), std::string::npos) << r.err;
  // The file that failed is named: big.bin, or small.bin when the disk
  // filled while both were being written.
  EXPECT_TRUE(r.err.find("big.bin") != std::string::npos || r.err.find("small.bin") != std::string::npos)
      << r.err;
  EXPECT_FALSE(big_left) << "a half-written file was left under its name";
  EXPECT_TRUE(small_whole) << "small.bin is there but not whole";
}

TEST_F(CliTest, ConcurrentCreatesDoNotCorruptTheRepository) {
  const std::string a = dir_ / "a", b = dir_ / "b";
  ::mkdir(a.c_str(), 0755);
  ::mkdir(b.c_str(), 0755);
  for (int i = 0; i < 8; ++i) {
    WriteFile(a + "/f" + std::to_string(i), RandomBytes(300000, i));
    WriteFile(b + "/f" + std::to_string(i), RandomBytes(300000, i + (i % 2) * 1000));  // half shared
  }
  std::vector<int> pids;
  for (int round = 0; round < 3; ++round) {
    pids.push_back(Spawn(JsnapArgs(repo_, pw_, {"create", a, "--wait-lock", "60s"})));
    pids.push_back(Spawn(JsnapArgs(repo_, pw_, {"create", b, "--wait-lock", "60s"})));
  }
  for (int pid : pids) EXPECT_EQ(WaitFor(pid), 0);
  auto snaps = nlohmann::json::parse(J({"snapshots", "--json"}).out);
  EXPECT_EQ(snaps.size(), 6u);
  for (const auto& s : snaps) {
    const std::string path = s["paths"][0];
    EXPECT_EQ(DiffTrees(DescribeTree(path), DescribeTree(Restore(s["id"], path))), "") << path;
  }
}

}  // namespace
}  // namespace jsnap::test
