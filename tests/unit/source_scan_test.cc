// The scan that lists the sources ahead of the walk (source_scan.h): a
// create fed by it stores exactly what a create that lists for itself
// stores, whatever its bounds, and falls back to listing when the sources
// changed under it.
#include "../../src/archiver/source_scan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <chrono>
#include <future>
#include <thread>

#include "jsnap/archiver.h"
#include "jsnap/repository.h"
#include "fast_init.h"
#include "test_util.h"

namespace jsnap {
namespace {

using test::FastInit;

class SourceScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Repository::Init(repo_path_, "pw", FastInit()).ok());
    // 1 + 3 + 1 + 40 + 1 directories are listed; the symlink to a directory
    // and the excluded one are not.
    Dir("src");
    Dir("src/a");
    for (int i = 0; i < 10; ++i) test::WriteFile(dir_ / ("src/a/f" + std::to_string(i)), std::string(100 + i, 'a'));
    Dir("src/a/x");
    Dir("src/a/x/deep");
    for (int i = 0; i < 3; ++i) test::WriteFile(dir_ / ("src/a/x/g" + std::to_string(i)), "g");
    test::WriteFile(dir_ / "src/a/skipme", "excluded file");
    Dir("src/skipme");
    test::WriteFile(dir_ / "src/skipme/h", "excluded dir");
    ASSERT_EQ(::symlink("a", (dir_ / "src/b").c_str()), 0);
    ASSERT_EQ(::symlink("nowhere", (dir_ / "src/c").c_str()), 0);
    Dir("src/e");
    for (int i = 0; i < 40; ++i) {
      const std::string sub = "src/e/" + std::to_string(i);
      Dir(sub);
      test::WriteFile(dir_ / (sub + "/one"), std::to_string(i));
      test::WriteFile(dir_ / (sub + "/two"), test::RandomBytes(3000, i));
    }
    ASSERT_EQ(::mkfifo((dir_ / "src/p").c_str(), 0600), 0);
    Dir("src/z");
  }

  void Dir(const std::string& rel) { ASSERT_EQ(::mkdir((dir_ / rel).c_str(), 0755), 0) << rel; }

  ArchiveOptions Options(std::vector<std::string> paths) {
    ArchiveOptions a;
    a.paths = std::move(paths);
    a.hostname = "test";
    a.time_ns = 1;
    a.excludes.Add("skipme");
    a.warn = [this](const std::string& msg) { warnings_.push_back(msg); };
    return a;
  }

  std::unique_ptr<Repository> Open() {
    OpenOptions o;
    o.lock = LockMode::kAppend;
    o.writable = true;
    auto r = Repository::Open(repo_path_, "pw", o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // A create, fed by `scan` if given; the snapshot's root tree.
  Id Create(const ArchiveOptions& a, SourceScan* scan) {
    warnings_.clear();
    auto repo = Open();
    if (!repo) return Id();
    auto r = CreateSnapshot(*repo, a, scan);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->snapshot.tree : Id();
  }

  // The node at the absolute `path` in the tree `root`.
  std::optional<Node> NodeAt(const Id& root, const std::string& path) {
    auto repo = Open();
    Id tree_id = root;
    std::optional<Node> node;
    size_t pos = 1;
    while (repo && pos <= path.size()) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      auto tree = repo->LoadTree(tree_id);
      if (!tree.ok()) return std::nullopt;
      const Node* n = tree->Find(path.substr(pos, slash - pos));
      if (n == nullptr) return std::nullopt;
      node = *n;
      tree_id = n->subtree;
      pos = slash + 1;
    }
    return node;
  }

  std::string Content(const Node& node) {
    auto repo = Open();
    auto chunks = repo->LoadBlobs(node.content);
    EXPECT_TRUE(chunks.ok()) << chunks.status().message();
    std::string out;
    for (const std::string& c : chunks.value()) out += c;
    return out;
  }

  test::TempDir dir_;
  std::string repo_path_ = dir_ / "repo";
  const std::string src_ = dir_ / "src";
  std::vector<std::string> warnings_;
};

constexpr size_t kListedDirs = 46;

TEST_F(SourceScanTest, TheWalkTakesEveryListingAndStoresTheSameSnapshot) {
  const ArchiveOptions a = Options({src_});
  const Id listed_by_walk = Create(a, nullptr);
  auto scan = StartSourceScan(a, repo_path_);
  const Id listed_by_scan = Create(a, scan.get());
  ASSERT_TRUE(NodeAt(listed_by_scan, src_ + "/e/39/two"));
  EXPECT_EQ(NodeAt(listed_by_scan, src_), NodeAt(listed_by_walk, src_));
  EXPECT_EQ(NodeAt(listed_by_scan, src_ + "/skipme"), std::nullopt);
  ASSERT_TRUE(NodeAt(listed_by_scan, src_ + "/b"));
  EXPECT_EQ(NodeAt(listed_by_scan, src_ + "/b")->link_target, "a");
  EXPECT_EQ(scan->listings_taken(), kListedDirs);
  EXPECT_FALSE(scan->diverged());
}

TEST_F(SourceScanTest, AScanBoundedToAFewListingsStoresTheSameSnapshot) {
  const ArchiveOptions a = Options({src_});
  const Id listed_by_walk = Create(a, nullptr);
  // Full after 2 listings or 5 entries: the scan waits for the walk all along.
  SourceScan scan(a, repo_path_, SourceScan::Limits{2, 5});
  const Id listed_by_scan = Create(a, &scan);
  EXPECT_EQ(NodeAt(listed_by_scan, src_), NodeAt(listed_by_walk, src_));
  EXPECT_EQ(scan.listings_taken(), kListedDirs);
  EXPECT_FALSE(scan.diverged());
}

TEST_F(SourceScanTest, ARootThatChangedAfterTheScanMakesTheWalkListForItself) {
  const ArchiveOptions a = Options({src_ + "/a", src_ + "/e"});
  auto scan = StartSourceScan(a, repo_path_);
  scan->WaitUntilIdle();
  // The first root, listed as a directory, is a file by the time the walk
  // comes: the walk's next listing (the second root) is not the scan's next.
  ASSERT_EQ(::rename((src_ + "/a").c_str(), (src_ + "/a.old").c_str()), 0);
  test::WriteFile(src_ + "/a", "a file now");
  const Id root = Create(a, scan.get());
  EXPECT_TRUE(scan->diverged());
  ASSERT_TRUE(NodeAt(root, src_ + "/a"));
  EXPECT_EQ(NodeAt(root, src_ + "/a")->type, NodeType::kFile);
  const Id without_scan = Create(a, nullptr);
  EXPECT_EQ(NodeAt(root, src_ + "/e"), NodeAt(without_scan, src_ + "/e"));
  ASSERT_TRUE(NodeAt(root, src_ + "/e/39/two"));
}

TEST_F(SourceScanTest, AFileReplacedByAFifoAfterItsListingIsLeftOutWithoutBlocking) {
  const ArchiveOptions a = Options({src_});
  auto scan = StartSourceScan(a, repo_path_);
  scan->WaitUntilIdle();
  const std::string victim = src_ + "/a/f3";
  ASSERT_EQ(::unlink(victim.c_str()), 0);
  ASSERT_EQ(::mkfifo(victim.c_str(), 0600), 0);
  auto create = std::async(std::launch::async, [&] { return Create(a, scan.get()); });
  if (create.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    // Unblock an open that waits for a writer, then fail.
    const int fd = ::open(victim.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "the create blocked on a FIFO";
  }
  const Id root = create.get();
  EXPECT_EQ(NodeAt(root, victim), std::nullopt);
  ASSERT_TRUE(NodeAt(root, src_ + "/a/f4"));
  bool warned = false;
  for (const std::string& w : warnings_) warned |= w.find(victim + ": no longer a regular file") != std::string::npos;
  EXPECT_TRUE(warned);
}

// The lease holder (this process) is told to give its lease back.
std::atomic<bool> lease_broken{false};
void NoteLeaseBreak(int) { lease_broken = true; }

TEST_F(SourceScanTest, AFileUnderAWriteLeaseIsReadOnceTheLeaseIsGivenBack) {
  // The walk opens files without waiting, and a write lease (Samba, NFS)
  // fails such an open at once: the worker must open it again, waiting.
  const std::string path = src_ + "/a/f5";
  const std::string content = test::RandomBytes(70000, 5);
  test::WriteFile(path, content);
  const int lease_fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(lease_fd, 0);
  struct sigaction note {}, before {};
  note.sa_handler = NoteLeaseBreak;
  ASSERT_EQ(::sigaction(SIGIO, &note, &before), 0);
  if (::fcntl(lease_fd, F_SETLEASE, F_WRLCK) != 0) {
    const int err = errno;
    ::sigaction(SIGIO, &before, nullptr);
    ::close(lease_fd);
    GTEST_SKIP() << "no write lease on this file system: " << std::strerror(err);
  }
  // Given back a while after it was asked for, as a client flushing its
  // writes would: a second open that does not wait would fail meanwhile.
  lease_broken = false;
  std::thread holder([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!lease_broken && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::fcntl(lease_fd, F_SETLEASE, F_UNLCK);
  });
  const Id root = Create(Options({src_}), nullptr);
  holder.join();
  ::sigaction(SIGIO, &before, nullptr);
  ::close(lease_fd);
  EXPECT_TRUE(lease_broken) << "the create never asked for the lease";
  const std::optional<Node> node = NodeAt(root, path);
  ASSERT_TRUE(node) << "left out: " << (warnings_.empty() ? "" : warnings_[0]);
  EXPECT_EQ(Content(*node), content);
  EXPECT_TRUE(warnings_.empty()) << warnings_[0];
}

TEST_F(SourceScanTest, AFileRewrittenAfterItsListingIsStoredWithTheMetadataOfWhatWasRead) {
  const ArchiveOptions a = Options({src_});
  auto scan = StartSourceScan(a, repo_path_);
  scan->WaitUntilIdle();
  const std::string path = src_ + "/a/f1";
  const std::string now = test::RandomBytes(50000, 7);
  test::WriteFile(path, now);
  struct timespec times[2] = {{1700000000, 5}, {1700000000, 5}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  const Id root = Create(a, scan.get());
  const std::optional<Node> node = NodeAt(root, path);
  ASSERT_TRUE(node);
  EXPECT_EQ(node->size, now.size());
  EXPECT_EQ(node->mtime_ns, 1700000000LL * 1000000000 + 5);
  EXPECT_EQ(Content(*node), now);
  EXPECT_FALSE(scan->diverged());
}

TEST_F(SourceScanTest, TheRepositoryNestedRootsAndALiveDatabaseAreSkippedAlike) {
  // The repository inside the source (stored as an empty directory), a root
  // inside another, and a database imaged through SQLite whose -wal and
  // -shm are left out.
  repo_path_ = src_ + "/a/x/inner-repo";
  ASSERT_TRUE(Repository::Init(repo_path_, "pw", FastInit()).ok());
  const std::string db = src_ + "/e/7/chat.db";
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(conn, "PRAGMA journal_mode=WAL; CREATE TABLE m(x); INSERT INTO m VALUES (1), (2);",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_TRUE(test::ReadFile(db + "-wal").size() > 0);  // kept while the connection is open
  ArchiveOptions a = Options({src_, src_ + "/a/x", src_ + "/e"});
  a.sqlite_paths = {db};
  Create(a, nullptr);  // the repository's own files settle (its directory is stored)
  const Id listed_by_walk = Create(a, nullptr);
  auto scan = StartSourceScan(a, repo_path_);
  const Id listed_by_scan = Create(a, scan.get());
  sqlite3_close(conn);
  EXPECT_EQ(NodeAt(listed_by_scan, src_), NodeAt(listed_by_walk, src_));
  EXPECT_FALSE(scan->diverged());
  EXPECT_EQ(scan->listings_taken(), kListedDirs);  // inner-repo is not listed
  ASSERT_TRUE(NodeAt(listed_by_scan, db));
  EXPECT_TRUE(NodeAt(listed_by_scan, db)->sqlite.has_value());
  EXPECT_EQ(NodeAt(listed_by_scan, db + "-wal"), std::nullopt);
  EXPECT_EQ(NodeAt(listed_by_scan, db + "-shm"), std::nullopt);
  ASSERT_TRUE(NodeAt(listed_by_scan, repo_path_));
  EXPECT_EQ(NodeAt(listed_by_scan, repo_path_ + "/config"), std::nullopt);
}

TEST_F(SourceScanTest, ARootReplacedByAnotherDirectoryIsListedAgain) {
  const ArchiveOptions a = Options({src_ + "/a", src_ + "/e"});
  auto scan = StartSourceScan(a, repo_path_);
  scan->WaitUntilIdle();
  // Same path, another directory: the scan's listing (and its descriptor)
  // are of the old one.
  ASSERT_EQ(::rename((src_ + "/a").c_str(), (src_ + "/a.old").c_str()), 0);
  Dir("src/a");
  test::WriteFile(src_ + "/a/new", "in the new directory");
  const Id root = Create(a, scan.get());
  ASSERT_TRUE(NodeAt(root, src_ + "/a/new"));
  EXPECT_EQ(NodeAt(root, src_ + "/a/f0"), std::nullopt);
  EXPECT_EQ(NodeAt(root, src_ + "/a/x"), std::nullopt);
  ASSERT_TRUE(NodeAt(root, src_ + "/e/39/two"));
}

TEST_F(SourceScanTest, AScanStartedLongBeforeTheWalkIsNotUsed) {
  const ArchiveOptions a = Options({src_});
  auto scan = StartSourceScan(a, repo_path_);
  scan->WaitUntilIdle();
  // A password typed slowly: the tree moved on meanwhile. From listings
  // that old, the deleted file would be reported unreadable.
  std::this_thread::sleep_for(std::chrono::milliseconds(5500));
  ASSERT_EQ(::unlink((src_ + "/a/f2").c_str()), 0);
  const Id root = Create(a, scan.get());
  EXPECT_EQ(NodeAt(root, src_ + "/a/f2"), std::nullopt);
  EXPECT_EQ(warnings_, std::vector<std::string>{});
  EXPECT_EQ(scan->listings_taken(), 0u);
  ASSERT_TRUE(NodeAt(root, src_ + "/e/39/two"));
}

TEST_F(SourceScanTest, TheRootItselfIsASourceWithAndWithoutTheScan) {
  // `/`, pruned by excludes to the way to this test's folder (`/*` then
  // `!` each folder on the way): the root tree is the listing of `/`.
  ArchiveOptions a = Options({"/"});
  a.excludes.Add("/*");
  size_t pos = 1;
  while (pos < dir_.path().size()) {
    size_t slash = dir_.path().find('/', pos);
    if (slash == std::string::npos) slash = dir_.path().size();
    const std::string way = dir_.path().substr(0, slash);
    a.excludes.Add("!" + way);
    if (slash < dir_.path().size()) a.excludes.Add(way + "/*");
    pos = slash + 1;
  }
  a.excludes.Add(repo_path_);
  const Id listed_by_walk = Create(a, nullptr);
  ASSERT_TRUE(NodeAt(listed_by_walk, src_ + "/e/39/two"));
  auto scan = StartSourceScan(a, repo_path_);
  const Id listed_by_scan = Create(a, scan.get());
  EXPECT_EQ(NodeAt(listed_by_scan, src_), NodeAt(listed_by_walk, src_));
  EXPECT_FALSE(scan->diverged());
  // `/` and the folders on the way to src are listed too.
  EXPECT_EQ(scan->listings_taken(),
            kListedDirs + 1 + static_cast<size_t>(std::count(dir_.path().begin(), dir_.path().end(), '/')));
  auto repo = Open();
  auto top = repo->LoadTree(listed_by_scan);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->nodes.size(), 1u);  // only the first folder on the way
}

TEST(SourceTreeTest, AStreamThatWouldHideOrBeHiddenByAnotherSourceIsRefused) {
  auto check = [](std::vector<std::string> paths, std::vector<std::string> streams,
                  std::vector<std::string> databases = {}) {
    ArchiveOptions a;
    a.paths = std::move(paths);
    for (const std::string& n : streams) a.streams.push_back(StreamSource{n, nullptr, nullptr});
    a.sqlite_paths = std::move(databases);
    return CheckSources(a);
  };
  EXPECT_TRUE(check({"/srv/data"}, {"/backups/db.sql"}).ok());
  EXPECT_TRUE(check({"/srv/data"}, {"db.sql"}, {"/srv/data/app.db", "/var/app.db"}).ok());
  const Status inside = check({"/srv/data"}, {"/srv/data/db.sql"});
  EXPECT_EQ(inside.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(inside.message().find("/srv/data/db.sql is inside a path that is backed up"), std::string::npos)
      << inside.message();
  EXPECT_FALSE(check({"/srv/data"}, {"/srv/data"}).ok());
  EXPECT_FALSE(check({"/"}, {"db.sql"}).ok());
  EXPECT_NE(check({"/srv/data"}, {"/srv"}).message().find("folder on the way"), std::string::npos);
  EXPECT_NE(check({}, {"db.sql", "/db.sql"}).message().find("another stream"), std::string::npos);
  EXPECT_FALSE(check({}, {"/x"}, {"/x/app.db"}).ok());
  EXPECT_FALSE(check({}, {"/x"}, {"/x"}).ok());
}

}  // namespace
}  // namespace jsnap
