// Live SQLite databases: consistent snapshots under concurrent writers,
// restore as valid standalone databases, clear errors, page-level dedup.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

std::string Writer() { return SQLITE_WRITER; }

class SqliteTest : public CliTest {
 protected:
  std::string db_ = dir_ / "app.db";

  // Snapshots taken while a writer commits transactions all restore to
  // databases that pass integrity_check and keep the invariants.
  void SnapshotsUnderLoadKeepInvariants(const std::string& mode) {
    ASSERT_EQ(RunCommand({Writer(), db_, mode, "init", "3000"}).exit_code, 0);
    const int writer = Spawn({Writer(), db_, mode, "run", "60"});
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) {
      ::usleep(800000);
      auto s = Create({"--sqlite", db_, "--verify-sqlite"});
      ASSERT_FALSE(s["snapshot_id"].is_null());
      ids.push_back(s["snapshot_id"]);
    }
    ::kill(writer, SIGTERM);  // mid-transaction, as a crash would
    WaitFor(writer);
    long last_seq = -1;
    for (const std::string& id : ids) {
      const std::string restored = Restore(id, db_);
      // Standalone: no -wal or -shm was restored beside it.
      EXPECT_FALSE(PathExists(restored + "-wal"));
      EXPECT_FALSE(PathExists(restored + "-shm"));
      auto v = RunCommand({Writer(), restored, "verify"});
      EXPECT_EQ(v.exit_code, 0) << "snapshot " << id << ": " << v.out << v.err;
      EXPECT_EQ(v.out.find("integrity=ok total=100000"), 0u) << v.out;
      const long seq = std::stol(v.out.substr(v.out.find("seq_max=") + 8));
      EXPECT_GT(seq, last_seq) << "the writer was running: each snapshot saw more transactions";
      last_seq = seq;
    }
  }
  static bool PathExists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
  }
};

TEST_F(SqliteTest, WalDatabaseUnderConcurrentWriter) { SnapshotsUnderLoadKeepInvariants("wal"); }
TEST_F(SqliteTest, RollbackJournalDatabaseUnderConcurrentWriter) { SnapshotsUnderLoadKeepInvariants("delete"); }

TEST_F(SqliteTest, EntryRecordsDatabaseFactsAndCheckVerifiesInPlace) {
  ASSERT_EQ(RunCommand({Writer(), db_, "wal", "init", "500"}).exit_code, 0);
  RunCommand({"sqlite3", db_, "PRAGMA user_version=42"});
  Create({"--sqlite", db_});
  auto check = J({"check", "--sqlite-integrity", "latest"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("integrity_check ok"), std::string::npos) << check.out;
  auto ls = J({"ls", "latest", db_, "--json"});
  auto entry = nlohmann::json::parse(ls.out);
  struct stat st;
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
  EXPECT_EQ(entry["size"].get<uint64_t>() % 4096, 0u);
}

TEST_F(SqliteTest, BadDatabasesAreNamedAndTheRestIsSaved) {
  const std::string src = dir_ / "files";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/notes.txt", "plain file");
  WriteFile(dir_ / "not-a-db", "this is not a database at all, just text");
  // A database locked exclusively by another process for longer than the timeout.
  const std::string locked = dir_ / "locked.db";
  ASSERT_EQ(RunCommand({Writer(), locked, "delete", "init", "10"}).exit_code, 0);
  const int holder = Spawn({Writer(), locked, "delete", "lock", "4"});
  ::usleep(500000);
  // A damaged header.
  const std::string broken = dir_ / "broken.db";
  ASSERT_EQ(RunCommand({Writer(), broken, "delete", "init", "10"}).exit_code, 0);
  {
    int fd = ::open(broken.c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, "\x03\x00", 2, 16), 2);  // page size 3: impossible
    ::close(fd);
  }
  auto r = J({"create", src, "--sqlite", dir_ / "not-a-db", "--sqlite", locked, "--sqlite", broken,
              "--sqlite-timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(dir_ / "not-a-db"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a SQLite database"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(locked + " stayed locked"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--sqlite-timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(broken), std::string::npos) << r.err;
  EXPECT_EQ(J({"dump", "latest", src + "/notes.txt"}).out, "plain file");
  EXPECT_EQ(WaitFor(holder), 0);
}

TEST_F(SqliteTest, VerifyFailsTheRunForADamagedBTree) {
  ASSERT_EQ(RunCommand({Writer(), db_, "delete", "init", "3000"}).exit_code, 0);
  // Scribble over a page in the middle: the header is fine, a b-tree is not.
  struct stat st;
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
  {
    int fd = ::open(db_.c_str(), O_WRONLY);
    const std::string junk(4096, '\x5a');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), (st.st_size / 4096 / 2) * 4096), 4096);
    ::close(fd);
  }
  auto r = J({"create", "--sqlite", db_, "--verify-sqlite"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("integrity_check"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no snapshot was saved"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 0u);
}

TEST_F(SqliteTest, RestoreRefusesAnOpenDatabaseAndRemovesStaleWal) {
  ASSERT_EQ(RunCommand({Writer(), db_, "wal", "init", "200"}).exit_code, 0);
  Create({"--sqlite", db_});
  const std::string target = dir_ / "target";
  ASSERT_EQ(J({"restore", "latest", "--target", target}).exit_code, 0);
  const std::string restored = target + db_;
  // Another process has the restored database open (a long lock).
  const int holder = Spawn({Writer(), restored, "wal", "lock", "3"});
  ::usleep(500000);
  auto refused = J({"restore", "latest", "--target", target, "--overwrite"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("open in another process"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos);
  EXPECT_EQ(WaitFor(holder), 0);
  // A stale WAL from some other database beside it must not survive.
  WriteFile(restored + "-wal", RandomBytes(50000, 1));
  ASSERT_EQ(J({"restore", "latest", "--target", target, "--overwrite"}).exit_code, 0);
  EXPECT_FALSE(PathExists(restored + "-wal"));
  auto ic = RunCommand({"sqlite3", restored, "PRAGMA integrity_check"});
  EXPECT_EQ(ic.out, "ok\n");
}

TEST_F(SqliteTest, DatabaseInsideABackedUpFolderIsImagedNotCopied) {
  const std::string svc = dir_ / "svc";
  ::mkdir(svc.c_str(), 0755);
  const std::string db = svc + "/state.db";
  ASSERT_EQ(RunCommand({Writer(), db, "wal", "init", "500"}).exit_code, 0);
  const int writer = Spawn({Writer(), db, "wal", "run", "2"});
  ::usleep(500000);
  ASSERT_TRUE(PathExists(db + "-wal"));
  Create({"--sqlite", db, svc, "--tag", "a", "--tag", "b"});  // options take one value each
  EXPECT_EQ(WaitFor(writer), 0);
  auto ls = J({"ls", "latest", svc});
  EXPECT_NE(ls.out.find(db + "\n"), std::string::npos) << ls.out;
  auto snap = nlohmann::json::parse(J({"snapshots", "--json"}).out)[0];
  EXPECT_EQ(snap["tags"], nlohmann::json::array({"a", "b"}));
  EXPECT_EQ(snap["paths"], nlohmann::json::array({svc, db}));
  EXPECT_EQ(ls.out.find("state.db-wal"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("state.db-shm"), std::string::npos) << ls.out;
  auto v = RunCommand({Writer(), Restore("latest", svc) + "/state.db", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out;
}

// Page-aligned chunks: an insert/update workload adds roughly the changed
// pages, far less than file-level content-defined chunking of the same file.
TEST_F(SqliteTest, GrowthAfterInsertsAndUpdatesIsBounded) {
  ASSERT_EQ(RunCommand({Writer(), db_, "wal", "init", "60000"}).exit_code, 0);
  RunCommand({"sqlite3", db_, "PRAGMA wal_checkpoint(TRUNCATE)"});
  struct stat st;
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
  Create({"--sqlite", db_});
  // The same database as a plain file, in a second repository, for comparison.
  const std::string plain_repo = dir_ / "plain-repo";
  ASSERT_EQ(Jsnap(plain_repo, pw_, {"init"}).exit_code, 0);
  ASSERT_EQ(Jsnap(plain_repo, pw_, {"create", db_}).exit_code, 0);

  ASSERT_EQ(RunCommand({Writer(), db_, "wal", "chat", "1000", "100"}).exit_code, 0);
  RunCommand({"sqlite3", db_, "PRAGMA wal_checkpoint(TRUNCATE)"});
  auto paged = Create({"--sqlite", db_});
  auto plain = nlohmann::json::parse(Jsnap(plain_repo, pw_, {"create", db_, "--json"}).out);
  const uint64_t paged_added = paged["bytes_added_stored"], plain_added = plain["bytes_added_stored"];
  RecordProperty("db_bytes", static_cast<int>(st.st_size));
  RecordProperty("paged_added", static_cast<int>(paged_added));
  RecordProperty("plain_added", static_cast<int>(plain_added));
  EXPECT_LT(paged_added, static_cast<uint64_t>(st.st_size) / 4) << paged.dump();
  EXPECT_LT(paged_added * 2, plain_added) << "paged " << paged_added << " vs plain " << plain_added;
}

TEST_F(CliTest, StdinIsStoredUnderItsName) {
  const std::string data = RandomBytes(3 << 20, 9);
  auto r = RunCommand({JsnapBinary(), "-r", repo_, "-p", pw_, "create", "--stdin", "--stdin-name", "dump.bin"},
                      {}, &data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(J({"dump", "latest", "/dump.bin"}).out, data);
}

// A stream deduplicates against a file of the same bytes: the same 24 MiB
// read from a file and from a command writing 1000-byte pieces into a pipe
// are cut alike, so the second create stores no data. (That buffer refills
// do not move boundaries is RepositoryTest.AFileIsCutWhereTheChunkerCutsItWhole.)
TEST_F(CliTest, AFileAndThePipedSameBytesAreCutAlike) {
  std::string data = RandomBytes(12 << 20, 11);
  data += std::string(6 << 20, 'z') + RandomBytes(6 << 20, 12);  // a forced 4 MiB cut too
  const std::string file = dir_ / "data.bin";
  WriteFile(file, data);
  auto first = Create({file});
  ASSERT_GT(first["data_blobs_added"].get<uint64_t>(), 20u);
  auto piped = RunCommand({JsnapBinary(), "-r", repo_, "-p", pw_, "--json", "create", "--stdin-from-command",
                           "--stdin-name", "copy.bin", "--", "sh", "-c",
                           "dd if='" + file + "' bs=1000 status=none"});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  auto j = nlohmann::json::parse(piped.out);
  EXPECT_EQ(j["data_blobs_added"].get<uint64_t>(), 0u) << piped.out;
  EXPECT_EQ(J({"dump", "latest", "/copy.bin"}).out, data);
}

TEST_F(CliTest, FailingCommandRecordsNoSnapshot) {
  auto r = J({"create", "--stdin-from-command", "--stdin-name", "/backups/db.sql", "--", "sh", "-c",
              "echo 'CREATE TABLE half'; exit 7"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exited with status 7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sh -c"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(J({"snapshots", "--json"}).out).size(), 0u);
  auto ok = J({"create", "--stdin-from-command", "--stdin-name", "/backups/db.sql", "--", "sh", "-c", "seq 1 1000"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(J({"dump", "latest", "/backups/db.sql"}).out, RunCommand({"seq", "1", "1000"}).out);
}

}  // namespace
}  // namespace jsnap::test

namespace jsnap::test {
namespace {

// Past 1 GiB, SQLite leaves the page holding its lock bytes unwritten; the
// image must still be complete and valid.
TEST_F(CliTest, DatabaseLargerThanOneGibIsImagedAcrossTheLockBytePage) {
  const std::string db = dir_ / "big.db";
  auto made = RunCommand({"sqlite3", db, "PRAGMA page_size=65536; CREATE TABLE t(b BLOB); "
                                         "INSERT INTO t VALUES(zeroblob(600000000)); INSERT INTO t VALUES(zeroblob(600000000)); "
                                         "INSERT INTO t VALUES('tail');"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto s = Create({"--sqlite", db, "--verify-sqlite"});
  EXPECT_GT(s["total_bytes"].get<uint64_t>(), 1200000000u);
  EXPECT_LT(s["bytes_added_stored"].get<uint64_t>(), 50u << 20);  // zero pages are one chunk
  ::unlink(db.c_str());  // make room before restoring
  const std::string restored = Restore("latest", db);
  auto q = RunCommand({"sqlite3", restored, "PRAGMA integrity_check; SELECT length(b) FROM t ORDER BY rowid;"});
  EXPECT_EQ(q.out, "ok\n600000000\n600000000\n4\n");
}

}  // namespace
}  // namespace jsnap::test

namespace jsnap::test {
namespace {

TEST_F(CliTest, UnchangedDatabaseIsNotImagedAgainButACommitIsSeen) {
  const std::string db = dir_ / "app.db";
  ASSERT_EQ(RunCommand({SQLITE_WRITER, db, "wal", "init", "300"}).exit_code, 0);
  auto first = Create({"--sqlite", db});
  EXPECT_GT(first["bytes_read"].get<uint64_t>(), 0u);
  auto same = Create({"--sqlite", db});
  EXPECT_EQ(same["bytes_read"], 0) << same.dump();
  EXPECT_EQ(same["files_unmodified"], 1);
  // One more committed row (the writer-under-load tests cover commits that
  // are still in the WAL while jsnap runs).
  auto commit = RunCommand({"sqlite3", db, "PRAGMA wal_autocheckpoint=0; INSERT INTO seq VALUES(424242);"});
  ASSERT_EQ(commit.exit_code, 0) << commit.err;
  auto after = Create({"--sqlite", db});
  EXPECT_GT(after["bytes_read"].get<uint64_t>(), 0u) << after.dump();
  const std::string restored = Restore("latest", db);
  EXPECT_EQ(RunCommand({"sqlite3", restored, "SELECT count(*) FROM seq WHERE n = 424242"}).out, "1\n");
}

}  // namespace
}  // namespace jsnap::test
