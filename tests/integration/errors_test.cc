// What users see when things go wrong: exit codes and messages.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cli_fixture.h"
#include "jsnap/file_util.h"

namespace jsnap::test {
namespace {

TEST_F(CliTest, UnreadableFileIsNamedSnapshotCompletesExit3) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  ::mkdir((src + "/locked-dir").c_str(), 0755);
  WriteFile(src + "/readable", "fine");
  WriteFile(src + "/secret", "no access");
  WriteFile(src + "/locked-dir/inner", "x");
  ::chmod((src + "/secret").c_str(), 0);
  ::chmod((src + "/locked-dir").c_str(), 0);
  std::vector<std::string> argv = {JsnapBinary(), "-r", repo_, "--password-file", pw_, "create", src};
  if (IsRoot()) {  // root reads everything: drop the capabilities that allow it
    argv.insert(argv.begin(), {"setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"});
  }
  auto r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(src + "/secret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(src + "/locked-dir"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("snapshot"), std::string::npos);
  auto dump = J({"dump", "latest", src + "/readable"});
  EXPECT_EQ(dump.out, "fine");
  EXPECT_NE(J({"dump", "latest", src + "/secret"}).exit_code, 0);
}

TEST_F(CliTest, WrongPasswordIsOneClearLineExit12) {
  WriteFile(dir_ / "wrong", "not it\n");
  auto r = Jsnap(repo_, dir_ / "wrong", {"snapshots"});
  EXPECT_EQ(r.exit_code, 12);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("wrong password"), std::string::npos);
}

TEST_F(CliTest, PasswordFromEnvironmentAndCommand) {
  auto env = RunCommand({JsnapBinary(), "-r", repo_, "snapshots"},
                 {"JSNAP_PASSWORD=correct horse battery staple"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  auto cmd = RunCommand({JsnapBinary(), "-r", repo_, "snapshots"}, {"JSNAP_PASSWORD_COMMAND=cat " + pw_});
  EXPECT_EQ(cmd.exit_code, 0) << cmd.err;
  auto none = RunCommand({JsnapBinary(), "-r", repo_, "snapshots"},
                  {"JSNAP_PASSWORD=", "JSNAP_PASSWORD_FILE=", "JSNAP_PASSWORD_COMMAND="});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("--password-file"), std::string::npos) << none.err;
}

TEST_F(CliTest, MissingRepositoryExit10) {
  auto r = Jsnap(dir_ / "no-such-repo", pw_, {"snapshots"});
  EXPECT_EQ(r.exit_code, 10);
  EXPECT_NE(r.err.find("jsnap init"), std::string::npos) << r.err;
}

TEST_F(CliTest, LockedRepositoryExit11OrWaits) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/f", "x");
  int holder = Spawn({"flock", "--exclusive", repo_ + "/locks/repo.lock", "sleep", "3"});
  ::usleep(300000);
  auto r = J({"create", src});
  EXPECT_EQ(r.exit_code, 11) << r.err;
  EXPECT_NE(r.err.find("--wait-lock"), std::string::npos) << r.err;
  auto waited = J({"create", src, "--wait-lock", "20s"});
  EXPECT_EQ(waited.exit_code, 0) << waited.err;
  EXPECT_EQ(WaitFor(holder), 0);
}

TEST_F(CliTest, KeysAddListPasswdRemove) {
  WriteFile(dir_ / "second", "second password\n");
  WriteFile(dir_ / "third", "third password\n");
  auto add = J({"key", "add", "--new-password-file", dir_ / "second"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto list = J({"key", "list", "--json"});
  auto keys = nlohmann::json::parse(list.out);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(Jsnap(repo_, dir_ / "second", {"snapshots"}).exit_code, 0);
  auto passwd = Jsnap(repo_, dir_ / "second", {"key", "passwd", "--new-password-file", dir_ / "third"});
  ASSERT_EQ(passwd.exit_code, 0) << passwd.err;
  EXPECT_EQ(Jsnap(repo_, dir_ / "second", {"snapshots"}).exit_code, 12);
  EXPECT_EQ(Jsnap(repo_, dir_ / "third", {"snapshots"}).exit_code, 0);
  std::string original_id;
  for (const auto& k : nlohmann::json::parse(J({"key", "list", "--json"}).out)) {
    if (k["current"]) original_id = k["id"];
  }
  ASSERT_FALSE(original_id.empty());
  EXPECT_NE(J({"key", "remove", original_id}).exit_code, 0);  // the key in use
  ASSERT_EQ(Jsnap(repo_, dir_ / "third", {"key", "remove", original_id.substr(0, 8)}).exit_code, 0);
  EXPECT_EQ(J({"snapshots"}).exit_code, 12);
}

// Flips one byte in the middle of every data pack.
void DamagePacks(const std::string& repo) {
  auto r = RunCommand({"sh", "-c", "find '" + repo + "/data' -type f -size +100k"});
  std::istringstream in(r.out);
  for (std::string pack; std::getline(in, pack);) {
    struct stat st;
    ASSERT_EQ(::stat(pack.c_str(), &st), 0);
    FlipByte(pack, st.st_size / 2);
  }
}

TEST_F(CliTest, FlippedByteInAPackIsNamedOnRestore) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/data.bin", RandomBytes(400000, 8));
  Create({src});
  DamagePacks(repo_);
  auto r = J({"restore", "latest", "--target", dir_ / "out"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pack "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blob "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("data.bin"), std::string::npos) << r.err;
  // Nothing half-written is left under the real name.
  EXPECT_FALSE(PathExists(dir_ / ("out" + src + "/data.bin")));
}

// The first blob of every pack damaged: in the tree pack that is the source
// folder's tree (trees are stored deepest first). The next create cannot
// compare with it, reads the folder again, and says so: exit 3, the folder
// named, and that the snapshot is complete all the same.
TEST_F(CliTest, DamagedPreviousSnapshotIsNamedAndTheCreateCompletesExit3) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/a", "alpha");
  Create({src});
  auto packs = RunCommand({"sh", "-c", "find '" + repo_ + "/data' -type f"});
  std::istringstream in(packs.out);
  for (std::string pack; std::getline(in, pack);) FlipByte(pack, 10);  // inside the first blob's nonce
  auto r = J({"create", src});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("previous snapshot's tree of " + src + " cannot be read"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("this snapshot is complete"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("jsnap check"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("missing from the snapshot"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("snapshot"), std::string::npos) << r.out;
  auto json = J({"create", "--json", src});
  EXPECT_EQ(json.exit_code, 3) << json.err;
  EXPECT_NE(json.out.find("\"parent_unreadable\":1"), std::string::npos) << json.out;
}

TEST_F(CliTest, FlippedByteInTheMiddleOfALargeFileStopsItsParallelRestore) {
  // ~100 chunks, decoded in batches several at a time: the damaged one sits
  // in the middle, with batches after it in flight when it fails.
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  const std::string content = RandomBytes(6 << 20, 9);
  WriteFile(src + "/big.bin", content);
  Create({src});
  const std::string good = Restore("latest", src);
  ASSERT_EQ(ReadFile(good + "/big.bin"), content);
  DamagePacks(repo_);
  auto r = J({"restore", "latest", "--target", dir_ / "out"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("big.bin"), std::string::npos) << r.err;
  EXPECT_FALSE(PathExists(dir_ / ("out" + src + "/big.bin")));
}

TEST_F(CliTest, DeletedIndexIsRebuiltWithTheSameListing) {
  const std::string src = dir_ / "src";
  ::mkdir(src.c_str(), 0755);
  for (int i = 0; i < 10; ++i) WriteFile(src + "/f" + std::to_string(i), RandomBytes(70000, i));
  Create({src});
  const std::string ls_before = J({"ls", "latest", "--long"}).out;
  const std::string stats_before = J({"stats", "--json"}).out;
  RemoveAll(repo_ + "/index");
  auto reader = J({"snapshots"});
  EXPECT_EQ(reader.exit_code, 1);
  EXPECT_NE(reader.err.find("repair index"), std::string::npos) << reader.err;
  auto repair = J({"repair", "index"});
  EXPECT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_EQ(J({"ls", "latest", "--long"}).out, ls_before);
  EXPECT_EQ(J({"stats", "--json"}).out, stats_before);
}

}  // namespace
}  // namespace jsnap::test
