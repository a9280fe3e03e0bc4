// A fresh repository (fast KDF) and helpers for tests that run the binary.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace jsnap::test {

// Flips the bits `mask` of the byte at `offset` of a repository file (stored
// read-only, so made writable first).
inline void FlipByte(const std::string& path, uint64_t offset, char mask = 0x01) {
  ::chmod(path.c_str(), 0600);
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  const off_t at = static_cast<off_t>(offset);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, at), 1) << path;
  c ^= mask;
  ASSERT_EQ(::pwrite(fd, &c, 1, at), 1) << path;
  ::close(fd);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    pw_ = dir_ / "password";
    WriteFile(pw_, "correct horse battery staple\n");
    auto r = J({"init", "--chunk-size", "64"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  CommandResult J(std::vector<std::string> args) { return Jsnap(repo_, pw_, std::move(args)); }
  // Runs a create that must succeed; returns its JSON summary.
  nlohmann::json Create(std::vector<std::string> args) {
    args.insert(args.begin(), "create");
    args.push_back("--json");
    auto r = J(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << "not JSON: " << r.out << r.err;
      return {};
    }
  }
  // Restores `snapshot` into a new folder and returns the folder holding `src`.
  std::string Restore(const std::string& snapshot, const std::string& src, std::vector<std::string> extra = {}) {
    const std::string target = dir_ / ("restore-" + std::to_string(restores_++));
    std::vector<std::string> args = {"restore", snapshot, "--target", target};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = J(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return target + src;
  }
  static bool IsRoot() { return ::geteuid() == 0; }

  // Moves the repository onto a tmpfs of `size` ("24m") mounted for this
  // test, initialised with `init_args`; unmounted in TearDown. Needs root
  // (CI runs as root): call after GTEST_SKIP for others.
  void UseSmallDisk(const std::string& size, std::vector<std::string> init_args) {
    mnt_ = dir_ / "small";
    ::mkdir(mnt_.c_str(), 0755);
    ASSERT_EQ(::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, ("size=" + size).c_str()), 0) << std::strerror(errno);
    mounted_ = true;
    repo_ = mnt_ + "/repo";
    init_args.insert(init_args.begin(), "init");
    ASSERT_EQ(J(init_args).exit_code, 0);
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }

  TempDir dir_;
  std::string repo_, pw_;
  int restores_ = 0;
  std::string mnt_;  // the small disk, when UseSmallDisk mounted one
  bool mounted_ = false;
};

}  // namespace jsnap::test
