#include "jsnap/repository.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "jsnap/archiver.h"
#include "jsnap/checker.h"
#include "jsnap/file_util.h"
#include "jsnap/index.h"
#include "jsnap/prune.h"
#include "jsnap/restorer.h"
#include "../../src/repository/pack_directory.h"
#include "fast_init.h"
#include "test_util.h"

namespace jsnap {
namespace {

using test::FastInit;

std::unique_ptr<Repository> OpenOrDie(const std::string& path, LockMode lock = LockMode::kExclusive) {
  OpenOptions o;
  o.lock = lock;
  o.writable = lock == LockMode::kExclusive;
  auto r = Repository::Open(path, "pw", o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_path_ = dir_ / "repo";
    ASSERT_TRUE(Repository::Init(repo_path_, "pw", FastInit()).ok());
  }
  // A snapshot of a small generated tree; returns its id.
  Id Backup(Repository& repo, const std::string& src) {
    ArchiveOptions a;
    a.paths = {src};
    a.hostname = "test";
    a.time_ns = 1;
    auto r = CreateSnapshot(repo, a);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->snapshot_id : Id();
  }
  // A pack's file in the repository.
  std::string PackPath(const Id& pack) const {
    return repo_path_ + "/data/" + pack.Hex().substr(0, 2) + "/" + pack.Hex();
  }
  // Flips the bits `mask` of the byte at `offset` of a pack's file (stored
  // read-only, so made writable first).
  void FlipBits(const Id& pack, uint64_t offset, char mask) {
    const std::string path = PackPath(pack);
    ::chmod(path.c_str(), 0600);
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
    c ^= mask;
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }
  test::TempDir dir_;
  std::string repo_path_;
};

TEST_F(RepositoryTest, WrongPasswordAndMissingRepositoryHaveTheirOwnCodes) {
  OpenOptions o;
  auto r = Repository::Open(repo_path_, "not the password", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kWrongPassword);
  auto missing = Repository::Open(dir_ / "nothing-here", "pw", o);
  EXPECT_EQ(missing.status().code(), Status::Code::kNoRepository);
  EXPECT_EQ(Repository::Init(repo_path_, "pw", FastInit()).code(), Status::Code::kAlreadyExists);
}

TEST_F(RepositoryTest, OlderFormatVersionIsRefusedWithWhatToDo) {
  const std::string config_path = repo_path_ + "/config";
  std::string config = test::ReadFile(config_path);
  const size_t at = config.find("\"version\": 3");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 12, "\"version\": 1");
  test::WriteFile(config_path, config);
  auto r = Repository::Open(repo_path_, "pw", OpenOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("format version 1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("new repository"), std::string::npos) << r.status().message();
}

TEST_F(RepositoryTest, BlobsAreStoredOnceAndReadBack) {
  auto repo = OpenOrDie(repo_path_);
  const std::string data = test::RandomBytes(300000, 7);
  Id id1, id2;
  bool added1 = false, added2 = true;
  ASSERT_TRUE(repo->SaveBlob(BlobType::kData, data, &id1, &added1).ok());
  ASSERT_TRUE(repo->SaveBlob(BlobType::kData, data, &id2, &added2).ok());
  EXPECT_EQ(id1, id2);
  EXPECT_TRUE(added1);
  EXPECT_FALSE(added2);
  ASSERT_TRUE(repo->Flush().ok());
  EXPECT_EQ(repo->LoadBlob(id1).value(), data);
  repo.reset();
  auto again = OpenOrDie(repo_path_);
  EXPECT_TRUE(again->HasBlob(id1).value());
  EXPECT_EQ(again->LoadBlob(id1).value(), data);
}

TEST_F(RepositoryTest, KeysAddListRemove) {
  auto repo = OpenOrDie(repo_path_);
  KdfParams fast = KdfParams::Default();
  fast.opslimit = 1;
  fast.memlimit = 8192;
  auto id = repo->AddKey("second", fast);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(repo->ListKeys()->size(), 2u);
  EXPECT_FALSE(repo->RemoveKey(repo->current_key_id()).ok());  // never the key in use
  repo.reset();
  OpenOptions o;
  auto second = Repository::Open(repo_path_, "second", o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value()->current_key_id(), id.value());
  second.value().reset();
  auto r = OpenOrDie(repo_path_);
  ASSERT_TRUE(r->RemoveKey(id->substr(0, 10)).ok());
  r.reset();
  EXPECT_EQ(Repository::Open(repo_path_, "second", o).status().code(), Status::Code::kWrongPassword);
}

// Everything the index answers, in a comparable form.
std::map<std::string, std::string> IndexContents(Index& index) {
  std::map<std::string, std::string> out;
  EXPECT_TRUE(index.ForEachBlob([&](const Id& id, const BlobLocation& l) {
    out["b" + id.Hex()] = l.pack.Hex() + ":" + std::to_string(l.offset) + ":" +
                          std::to_string(l.length) + ":" + std::to_string(l.raw_length) + ":" +
                          BlobTypeName(l.type);
  }).ok());
  EXPECT_TRUE(index.ForEachPack([&](const PackInfo& p) {
    std::string& v = out["p" + p.id.Hex()];
    v = std::to_string(p.size) + "/" + std::to_string(p.header_entries);
    for (const PackEntry& e : p.entries) v += " " + e.id.Hex() + "@" + std::to_string(e.offset);
  }).ok());
  EXPECT_TRUE(index.ForEachSnapshot([&](const Id& id, const std::string& r) { out["s" + id.Hex()] = r; }).ok());
  return out;
}

TEST(IndexTest, BlobsNamePacksByNumberAndCopiesAreListedOnce) {
  test::TempDir dir;
  const KeyBytes key = MasterKey::Generate().index;
  auto pack = [](uint8_t first, std::vector<uint8_t> blobs) {
    PackInfo p;
    p.id.bytes[0] = first;
    uint32_t offset = 0;
    for (uint8_t b : blobs) {
      PackEntry e;
      e.id.bytes[0] = b;
      e.offset = offset;
      e.length = 100 + b;
      e.raw_length = 200 + b;
      offset += e.length;
      p.entries.push_back(e);
    }
    p.size = offset + kPackTrailerSize + kSealOverhead + kPackEntrySize * blobs.size();
    return p;
  };
  const PackInfo a = pack(1, {10, 11}), b = pack(2, {11, 12});  // 11 is in both
  auto listing = [](Index& index) {
    std::map<int, std::vector<int>> out;
    // pack -> {entries in its header, the blobs listed at it...}
    EXPECT_TRUE(index.ForEachPack([&](const PackInfo& p) {
      out[p.id.bytes[0]].push_back(static_cast<int>(p.header_entries));
      for (const PackEntry& e : p.entries) out[p.id.bytes[0]].push_back(e.id.bytes[0]);
    }).ok());
    return out;
  };
  {
    auto index = Index::Open(dir / "index", key, false).value();
    ASSERT_TRUE(index->AddPack(b).ok());  // the larger id first: the copy in `a` still wins
    ASSERT_TRUE(index->AddPack(a).ok());
    EXPECT_EQ(index->Find(b.entries[0].id).value()->pack, a.id);
    const BlobLocation z = index->Find(b.entries[1].id).value().value();
    EXPECT_EQ(z.pack, b.id);
    EXPECT_EQ(z.offset, b.entries[1].offset);
    EXPECT_EQ(z.length, b.entries[1].length);
    EXPECT_EQ(z.raw_length, b.entries[1].raw_length);
    EXPECT_EQ(listing(*index), (std::map<int, std::vector<int>>{{1, {2, 10, 11}}, {2, {2, 12}}}));
  }
  // Reopened: numbers resolve, and a new pack gets a fresh number.
  auto index = Index::Open(dir / "index", key, false).value();
  EXPECT_EQ(index->Find(a.entries[0].id).value()->pack, a.id);
  ASSERT_TRUE(index->AddPack(pack(3, {13})).ok());
  EXPECT_EQ(index->Find(pack(3, {13}).entries[0].id).value()->pack, pack(3, {13}).id);
  EXPECT_EQ(index->Find(b.entries[1].id).value()->pack, b.id);
  // Removing `a` drops its entries (11 is not re-pointed to `b`, spec 16).
  ASSERT_TRUE(index->ReplacePacks({a.id}, {}).ok());
  EXPECT_FALSE(index->Find(a.entries[0].id).value().has_value());
  EXPECT_FALSE(index->Find(a.entries[1].id).value().has_value());
  EXPECT_EQ(listing(*index), (std::map<int, std::vector<int>>{{2, {2, 12}}, {3, {1, 13}}}));
}

// Each writer's flush leaves a table; tables of one snapshot record each
// overlap nothing and used to pile up (moved down a level whole), every one
// opened by every command. They are merged once they outnumber their bytes.
TEST(IndexTest, SmallTablesOfManySessionsAreMerged) {
  test::TempDir dir;
  const KeyBytes key = MasterKey::Generate().index;
  auto tables = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir / "index")) n += e.path().extension() == ".sst";
    return n;
  };
  std::set<Id> written;
  size_t most = 0;
  for (int session = 0; session < 60; ++session) {
    auto index = Index::Open(dir / "index", key, false).value();
    Id id;
    id.bytes[0] = static_cast<uint8_t>(session);
    id.bytes[1] = 0x5a;
    ASSERT_TRUE(index->PutSnapshot(id, "record " + std::to_string(session)).ok());
    written.insert(id);
    index->MergeSmallTables();  // as a repository does before it closes
    index.reset();
    most = std::max(most, tables());
  }
  // Without the merge: one table per session (60).
  EXPECT_LE(most, 17u);
  auto index = Index::Open(dir / "index", key, true).value();
  std::set<Id> listed;
  ASSERT_TRUE(index->ForEachSnapshot([&](const Id& id, const std::string& r) {
    EXPECT_EQ(r, "record " + std::to_string(id.bytes[0]));
    listed.insert(id);
  }).ok());
  EXPECT_EQ(listed, written);
}

TEST_F(RepositoryTest, RebuiltIndexGivesTheSameAnswers) {
  test::TempDir src;
  for (int i = 0; i < 20; ++i) test::WriteFile(src / ("f" + std::to_string(i)), test::RandomBytes(50000 * i, i));
  auto repo = OpenOrDie(repo_path_);
  Backup(*repo, src.path());
  test::WriteFile(src / "f3", "changed");
  Backup(*repo, src.path());
  const auto before = IndexContents(repo->index());
  EXPECT_GT(before.size(), 20u);
  ASSERT_TRUE(repo->RebuildIndex().ok());
  EXPECT_EQ(IndexContents(repo->index()), before);
  // Deleting the index directory outright: the next writer rebuilds it.
  repo.reset();
  test::RemoveAll(repo_path_ + "/index");
  auto reopened = OpenOrDie(repo_path_);
  EXPECT_EQ(IndexContents(reopened->index()), before);
}

TEST_F(RepositoryTest, IndexOfAnotherLayoutIsNamedToReadersAndRebuiltByWriters) {
  test::TempDir src;
  for (int i = 0; i < 5; ++i) test::WriteFile(src / ("f" + std::to_string(i)), test::RandomBytes(70000, i));
  std::map<std::string, std::string> before;
  {
    auto repo = OpenOrDie(repo_path_);
    Backup(*repo, src.path());
    before = IndexContents(repo->index());
  }
  // What an earlier build (RocksDB's CTR provider: a 4096-byte prefix of
  // counter and IV, then the encrypted content) left in CURRENT.
  const std::string old = test::RandomBytes(4096 + 16, 9);
  test::WriteFile(repo_path_ + "/index/CURRENT", old);
  OpenOptions reader;
  auto r = Repository::Open(repo_path_, "pw", reader);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().message();
  EXPECT_NE(r.status().message().find("another jsnap version"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("jsnap repair index"), std::string::npos) << r.status().message();
  auto writer = OpenOrDie(repo_path_);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(IndexContents(writer->index()), before);
}

// LoadBlobs reads runs of adjacent blobs in one request: every blob must
// still come back whole and checked, across pack boundaries, repeats and
// out-of-order ids, and a damaged blob inside a run must be named.
TEST_F(RepositoryTest, LoadBlobsReadsRunsAndChecksEveryBlob) {
  auto repo = OpenOrDie(repo_path_);
  std::vector<std::string> blobs;
  std::vector<Id> ids;
  for (int i = 0; i < 60; ++i) {  // ~1.8 MB: more than one 1 MiB pack
    blobs.push_back(test::RandomBytes(20000 + 500 * i, 100 + i));
    Id id;
    bool added = false;
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, blobs.back(), &id, &added).ok());
    ids.push_back(id);
  }
  ASSERT_TRUE(repo->Flush().ok());
  std::vector<Id> wanted = ids;
  std::vector<std::string> expected = blobs;
  for (int i : {3, 3, 59, 0, 17}) {  // repeats and jumps after the in-order run
    wanted.push_back(ids[i]);
    expected.push_back(blobs[i]);
  }
  std::set<Id> packs;
  for (const Id& id : ids) packs.insert(repo->index().Find(id).value()->pack);
  ASSERT_GE(packs.size(), 2u);
  auto got = repo->LoadBlobs(wanted);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got.value(), expected);

  // Blob 30, in the middle of a run, flipped: the error names it and its pack.
  const BlobLocation loc = repo->index().Find(ids[30]).value().value();
  FlipBits(loc.pack, loc.offset + 50, 0x01);
  auto bad = repo->LoadBlobs(ids);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption());
  EXPECT_NE(bad.status().message().find(ids[30].Hex()), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find(loc.pack.Hex()), std::string::npos) << bad.status().message();
  // The blobs before it still load one by one.
  EXPECT_EQ(repo->LoadBlobs(std::span<const Id>(ids).first(30)).value(),
            std::vector<std::string>(blobs.begin(), blobs.begin() + 30));
  // Every other blob around it: runs read across the gaps (where a
  // parallel create put another worker's chunks), and the damaged blob in
  // a gap, read but not asked for, hurts nothing.
  std::vector<Id> alternate;
  std::vector<std::string> alternate_blobs;
  for (int i = 1; i < 60; i += 2) {
    alternate.push_back(ids[i]);
    alternate_blobs.push_back(blobs[i]);
  }
  auto skipping = repo->LoadBlobs(alternate);
  ASSERT_TRUE(skipping.ok()) << skipping.status().message();
  EXPECT_EQ(skipping.value(), alternate_blobs);
}

TEST_F(RepositoryTest, FlippedByteInAPackIsReportedWithPackAndBlob) {
  auto repo = OpenOrDie(repo_path_);
  const std::string data = test::RandomBytes(100000, 9);
  Id id;
  bool added;
  ASSERT_TRUE(repo->SaveBlob(BlobType::kData, data, &id, &added).ok());
  ASSERT_TRUE(repo->Flush().ok());
  auto loc = repo->index().Find(id).value().value();
  const std::string pack_path = PackPath(loc.pack);
  FlipBits(loc.pack, loc.offset + 100, 0x20);
  auto r = repo->LoadBlob(id);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find(loc.pack.Hex()), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(id.Hex()), std::string::npos);
  // A truncated pack: reading the blob names the pack too.
  ASSERT_EQ(::truncate(pack_path.c_str(), loc.offset + 10), 0);
  auto t = repo->LoadBlob(id);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(loc.pack.Hex()), std::string::npos) << t.status().message();
}

// check --read-data reads a pack in windows of up to 2 MiB, decodes blobs
// one by one and re-hashes them in pairs: each verdict must land on its own
// blob, and no blob may be skipped. Blobs of 600 kB make windows {0, 1, 2}
// and {3, 4}, so pairs (0, 1), (2) and (3, 4). Blob 0 fails to decrypt, so
// its pair's only re-hash is blob 1's; blobs 1 and 3 were stored under
// another content's id, as a faulty writer would.
TEST_F(RepositoryTest, ReadDataNamesEachBlobThatDoesNotHashToItsIdAndNoOther) {
  repo_path_ = dir_ / "one-pack";  // packs of the default size: one holds all five
  InitOptions init = FastInit();
  init.pack_size = InitOptions().pack_size;
  ASSERT_TRUE(Repository::Init(repo_path_, "pw", init).ok());
  auto repo = OpenOrDie(repo_path_);
  std::vector<std::string> data;
  std::vector<Id> ids;
  for (int k = 0; k < 5; ++k) {
    data.push_back(test::RandomBytes(600000 + 1000 * k, 100 + k));
    const bool wrong = k == 1 || k == 3;
    ids.push_back(wrong ? repo->BlobId("another content " + std::to_string(k)) : repo->BlobId(data[k]));
    bool added = false;
    ASSERT_TRUE(repo->SaveBlobWithId(BlobType::kData, ids[k], data[k], &added).ok());
    ASSERT_TRUE(added);
  }
  ASSERT_TRUE(repo->Flush().ok());
  const auto first = repo->index().Find(ids[0]).value().value();
  for (const Id& id : ids) {
    ASSERT_EQ(repo->index().Find(id).value().value().pack, first.pack) << "the blobs must share a pack";
  }
  FlipBits(first.pack, first.offset + 50, 0x01);

  CheckOptions opts;
  opts.read_data = true;
  auto report = CheckRepository(*repo, opts);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->bad_blobs, (std::set<Id>{ids[0], ids[1], ids[3]}));
  // Nothing refers to these blobs: their damage is reported as warnings.
  auto warned = [&](const Id& id, const std::string& what) {
    for (const std::string& w : report->warnings) {
      if (w.find(id.Hex()) != std::string::npos && w.find(what) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(warned(ids[0], "authentication failed"));
  EXPECT_TRUE(warned(ids[1], "does not hash to its id"));
  EXPECT_TRUE(warned(ids[3], "does not hash to its id"));
  EXPECT_FALSE(warned(ids[0], "does not hash to its id"));
}

// A create cuts a file where the chunker cuts the whole file held in
// memory: reading in buffers (and moving what is left of one to the front
// of the next) must not move a boundary, or unchanged data would stop
// deduplicating against itself.
TEST_F(RepositoryTest, AFileIsCutWhereTheChunkerCutsItWhole) {
  test::TempDir src;
  // Random runs with a long run of one byte between them: content cuts and
  // forced cuts at the maximal chunk size (256 KiB here) both occur.
  std::string data = test::RandomBytes(3 << 20, 31) + std::string(1 << 20, 'z') + test::RandomBytes(2 << 20, 32);
  test::WriteFile(src / "f", data);
  auto repo = OpenOrDie(repo_path_);
  const Id snap_id = Backup(*repo, src.path());
  auto snap = repo->FindSnapshot(snap_id.Hex());
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  Id tree = snap->snapshot.tree;
  const Node* node = nullptr;
  Tree t;
  std::string path = src / "f";
  for (size_t pos = 1; pos <= path.size();) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    auto loaded = repo->LoadTree(tree);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    t = std::move(loaded).value();
    node = t.Find(path.substr(pos, slash - pos));
    ASSERT_NE(node, nullptr) << path.substr(0, slash);
    tree = node->subtree;
    pos = slash + 1;
  }
  std::vector<Id> whole;
  for (size_t pos = 0; pos < data.size();) {
    const size_t n = repo->chunker().FindCut(reinterpret_cast<const uint8_t*>(data.data() + pos), data.size() - pos, true);
    ASSERT_GT(n, 0u);
    whole.push_back(repo->BlobId(std::string_view(data).substr(pos, n)));
    pos += n;
  }
  EXPECT_GT(whole.size(), 20u);
  EXPECT_EQ(node->content, whole);
}

// A restore looks blobs up in the headers of the packs it reads: a few
// packs held, evicted and read again as the reads move back and forth, and
// a pack whose header is damaged (but whose blobs are not) found through
// the index instead. Every blob still comes back as itself.
TEST_F(RepositoryTest, PackDirectoryAnswersFromHeadersEvictsAndFallsBackToTheIndex) {
  auto repo = OpenOrDie(repo_path_);
  std::vector<std::string> blobs;
  std::vector<Id> ids;
  for (int i = 0; i < 80; ++i) {  // ~4 MB: four or more 1 MiB packs
    blobs.push_back(test::RandomBytes(50000, 200 + i));
    Id id;
    bool added;
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, blobs.back(), &id, &added).ok());
    ids.push_back(id);
  }
  ASSERT_TRUE(repo->Flush().ok());
  std::set<Id> packs;
  for (const Id& id : ids) packs.insert(repo->index().Find(id).value()->pack);
  ASSERT_GE(packs.size(), 4u);
  auto expect_all = [&](Repository& r) {
    std::vector<Id> order = ids;
    order.insert(order.end(), ids.rbegin(), ids.rend());  // every pack learnt, evicted, learnt again
    std::vector<std::string> want = blobs;
    want.insert(want.end(), blobs.rbegin(), blobs.rend());
    for (size_t i = 0; i < order.size(); i += 7) {
      const size_t n = std::min<size_t>(7, order.size() - i);
      auto got = r.LoadBlobs(std::span<const Id>(order).subspan(i, n));
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_TRUE(std::equal(got->begin(), got->end(), want.begin() + i)) << "blobs " << i << "..";
    }
  };
  repo->UsePackDirectory(40);  // two packs' worth of blobs: packs are evicted
  expect_all(*repo);
  // One pack's sealed header damaged: its blobs are located through the index.
  const Id damaged = *packs.begin();
  struct stat st;
  ASSERT_EQ(::stat(PackPath(damaged).c_str(), &st), 0);
  FlipBits(damaged, static_cast<uint64_t>(st.st_size) - kPackTrailerSize - 5, 0x01);
  repo.reset();
  repo = OpenOrDie(repo_path_);
  repo->UsePackDirectory(40);
  expect_all(*repo);
}

// The directory itself: where each held blob is (type, offset, lengths, the
// pack), nothing for a blob it does not hold, and the oldest packs evicted
// first, down to the newest alone when that one is over the bound.
TEST(PackDirectoryTest, FindsEveryHeldBlobWhereItsHeaderPutsItAndEvictsOldestFirst) {
  auto id_of = [](int n) { return PlainHash("blob " + std::to_string(n)); };
  auto pack_of = [](int n) { return PlainHash("pack " + std::to_string(n)); };
  auto entries = [&](int first, int count) {
    std::vector<PackEntry> out;
    uint32_t offset = 0;
    for (int n = first; n < first + count; ++n) {
      PackEntry e;
      e.type = n % 3 == 0 ? BlobType::kTree : BlobType::kData;
      e.id = id_of(n);
      e.offset = offset;
      e.length = 100 + n;
      e.raw_length = 1000 + n;
      offset += e.length;
      out.push_back(e);
    }
    return out;
  };
  auto expect_held = [&](PackDirectory& d, int pack, int first, int count) {
    for (const PackEntry& e : entries(first, count)) {
      auto loc = d.Find(e.id);
      ASSERT_TRUE(loc.has_value()) << "blob of pack " << pack;
      EXPECT_EQ(loc->pack, pack_of(pack));
      EXPECT_EQ(loc->type, e.type);
      EXPECT_EQ(loc->offset, e.offset);
      EXPECT_EQ(loc->length, e.length);
      EXPECT_EQ(loc->raw_length, e.raw_length);
    }
  };
  PackDirectory d(250);
  EXPECT_TRUE(d.Wants(pack_of(1)));
  d.Add(pack_of(1), entries(0, 100));
  d.Add(pack_of(2), entries(100, 100));
  EXPECT_FALSE(d.Wants(pack_of(1)));
  expect_held(d, 2, 100, 100);
  expect_held(d, 1, 0, 100);  // a pack searched after another was hit
  EXPECT_FALSE(d.Find(id_of(200)).has_value());
  d.Add(pack_of(3), entries(200, 100));  // 300 > 250: pack 1, the oldest, goes
  EXPECT_FALSE(d.Find(id_of(0)).has_value());
  EXPECT_FALSE(d.Find(id_of(99)).has_value());
  EXPECT_TRUE(d.Wants(pack_of(1)));
  expect_held(d, 2, 100, 100);
  expect_held(d, 3, 200, 100);
  d.Add(pack_of(4), entries(300, 400));  // over the bound alone: held alone
  EXPECT_FALSE(d.Find(id_of(150)).has_value());
  EXPECT_FALSE(d.Find(id_of(250)).has_value());
  expect_held(d, 4, 300, 400);
  d.MarkUnreadable(pack_of(5));
  EXPECT_FALSE(d.Wants(pack_of(5)));
}

// A blob stored twice (here: its first pack went missing, so it was stored
// again, then the first pack came back). The index names one copy; a pack
// header read by the directory may name the other, which check --read-data
// does not read. With that copy damaged, the read falls back to the index.
TEST_F(RepositoryTest, DamagedSecondCopyFromAHeaderFallsBackToTheIndexedCopy) {
  const std::string x = test::RandomBytes(60000, 51), y = test::RandomBytes(60000, 52),
                    z = test::RandomBytes(60000, 53);
  Id idx, idy, idz;
  bool added;
  Id first_pack;
  {
    auto repo = OpenOrDie(repo_path_);
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, x, &idx, &added).ok());
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, y, &idy, &added).ok());
    ASSERT_TRUE(repo->Flush().ok());
    first_pack = repo->index().Find(idx).value()->pack;
  }
  const std::string aside = dir_ / "aside";
  ASSERT_EQ(::rename(PackPath(first_pack).c_str(), aside.c_str()), 0);
  Id second_pack;
  {
    auto repo = OpenOrDie(repo_path_);  // the pack is gone: x is stored again, with z
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, x, &idx, &added).ok());
    ASSERT_TRUE(added);
    ASSERT_TRUE(repo->SaveBlob(BlobType::kData, z, &idz, &added).ok());
    ASSERT_TRUE(repo->Flush().ok());
    second_pack = repo->index().Find(idx).value()->pack;
  }
  ASSERT_NE(first_pack, second_pack);
  ASSERT_EQ(::rename(aside.c_str(), PackPath(first_pack).c_str()), 0);
  auto repo = OpenOrDie(repo_path_);  // indexes the pack that came back
  const BlobLocation indexed = repo->index().Find(idx).value().value();
  // Damage the copy the index does not name, in the pack of y or z.
  const Id other_pack = indexed.pack == first_pack ? second_pack : first_pack;
  const Id other_blob = other_pack == first_pack ? idy : idz;
  auto other_entries = repo->ReadPackHeader(other_pack, [&] {
    struct stat st;
    ::stat(PackPath(other_pack).c_str(), &st);
    return static_cast<uint64_t>(st.st_size);
  }());
  ASSERT_TRUE(other_entries.ok()) << other_entries.status().message();
  for (const PackEntry& e : other_entries.value()) {
    if (e.id == idx) FlipBits(other_pack, e.offset + 30, 0x04);
  }
  repo->UsePackDirectory(1000);
  ASSERT_TRUE(repo->LoadBlobs(std::vector<Id>{other_blob}).ok());  // learns the other pack's header
  auto got = repo->LoadBlobs(std::vector<Id>{idx});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got.value()[0], x);
}

// A backend that stores whole files only: uploads take Backend's default,
// which gathers the pieces in memory and saves them at Commit.
class WholeFileBackend : public Backend {
 public:
  explicit WholeFileBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  Status Save(const FileHandle& h, std::string_view data) override { return inner_->Save(h, data); }
  Result<std::string> Load(const FileHandle& h, uint64_t offset, uint64_t length) override {
    return inner_->Load(h, offset, length);
  }
  Result<uint64_t> Size(const FileHandle& h) override { return inner_->Size(h); }
  Status List(FileType type, const std::function<void(const std::string&, uint64_t)>& fn) override {
    return inner_->List(type, fn);
  }
  Status Remove(const FileHandle& h) override { return inner_->Remove(h); }
  std::string Location() const override { return inner_->Location(); }

 private:
  std::unique_ptr<Backend> inner_;
};

TEST_F(RepositoryTest, DefaultUploadGathersPiecesInAnyOrderAndSavesOnlyOnCommit) {
  WholeFileBackend backend(NewLocalBackend(repo_path_));
  const std::string data = test::RandomBytes(3 << 20, 61);
  const FileHandle h{FileType::kPack, std::string(64, 'a')};
  {
    auto abandoned = backend.StartUpload(FileType::kPack);
    ASSERT_TRUE(abandoned.ok());
    ASSERT_TRUE((*abandoned)->WriteAt(0, data).ok());
  }  // never committed: nothing is stored
  EXPECT_FALSE(backend.Size(h).ok());
  auto upload = backend.StartUpload(FileType::kPack);
  ASSERT_TRUE(upload.ok());
  const size_t third = data.size() / 3;
  for (size_t start : {2 * third, size_t{0}, third}) {  // out of order
    const size_t n = start == 2 * third ? data.size() - start : third;
    ASSERT_TRUE((*upload)->WriteAt(start, std::string_view(data).substr(start, n)).ok());
  }
  ASSERT_TRUE((*upload)->Commit(h).ok());
  auto saved = backend.Load(h, 0, 0);
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_TRUE(saved.value() == data) << "the saved file differs from the pieces written";
}

// Two blobs of the same stored length swap places inside their pack file
// (no key needed): each still passes its AEAD tag, so only binding the
// blob's identity catches it. Format 3 binds it in the AEAD (no re-hash on
// read), format 2 re-hashes; both must refuse to return the other blob.
class SwappedBlobTest : public RepositoryTest, public ::testing::WithParamInterface<int> {};

TEST_P(SwappedBlobTest, ABlobSwappedInsideItsPackIsRefusedNotReturned) {
  if (GetParam() != kFormatVersion) {  // an older repository: its config says so
    const std::string config_path = repo_path_ + "/config";
    std::string config = test::ReadFile(config_path);
    const std::string now = "\"version\": " + std::to_string(kFormatVersion);
    ASSERT_NE(config.find(now), std::string::npos);
    config.replace(config.find(now), now.size(), "\"version\": " + std::to_string(GetParam()));
    test::WriteFile(config_path, config);
  }
  auto repo = OpenOrDie(repo_path_);
  ASSERT_EQ(repo->config().version, GetParam());
  const std::string a = test::RandomBytes(50000, 21), b = test::RandomBytes(50000, 22);
  Id ida, idb;
  bool added;
  ASSERT_TRUE(repo->SaveBlob(BlobType::kData, a, &ida, &added).ok());
  ASSERT_TRUE(repo->SaveBlob(BlobType::kData, b, &idb, &added).ok());
  ASSERT_TRUE(repo->Flush().ok());
  EXPECT_EQ(repo->LoadBlob(ida).value(), a);
  const BlobLocation la = repo->index().Find(ida).value().value();
  const BlobLocation lb = repo->index().Find(idb).value().value();
  ASSERT_EQ(la.pack, lb.pack);
  ASSERT_EQ(la.length, lb.length) << "incompressible blobs of one size store alike";
  const std::string path = PackPath(la.pack);
  std::string pack = test::ReadFile(path);
  const std::string sa = pack.substr(la.offset, la.length), sb = pack.substr(lb.offset, lb.length);
  pack.replace(la.offset, la.length, sb);
  pack.replace(lb.offset, lb.length, sa);
  ::chmod(path.c_str(), 0600);
  test::WriteFile(path, pack);
  repo.reset();
  repo = OpenOrDie(repo_path_);
  for (const Id& id : {ida, idb}) {
    auto r = repo->LoadBlob(id);
    ASSERT_FALSE(r.ok()) << "version " << GetParam() << ": the other blob came back";
    EXPECT_TRUE(r.status().IsCorruption());
    EXPECT_NE(r.status().message().find(id.Hex()), std::string::npos) << r.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(FormatVersions, SwappedBlobTest, ::testing::Values(kOldestFormatVersion, kFormatVersion));

TEST_F(RepositoryTest, VanishedPackIsDroppedSoItsDataIsStoredAgain) {
  test::TempDir src;
  test::WriteFile(src / "a", test::RandomBytes(200000, 1));
  auto repo = OpenOrDie(repo_path_);
  Backup(*repo, src.path());
  std::vector<std::string> packs;
  ASSERT_TRUE(repo->backend().List(FileType::kPack, [&](const std::string& n, uint64_t) { packs.push_back(n); }).ok());
  repo.reset();
  std::set<std::string> data_packs;
  {
    auto r = OpenOrDie(repo_path_, LockMode::kShared);
    ASSERT_TRUE(r->index().ForEachPack([&](const PackInfo& info) {
      if (info.entries[0].type == BlobType::kData) data_packs.insert(info.id.Hex());
    }).ok());
  }
  for (const auto& p : packs) {  // lose every data pack
    if (data_packs.count(p)) {
      ASSERT_EQ(::unlink((repo_path_ + "/data/" + p.substr(0, 2) + "/" + p).c_str()), 0);
    }
  }
  auto again = OpenOrDie(repo_path_);
  test::WriteFile(src / "b", "new file");
  Id snap = Backup(*again, src.path());
  // The new snapshot must be complete: restore it and compare.
  auto entry = again->FindSnapshot(snap.Hex());
  ASSERT_TRUE(entry.ok());
  test::TempDir out;
  RestoreOptions ro;
  ro.target = out.path();
  ASSERT_TRUE(RestoreSnapshot(*again, entry->snapshot, ro).ok());
  EXPECT_EQ(test::ReadFile(out.path() + src.path() + "/a"), test::ReadFile(src / "a"));
}

// The previous snapshot's trees are only a shortcut: one that cannot be read
// (here a flipped byte in its pack) does not stop the next create. The
// directory is read as if new, and the damage is reported, naming the
// directory and what to run; the root tree included (which used to fail
// every create until the repository was repaired).
TEST_F(RepositoryTest, ADamagedParentTreeIsReportedAndItsFilesAreReadAgain) {
  test::TempDir src;
  ASSERT_EQ(::mkdir((src / "sub").c_str(), 0755), 0);
  test::WriteFile(src / "sub/f", test::RandomBytes(5000, 3));
  test::WriteFile(src / "top", "top file");
  for (const bool damage_root : {false, true}) {
    SCOPED_TRACE(damage_root ? "root tree damaged" : "subdirectory's tree damaged");
    test::TempDir repo_dir;
    const std::string repo_path = repo_dir / "repo";
    ASSERT_TRUE(Repository::Init(repo_path, "pw", FastInit()).ok());
    repo_path_ = repo_path;
    auto repo = OpenOrDie(repo_path);
    const Id first = Backup(*repo, src.path());
    auto snap = repo->FindSnapshot(first.Hex());
    ASSERT_TRUE(snap.ok());
    const std::string damaged_dir = damage_root ? "/" : src / "sub";
    auto sub = FindNode(*repo, snap->snapshot.tree, src / "sub");
    ASSERT_TRUE(sub.ok()) << sub.status().message();
    const Id tree = damage_root ? snap->snapshot.tree : sub->subtree;
    const BlobLocation loc = repo->index().Find(tree).value().value();
    FlipBits(loc.pack, loc.offset + loc.length / 2, 0x01);
    repo.reset();
    repo = OpenOrDie(repo_path);

    ArchiveOptions a;
    a.paths = {src.path()};
    a.hostname = "test";
    a.time_ns = 2;
    std::vector<std::string> warnings;
    a.warn = [&](const std::string& w) { warnings.push_back(w); };
    auto second = CreateSnapshot(*repo, a);
    ASSERT_TRUE(second.ok()) << second.status().message();
    EXPECT_TRUE(second->has_parent);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("tree of " + damaged_dir + " cannot be read"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("jsnap check"), std::string::npos) << warnings[0];
    EXPECT_EQ(second->parent_unreadable, 1u);
    EXPECT_EQ(second->snapshot.stats.errors, 0u);  // nothing is missing from the snapshot
    // sub/f is read again; with the root's tree lost, every file is.
    EXPECT_EQ(second->snapshot.stats.bytes_read, damage_root ? 5008u : 5000u);
    EXPECT_EQ(second->snapshot.stats.files_unmodified, damage_root ? 0u : 1u);
  }
}

// A damaged blob left in the index was deduplicated against: the next
// create of the same, intact file took the damage over. SalvagePacks
// rewrites the pack without it (keeping every other blob), so the next
// create stores it again, and the first snapshot, which refers to the same
// id, is whole again.
TEST_F(RepositoryTest, SalvageDropsOnlyTheDamagedBlobAndTheNextCreateHealsEverySnapshot) {
  test::TempDir src;
  test::WriteFile(src / "a", test::RandomBytes(200000, 11));
  test::WriteFile(src / "b", test::RandomBytes(200000, 12));
  test::WriteFile(src / "c", "small");
  auto repo = OpenOrDie(repo_path_);
  const Id first = Backup(*repo, src.path());
  auto snap = repo->FindSnapshot(first.Hex());
  ASSERT_TRUE(snap.ok());
  auto a = FindNode(*repo, snap->snapshot.tree, src / "a");
  auto b = FindNode(*repo, snap->snapshot.tree, src / "b");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_FALSE(a->content.empty());
  const Id damaged = a->content[0];  // one of a's chunks
  const BlobLocation loc = repo->index().Find(damaged).value().value();
  ASSERT_EQ(repo->index().Find(b->content[0]).value()->pack, loc.pack) << "a and b must share a pack";
  FlipBits(loc.pack, loc.offset + 100, 0x01);

  CheckOptions read;
  read.read_data = true;
  auto report = CheckRepository(*repo, read);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->bad_blobs, (std::set<Id>{damaged}));

  auto dry = SalvagePacks(*repo, report->bad_blobs, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().message();
  EXPECT_EQ(dry->packs, (std::vector<Id>{loc.pack}));
  EXPECT_TRUE(dry->blobs_dropped.empty());
  EXPECT_TRUE(repo->index().Find(damaged).value().has_value());
  EXPECT_FALSE(repo->packs_lost());

  size_t in_pack = 0;
  ASSERT_TRUE(repo->index().ForEachPack([&](const PackInfo& p) {
    if (p.id == loc.pack) in_pack = p.entries.size();
  }).ok());
  auto salvaged = SalvagePacks(*repo, report->bad_blobs, /*dry_run=*/false);
  ASSERT_TRUE(salvaged.ok()) << salvaged.status().message();
  EXPECT_EQ(salvaged->packs, (std::vector<Id>{loc.pack}));
  EXPECT_EQ(salvaged->blobs_dropped, (std::vector<Id>{damaged}));
  EXPECT_EQ(salvaged->blobs_kept, in_pack - 1);
  EXPECT_EQ(salvaged->packs_written, 1u);
  EXPECT_FALSE(repo->index().Find(damaged).value().has_value());
  EXPECT_FALSE(PathExists(PackPath(loc.pack)));
  EXPECT_TRUE(repo->packs_lost());
  auto b_data = repo->LoadBlob(b->content[0]);
  ASSERT_TRUE(b_data.ok()) << b_data.status().message();
  EXPECT_TRUE(*b_data == test::RandomBytes(200000, 12).substr(0, b_data->size())) << "b's first chunk";

  // The next create reads a again (its chunk is gone) and stores it.
  Backup(*repo, src.path());
  auto healed = CheckRepository(*repo, read);
  ASSERT_TRUE(healed.ok());
  EXPECT_TRUE(healed->ok()) << (healed->errors.empty() ? "" : healed->errors[0].error);
  test::TempDir out;
  RestoreOptions ro;
  ro.target = out.path();
  ASSERT_TRUE(RestoreSnapshot(*repo, snap->snapshot, ro).ok());  // the first snapshot
  EXPECT_TRUE(test::ReadFile(out.path() + src.path() + "/a") == test::RandomBytes(200000, 11)) << "a, restored";
}

// A snapshot whose trees were written by someone hostile.
class CraftedSnapshotTest : public RepositoryTest {
 protected:
  Snapshot Crafted(Repository& repo, const Tree& root) {
    Id id;
    bool added;
    EXPECT_TRUE(repo.SaveBlob(BlobType::kTree, root.Encode(), &id, &added).ok());
    EXPECT_TRUE(repo.Flush().ok());
    Snapshot s;
    s.tree = id;
    return s;
  }
  Node File(const std::string& name, Repository& repo) {
    Node n;
    n.name = name;
    n.type = NodeType::kFile;
    n.mode = 0644;
    n.size = 5;
    Id id;
    bool added;
    EXPECT_TRUE(repo.SaveBlob(BlobType::kData, "pwned", &id, &added).ok());
    n.content = {id};
    return n;
  }
};

TEST_F(CraftedSnapshotTest, DotDotAndSlashNamesCannotLeaveTheTarget) {
  auto repo = OpenOrDie(repo_path_);
  test::TempDir area;
  const std::string target = area / "target";
  for (const std::string& name : std::vector<std::string>{"..", "../escaped", "/tmp/escaped-abs", "a/../../escaped"}) {
    Tree root;
    root.nodes.push_back(File(name, *repo));
    Snapshot s = Crafted(*repo, root);
    RestoreOptions ro;
    ro.target = target;
    auto r = RestoreSnapshot(*repo, s, ro);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().message();
    EXPECT_FALSE(PathExists(area / "escaped"));
    EXPECT_FALSE(PathExists("/tmp/escaped-abs"));
  }
}

// A tree whose third node does not decode (a directory without a subtree):
// the trees are read node by node, and every reader names that tree and
// what is wrong, rather than crashing, skipping it, or restoring on as if
// the tree were whole; a lookup of another name in it still works.
TEST_F(CraftedSnapshotTest, ANodeThatDoesNotDecodeIsNamedByEveryReader) {
  auto repo = OpenOrDie(repo_path_);
  Node broken;
  broken.name = "c-broken";
  broken.type = NodeType::kDir;
  broken.mode = 0755;
  Tree root;
  root.nodes = {File("a", *repo), File("b", *repo), broken, File("d", *repo)};
  Snapshot s = Crafted(*repo, root);
  s.time_ns = 1;
  ASSERT_TRUE(repo->SaveSnapshot(s).ok());
  auto names_it = [&](const Status& st) {
    EXPECT_TRUE(st.IsCorruption()) << st.message();
    EXPECT_NE(st.message().find("tree " + s.tree.Hex()), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("c-broken"), std::string::npos) << st.message();
  };

  test::TempDir out;
  RestoreOptions ro;
  ro.target = out.path();
  auto restored = RestoreSnapshot(*repo, s, ro);
  ASSERT_FALSE(restored.ok());
  names_it(restored.status());

  std::vector<std::string> walked;
  Status walk = WalkTree(*repo, s.tree, "", [&](const std::string& path, const Node&) -> Result<bool> {
    walked.push_back(path);
    return true;
  });
  names_it(walk);
  EXPECT_EQ(walked, (std::vector<std::string>{"/a", "/b"}));

  auto d = FindNode(*repo, s.tree, "/d");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->name, "d");
  auto c = FindNode(*repo, s.tree, "/c-broken");
  ASSERT_FALSE(c.ok());
  names_it(c.status());

  auto report = CheckRepository(*repo, CheckOptions());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->bad_blobs, (std::set<Id>{s.tree}));
  ASSERT_EQ(report->errors.size(), 1u);
  EXPECT_NE(report->errors[0].error.find("c-broken"), std::string::npos) << report->errors[0].error;

  auto pruned = Prune(*repo, PruneOptions());
  ASSERT_FALSE(pruned.ok());
  names_it(pruned.status());
  EXPECT_NE(pruned.status().message().find("jsnap check"), std::string::npos) << pruned.status().message();
}

TEST_F(CraftedSnapshotTest, SymlinkInTheWayIsNotFollowed) {
  auto repo = OpenOrDie(repo_path_);
  test::TempDir area;
  const std::string target = area / "target", outside = area / "outside";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  // The snapshot has a symlink "evil" -> outside, and separately a
  // directory "evil" with a file; a pre-existing symlink in the target plays
  // the part of the first restore.
  ASSERT_EQ(::symlink(outside.c_str(), (target + "/evil").c_str()), 0);
  Tree inner;
  inner.nodes.push_back(File("payload", *repo));
  Id inner_id;
  bool added;
  ASSERT_TRUE(repo->SaveBlob(BlobType::kTree, inner.Encode(), &inner_id, &added).ok());
  Node dir;
  dir.name = "evil";
  dir.type = NodeType::kDir;
  dir.mode = 0755;
  dir.subtree = inner_id;
  Tree root;
  root.nodes.push_back(dir);
  Snapshot s = Crafted(*repo, root);
  RestoreOptions ro;
  ro.target = target;
  ro.overwrite = true;
  auto r = RestoreSnapshot(*repo, s, ro);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("evil"), std::string::npos) << r.status().message();
  EXPECT_FALSE(PathExists(outside + "/payload"));
}

}  // namespace
}  // namespace jsnap
