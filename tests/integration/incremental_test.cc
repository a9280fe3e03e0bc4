// Incremental creates: unchanged files are not read, changes are found.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

// The paths the traced command opened that contain `marker`.
std::vector<std::string> OpenedFiles(const std::string& trace, const std::string& marker) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(trace));
  for (std::string line; std::getline(in, line);) {
    if (line.find("open") == std::string::npos || line.find(marker) == std::string::npos) continue;
    if (line.find("O_DIRECTORY") != std::string::npos) continue;
    out.push_back(line);
  }
  return out;
}

TEST_F(CliTest, SecondCreateOfUnchangedTreeOpensNoFile) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  ::mkdir((src + "/sub").c_str(), 0755);
  for (int i = 0; i < 30; ++i) {
    WriteFile(src + "/payload-" + std::to_string(i), RandomBytes(10000 + i * 997, i));
    WriteFile(src + "/sub/payload-sub-" + std::to_string(i), std::to_string(i));
  }
  auto run_traced = [&](const std::string& trace) {
    // LeakSanitizer cannot run under ptrace; the sanitizer build still
    // checks everything else in the traced run.
    auto r = RunCommand({"strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", trace,
                         JsnapBinary(), "-r", repo_, "--password-file", pw_, "create", "--json", src},
                        {"ASAN_OPTIONS=detect_leaks=0"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  auto first = run_traced(dir_ / "trace1");
  // The trace does see file opens (so the check below can fail).
  EXPECT_EQ(OpenedFiles(dir_ / "trace1", "payload-").size(), 60u);
  EXPECT_EQ(first["files_new"], 60);
  auto second = run_traced(dir_ / "trace2");
  EXPECT_EQ(OpenedFiles(dir_ / "trace2", "payload-"), std::vector<std::string>{});
  EXPECT_EQ(second["files_unmodified"], 60);
  EXPECT_EQ(second["bytes_read"], 0);
  // Only the trees of the ancestors may be new (their mtimes moved when the
  // traces were written beside the source); src and src/sub are shared.
  const auto ancestors = std::count(dir_.path().begin(), dir_.path().end(), '/') + 1;
  EXPECT_LE(second["tree_blobs_added"].get<int>(), ancestors);
  EXPECT_LT(second["bytes_added"].get<uint64_t>(), 400u * ancestors);
}

TEST_F(CliTest, ChangedFilesAreReadAgainAndOnlyNewChunksStored) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  const std::string big = RandomBytes(4 << 20, 1);
  WriteFile(src + "/big", big);
  WriteFile(src + "/same", "unchanged");
  Create({src});
  // Same size, same mtime, different content: ctime still gives it away.
  struct stat st;
  ASSERT_EQ(::stat((src + "/same").c_str(), &st), 0);
  WriteFile(src + "/same", "UNCHANGED");
  struct timespec ts[2] = {st.st_mtim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/same").c_str(), ts, 0), 0);
  // Insert bytes at the front of the big file: content-defined chunking
  // keeps all but the first chunk or so.
  WriteFile(src + "/big", "a few new bytes at the front" + big);
  auto s = Create({src});
  EXPECT_EQ(s["files_changed"], 2);
  EXPECT_LT(s["bytes_added"].get<uint64_t>(), 600u * 1024) << s.dump();
  auto dump = J({"dump", "latest", src + "/same"});
  EXPECT_EQ(dump.out, "UNCHANGED");
  const std::string restored = Restore("latest", src);
  EXPECT_EQ(DiffTrees(DescribeTree(src), DescribeTree(restored)), "");
}

TEST_F(CliTest, DryRunWritesNothing) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/f", RandomBytes(100000, 3));
  auto s = Create({src, "--dry-run"});
  EXPECT_TRUE(s["snapshot_id"].is_null());
  EXPECT_GT(s["bytes_added"].get<uint64_t>(), 0u);
  auto snaps = J({"snapshots", "--json"});
  EXPECT_EQ(nlohmann::json::parse(snaps.out).size(), 0u);
}

}  // namespace
}  // namespace jsnap::test
