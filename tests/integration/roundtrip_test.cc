// create -> restore round trips: byte for byte, with metadata.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <fstream>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

void SetMtime(const std::string& path, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// Files of many kinds and sizes, odd names, links, holes, xattrs.
void MakeVariedTree(const std::string& root) {
  ::mkdir(root.c_str(), 0755);
  ::mkdir((root + "/docs").c_str(), 0750);
  ::mkdir((root + "/docs/deep").c_str(), 0700);
  ::mkdir((root + "/empty-dir").c_str(), 0755);
  WriteFile(root + "/empty", "");
  WriteFile(root + "/small.txt", "hello\n");
  WriteFile(root + "/docs/medium.bin", RandomBytes(700 * 1024, 11));
  WriteFile(root + "/docs/deep/large.bin", RandomBytes(3 * 1024 * 1024 + 17, 12));
  std::string text;
  for (int i = 0; i < 40000; ++i) text += "line " + std::to_string(i) + " of a compressible log\n";
  WriteFile(root + "/docs/app.log", text);
  WriteFile(root + "/dup-a.bin", RandomBytes(300 * 1024, 13));
  WriteFile(root + "/dup-b.bin", RandomBytes(300 * 1024, 13));  // same content: stored once
  WriteFile(root + std::string("/non-utf8-\xff\xfe.txt"), "bytes");
  WriteFile(root + "/new\nline name", "newline");
  WriteFile(root + "/ünïcødé ☃", "snow");
  ::chmod((root + "/small.txt").c_str(), 0640);
  WriteFile(root + "/setuid-exec", "#!/bin/sh\n");
  ::chmod((root + "/setuid-exec").c_str(), 04755);
  // Hard links, a symlink, a dangling symlink, an absolute symlink, a fifo.
  ASSERT_EQ(::link((root + "/small.txt").c_str(), (root + "/docs/hardlink-to-small").c_str()), 0);
  ASSERT_EQ(::link((root + "/small.txt").c_str(), (root + "/hardlink2").c_str()), 0);
  ASSERT_EQ(::symlink("docs/medium.bin", (root + "/rel-link").c_str()), 0);
  ASSERT_EQ(::symlink("/nonexistent/target", (root + "/dangling").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0600), 0);
  if (::geteuid() == 0) {  // device nodes need root (CI runs as root)
    ASSERT_EQ(::mknod((root + "/null-device").c_str(), S_IFCHR | 0640, makedev(1, 3)), 0);
  }
  // A sparse file: 64 MiB with data at three places.
  {
    int fd = ::open((root + "/sparse.img").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    const std::string blk = RandomBytes(8192, 14);
    ASSERT_EQ(::pwrite(fd, blk.data(), blk.size(), 0), 8192);
    ASSERT_EQ(::pwrite(fd, blk.data(), blk.size(), 20 << 20), 8192);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
    ::close(fd);
  }
  // A very long path (well beyond PATH_MAX), built relative to open dirs.
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY);
  size_t depth_chars = root.size();
  for (int i = 0; i < 25; ++i) {
    const std::string name(200, static_cast<char>('a' + i % 26));
    ASSERT_EQ(::mkdirat(fd, name.c_str(), 0755), 0) << "depth " << i;
    int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
    ::close(fd);
    fd = next;
    depth_chars += name.size() + 1;
  }
  ASSERT_GT(depth_chars, 4096u);
  int file = ::openat(fd, "at-the-bottom", O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(::write(file, "deep", 4), 4);
  ::close(file);
  ::close(fd);
  // Extended attributes (user namespace).
  ASSERT_EQ(::setxattr((root + "/small.txt").c_str(), "user.comment", "kept", 4, 0), 0);
  ASSERT_EQ(::setxattr((root + "/docs").c_str(), "user.dir", "x", 1, 0), 0);
  // Nanosecond mtimes, and times on links and directories.
  SetMtime(root + "/docs/medium.bin", 1600000000, 123456789);
  SetMtime(root + "/rel-link", 1500000000, 5);
  SetMtime(root + "/docs/deep", 1400000000, 999999999);
  SetMtime(root + "/empty-dir", 1300000000, 1);
}

TEST_F(CliTest, VariedTreeRoundTripsByteForByteWithMetadata) {
  const std::string src = dir_ / "src";
  MakeVariedTree(src);
  const auto before = DescribeTree(src);
  // The description sees what the comparison is about (else it proves nothing).
  EXPECT_EQ(before.at("small.txt").xattrs.at("user.comment"), "kept");
  EXPECT_EQ(before.at("hardlink2").hardlink_group, before.at("docs/hardlink-to-small").hardlink_group);
  EXPECT_EQ(before.at("docs/medium.bin").mtime_ns % 1000000000, 123456789);
  EXPECT_EQ(before.at("fifo").type, 'p');
  if (::geteuid() == 0) {
    EXPECT_EQ(before.at("null-device").type, 'c');
  }
  EXPECT_EQ(std::count_if(before.begin(), before.end(),
                          [](const auto& kv) { return kv.first.ends_with("/at-the-bottom"); }), 1);
  auto summary = Create({src});
  EXPECT_EQ(summary["errors"], 0);
  const std::string restored = Restore("latest", src);
  const auto after = DescribeTree(restored);
  EXPECT_EQ(DiffTrees(before, after), "");
  EXPECT_GT(before.size(), 40u);
  // The sparse file stayed sparse: no more blocks than the source.
  EXPECT_LE(after.at("sparse.img").data_blocks, before.at("sparse.img").data_blocks + 64);
  EXPECT_LT(after.at("sparse.img").data_blocks * 512, 1u << 20);
  // The source's parent directories were restored too, and nothing else.
  struct stat st;
  EXPECT_EQ(::stat(restored.c_str(), &st), 0);
}

// Restore creates files with their mode, and skips chown where the new file
// already has the recorded owner: neither shortcut may change the result
// under a strict umask, in a set-group-ID target (new files take the
// directory's group), or for owners other than the restoring user.
TEST_F(CliTest, OwnersAndModesComeBackUnderAnyUmaskAndInASetgidTarget) {
  if (!IsRoot()) GTEST_SKIP() << "needs root to own files as other users";
  const std::string src = dir_ / "owners";
  ::mkdir(src.c_str(), 0755);
  const std::pair<const char*, mode_t> modes[] = {
      {"plain", 0644}, {"private", 0600}, {"readonly", 0444}, {"exec", 0755},
      {"group-write", 0664}, {"setgid-exec", 02755}, {"no-access", 0}};
  for (const auto& [name, mode] : modes) {
    WriteFile(src + "/" + name, name);
    ASSERT_EQ(::chmod((src + "/" + name).c_str(), mode), 0);
  }
  ASSERT_EQ(::setxattr((src + "/readonly").c_str(), "user.tag", "ro", 2, 0), 0);
  WriteFile(src + "/theirs", "owned by someone else");
  ASSERT_EQ(::chown((src + "/theirs").c_str(), 4242, 4243), 0);
  WriteFile(src + "/root-group-other", "root's, group 4243");
  ASSERT_EQ(::chown((src + "/root-group-other").c_str(), 0, 4243), 0);
  ::mkdir((src + "/shared").c_str(), 0755);
  ASSERT_EQ(::chown((src + "/shared").c_str(), 0, 4243), 0);
  ASSERT_EQ(::chmod((src + "/shared").c_str(), 02775), 0);
  WriteFile(src + "/shared/roots", "root:root inside a setgid directory");
  ASSERT_EQ(::chown((src + "/shared/roots").c_str(), 0, 0), 0);
  const auto before = DescribeTree(src);
  ASSERT_EQ(before.at("shared/roots").gid, 0u);
  ASSERT_EQ(before.at("theirs").uid, 4242u);
  Create({src});

  EXPECT_EQ(DiffTrees(before, DescribeTree(Restore("latest", src))), "");

  const mode_t old_mask = ::umask(077);  // the restoring process's, inherited
  const std::string strict = Restore("latest", src);
  ::umask(old_mask);
  EXPECT_EQ(DiffTrees(before, DescribeTree(strict)), "");

  // A target whose set-group-ID bit hands group 4243 to everything created
  // in it: root:root files must still come back as root:root.
  const std::string target = dir_ / "setgid-target";
  ::mkdir(target.c_str(), 0755);
  ASSERT_EQ(::chown(target.c_str(), 0, 4243), 0);
  ASSERT_EQ(::chmod(target.c_str(), 02775), 0);
  auto r = J({"restore", "latest", "--target", target});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(DiffTrees(before, DescribeTree(target + src)), "");
}

TEST_F(CliTest, DuplicateContentIsStoredOnce) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  const std::string data = RandomBytes(2 << 20, 21);
  for (int i = 0; i < 5; ++i) WriteFile(src + "/copy" + std::to_string(i), data);
  auto s = Create({src});
  EXPECT_EQ(s["total_bytes"], 5 * data.size());
  EXPECT_EQ(s["bytes_added"].get<uint64_t>() < data.size() + 64 * 1024, true) << s.dump();
}

TEST_F(CliTest, IncludeExcludeAndOverwrite) {
  const std::string src = dir_ / "svc";
  ::mkdir(src.c_str(), 0755);
  ::mkdir((src + "/data").c_str(), 0755);
  ::mkdir((src + "/cache").c_str(), 0755);
  WriteFile(src + "/data/a.db", "db");
  WriteFile(src + "/data/b.log", "log");
  WriteFile(src + "/cache/c", "cache");
  WriteFile(src + "/conf", "conf");
  WriteFile(dir_ / "excludes", "# comment\n" + src + "/cache\n");
  auto s = Create({src, "--exclude", "*.log", "--exclude-file", dir_ / "excludes"});
  auto ls = J({"ls", "latest", src});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_NE(ls.out.find(src + "/data/a.db"), std::string::npos);
  EXPECT_EQ(ls.out.find("b.log"), std::string::npos);
  EXPECT_EQ(ls.out.find("/cache"), std::string::npos) << ls.out;

  const std::string only = Restore("latest", src, {"--include", src + "/data"});
  EXPECT_EQ(ReadFile(only + "/data/a.db"), "db");
  EXPECT_FALSE(std::ifstream(only + "/conf").good());

  const std::string target = dir_ / "restore-into";
  ASSERT_EQ(J({"restore", "latest", "--target", target}).exit_code, 0);
  WriteFile(target + src + "/conf", "locally changed");
  auto again = J({"restore", "latest", "--target", target});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos);
  EXPECT_EQ(ReadFile(target + src + "/conf"), "locally changed");
  ASSERT_EQ(J({"restore", "latest", "--target", target, "--overwrite"}).exit_code, 0);
  EXPECT_EQ(ReadFile(target + src + "/conf"), "conf");
}

TEST_F(CliTest, DumpLsSnapshotsStatsAndJson) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  const std::string data = RandomBytes(1 << 20, 5);
  WriteFile(src + "/file.bin", data);
  Create({src, "--tag", "nightly", "--host", "db1", "--time", "2026-01-02 03:04:05"});
  auto dump = J({"dump", "latest", src + "/file.bin"});
  EXPECT_EQ(dump.exit_code, 0);
  EXPECT_EQ(dump.out, data);
  auto missing = J({"dump", "latest", src + "/nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("not in the snapshot"), std::string::npos);

  auto snaps = J({"snapshots", "--json"});
  ASSERT_EQ(snaps.exit_code, 0);
  auto arr = nlohmann::json::parse(snaps.out);
  ASSERT_EQ(arr.size(), 1u);
  EXPECT_EQ(arr[0]["hostname"], "db1");
  EXPECT_EQ(arr[0]["tags"][0], "nightly");
  EXPECT_EQ(arr[0]["time"], "2026-01-02 03:04:05");
  EXPECT_EQ(arr[0]["paths"][0], src);
  const std::string id = arr[0]["id"];
  // A unique prefix selects the snapshot.
  EXPECT_EQ(J({"dump", id.substr(0, 6), src + "/file.bin"}).out, data);
  auto ls = J({"ls", "latest", "--json"});
  ASSERT_EQ(ls.exit_code, 0);
  bool found = false;
  std::istringstream lines(ls.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["path"] == src + "/file.bin") {
      found = true;
      EXPECT_EQ(j["size"], data.size());
      EXPECT_EQ(j["type"], "file");
    }
  }
  EXPECT_TRUE(found) << ls.out;
  auto stats = J({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  auto st = nlohmann::json::parse(stats.out);
  EXPECT_EQ(st["logical_bytes"], data.size());
  EXPECT_GE(st["unique_stored_bytes"].get<uint64_t>(), data.size());  // random data: no gain
}

}  // namespace
}  // namespace jsnap::test
