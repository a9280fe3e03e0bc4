#include "jsnap/tree.h"

#include <gtest/gtest.h>

#include "jsnap/exclude.h"
#include "jsnap/pack.h"
#include "jsnap/record.h"
#include "jsnap/snapshot.h"
#include "test_util.h"

namespace jsnap {
namespace {

Node FullNode(const std::string& name) {
  Node n;
  n.name = name;
  n.type = NodeType::kFile;
  n.mode = 04755;
  n.uid = 1000;
  n.gid = 100;
  n.user = "alice";
  n.group = "users";
  n.mtime_ns = -1234567891;  // before the epoch
  n.ctime_ns = 1700000000123456789;
  n.size = 3;
  n.device = 2049;
  n.inode = 77;
  n.links = 2;
  n.xattrs = {{"user.a", std::string("v\0x", 3)}, {"user.b", ""}};
  n.content = {Id::FromBytes(std::string(32, 'a').data()), Id::FromBytes(std::string(32, 'b').data())};
  n.sqlite = SqliteInfo{4096, 123, "wal", Id::FromBytes(std::string(32, 'c').data()), 7,
                        Id::FromBytes(std::string(32, 's').data())};
  return n;
}

Node LinkNode(const std::string& name, const std::string& target) {
  Node n;
  n.name = name;
  n.type = NodeType::kSymlink;
  n.link_target = target;
  return n;
}

Node DirNode(const std::string& name) {
  Node n;
  n.name = name;
  n.type = NodeType::kDir;
  n.subtree = Id::FromBytes(std::string(32, 'd').data());
  return n;
}

TEST(Tree, EncodeDecodeRoundTripsEveryField) {
  Tree t;
  t.nodes.push_back(FullNode("weird\n\xff\xfe name"));
  t.nodes.push_back(LinkNode("link", "../../etc/passwd"));
  t.nodes.push_back(DirNode("d"));
  Node dev;
  dev.name = "null";
  dev.type = NodeType::kCharDevice;
  dev.rdev = 0x103;
  t.nodes.push_back(dev);
  ASSERT_TRUE(t.Normalize().ok());
  auto decoded = DecodeTree(t.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->nodes, t.nodes);
  EXPECT_NE(decoded->Find("link"), nullptr);
  EXPECT_EQ(decoded->Find("nope"), nullptr);
}

// create keeps each node as its record until the directory's tree is stored:
// the records, concatenated in name order, are the tree blob byte for byte.
TEST(Tree, NodeRecordsConcatenatedInNameOrderAreTheTreeBlob) {
  Tree t;
  t.nodes.push_back(FullNode("b-file"));
  t.nodes.push_back(LinkNode("a-link", "b-file"));
  Node empty;
  empty.name = "c";
  t.nodes.push_back(empty);
  ASSERT_TRUE(t.Normalize().ok());
  std::string records;
  for (const Node& n : t.nodes) records += EncodeTreeRecord(n);
  EXPECT_EQ(records, t.Encode());
  auto one = DecodeTree(EncodeTreeRecord(t.nodes[1]));
  ASSERT_TRUE(one.ok()) << one.status().message();
  ASSERT_EQ(one->nodes.size(), 1u);
  EXPECT_EQ(one->nodes[0], t.nodes[1]);
}

// create reads each parent tree as an EncodedTree: every node it finds is the
// node DecodeTree gives, names it lacks (before, between, after the nodes)
// are absent, and what DecodeTree refuses it refuses too: names out of order
// or repeated at once, a node whose record does not decode when looked up.
TEST(Tree, EncodedTreeFindsWhatDecodeTreeDecodes) {
  Tree t;
  for (const char* name : {"b", "d", "f-file", "weird\n\xff name"}) t.nodes.push_back(FullNode(name));
  t.nodes.push_back(DirNode("c-dir"));
  ASSERT_TRUE(t.Normalize().ok());
  auto encoded = EncodedTree::Parse(t.Encode());
  ASSERT_TRUE(encoded.ok()) << encoded.status().message();
  EXPECT_EQ(encoded->size(), t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    auto at = encoded->At(i);
    ASSERT_TRUE(at.ok()) << at.status().message();
    EXPECT_EQ(*at, t.nodes[i]) << i;
  }
  auto decoded = encoded->Decode();
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->nodes, t.nodes);
  for (const Node& n : t.nodes) {
    auto found = encoded->Find(n.name);
    ASSERT_TRUE(found.ok()) << found.status().message();
    ASSERT_TRUE(found->has_value()) << n.name;
    EXPECT_EQ(**found, n);
  }
  for (const char* absent : {"", "a", "c", "e", "zzz"}) {
    auto found = encoded->Find(absent);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(found->has_value()) << absent;
  }
  auto empty = EncodedTree::Parse("");
  ASSERT_TRUE(empty.ok());
  auto in_empty = empty->Find("b");
  ASSERT_TRUE(in_empty.ok());
  EXPECT_FALSE(in_empty->has_value());

  Node a;
  a.name = "a";
  Tree repeated;
  repeated.nodes = {a, a};
  EXPECT_TRUE(EncodedTree::Parse(repeated.Encode()).status().IsCorruption());
  Node b;
  b.name = "b";
  Tree unsorted;
  unsorted.nodes = {b, a};
  EXPECT_TRUE(EncodedTree::Parse(unsorted.Encode()).status().IsCorruption());
  EXPECT_TRUE(EncodedTree::Parse(t.Encode().substr(0, 10)).status().IsCorruption());

  // A directory without its subtree: named in order, so it parses; the
  // lookup of that node, and of no other, is Corruption.
  Node broken;
  broken.name = "c";
  broken.type = NodeType::kDir;
  Tree with_broken;
  with_broken.nodes = {a, b, broken};
  auto partly = EncodedTree::Parse(with_broken.Encode());
  ASSERT_TRUE(partly.ok()) << partly.status().message();
  EXPECT_TRUE(partly->Find("c").status().IsCorruption());
  auto found_b = partly->Find("b");
  ASSERT_TRUE(found_b.ok() && found_b->has_value());
  EXPECT_EQ(**found_b, b);
  // By position, as restore, ls, check and prune read a tree: the nodes
  // before it decode, it does not, and so neither does the whole tree.
  auto at_a = partly->At(0), at_b = partly->At(1);
  ASSERT_TRUE(at_a.ok() && at_b.ok());
  EXPECT_EQ(*at_a, a);
  EXPECT_EQ(*at_b, b);
  EXPECT_TRUE(partly->At(2).status().IsCorruption());
  EXPECT_TRUE(partly->Decode().status().IsCorruption());
  EXPECT_TRUE(DecodeTree(with_broken.Encode()).status().IsCorruption());

  // A crafted record naming its node twice: the node is found under the
  // name it decodes with (the last), never under the other.
  RecordWriter node;
  node.Bytes(1, "a");  // name
  node.Uint(2, static_cast<uint64_t>(NodeType::kFile));
  node.Bytes(1, "z");  // name again
  RecordWriter blob;
  blob.Bytes(1, node.Take());  // the tree's node field
  auto twice = EncodedTree::Parse(blob.Take());
  ASSERT_TRUE(twice.ok()) << twice.status().message();
  auto as_z = twice->Find("z"), as_a = twice->Find("a");
  ASSERT_TRUE(as_z.ok() && as_z->has_value() && as_a.ok());
  EXPECT_EQ((*as_z)->name, "z");
  EXPECT_FALSE(as_a->has_value());
}

TEST(Tree, RejectsNamesThatCouldEscapeATarget) {
  for (const std::string& bad : std::vector<std::string>{"..", ".", "", "a/b", "/etc", std::string("a\0b", 3)}) {
    Tree t;
    Node n;
    n.name = bad;
    t.nodes.push_back(n);
    EXPECT_FALSE(t.Normalize().ok()) << bad;
    auto decoded = DecodeTree(t.Encode());  // a crafted blob, bypassing Normalize
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_TRUE(decoded.status().IsCorruption());
  }
}

TEST(Tree, RejectsDuplicateAndUnsortedNames) {
  Tree t;
  Node a;
  a.name = "a";
  t.nodes = {a, a};
  EXPECT_FALSE(t.Normalize().ok());
  EXPECT_TRUE(DecodeTree(t.Encode()).status().IsCorruption());
  Node b;
  b.name = "b";
  t.nodes = {b, a};
  EXPECT_TRUE(DecodeTree(t.Encode()).status().IsCorruption());
}

TEST(Tree, TruncatedOrGarbageInputIsCorruptionNotACrash) {
  Tree t;
  t.nodes.push_back(FullNode("file"));
  const std::string enc = t.Encode();
  for (size_t cut = 1; cut < enc.size(); ++cut) {
    auto r = DecodeTree(enc.substr(0, cut));
    if (r.ok()) ADD_FAILURE() << "truncation at " << cut << " accepted";
  }
  for (uint64_t seed = 0; seed < 200; ++seed) {
    (void)DecodeTree(test::RandomBytes(64 + seed, seed));  // must not crash
  }
}

TEST(Snapshot, EncodeDecodeRoundTrip) {
  Snapshot s;
  s.time_ns = 1763800000123456789;
  s.hostname = "db1";
  s.username = "root";
  s.tags = {"nightly", "pre-upgrade"};
  s.paths = {"/srv/a", std::string("/srv/\xff", 6)};
  s.excludes = {"*.log"};
  s.parent = Id::FromBytes(std::string(32, 'p').data());
  s.tree = Id::FromBytes(std::string(32, 't').data());
  s.program_version = "jsnap test";
  s.stats.files_new = 5;
  s.stats.bytes_added_stored = 99;
  s.stats.errors = 1;
  auto d = DecodeSnapshot(s.Encode());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value(), s);
  EXPECT_TRUE(DecodeSnapshot("").status().IsCorruption());  // no tree
}

TEST(Pack, HeaderRoundTripAndDamageIsDetected) {
  ASSERT_TRUE(InitCrypto().ok());
  MasterKey k = MasterKey::Generate();
  PackWriter w;
  std::vector<std::string> plains = {"first blob", std::string(5000, 'x'), "third"};
  for (size_t i = 0; i < plains.size(); ++i) {
    std::string sealed;
    EncodeBlobAppend(k.encryption, plains[i], 3, &sealed);
    w.Add(i == 1 ? BlobType::kTree : BlobType::kData, KeyedHash(k.id_mac, plains[i]), sealed,
          static_cast<uint32_t>(plains[i].size()));
  }
  std::vector<PackEntry> entries;
  const std::string pack = w.Finish(k.encryption, &entries);
  EXPECT_TRUE(w.empty());
  auto hlen = DecodePackTrailer(pack.substr(pack.size() - 4), pack.size());
  ASSERT_TRUE(hlen.ok());
  auto header = Open(k.encryption, pack.substr(pack.size() - 4 - hlen.value(), hlen.value()));
  ASSERT_TRUE(header.ok());
  auto parsed = DecodePackHeader(header.value(), pack.size() - 4 - hlen.value());
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const PackEntry& e = parsed->at(i);
    EXPECT_EQ(e.offset, entries[i].offset);
    EXPECT_EQ(e.type, entries[i].type);
    auto plain = DecodeBlob(k.encryption, k.id_mac, e.id, std::string_view(pack).substr(e.offset, e.length), e.raw_length);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain.value(), plains[i]);
  }
  EXPECT_TRUE(DecodePackTrailer("\xff\xff\xff\x7f", pack.size()).status().IsCorruption());
  // The name covers the header (blob ids and lengths), not the blob bytes,
  // which their AEAD tags protect.
  const Id name = PackId(pack).value();
  std::string body_flip = pack, header_flip = pack;
  body_flip[10] ^= 1;
  header_flip[header_flip.size() - 10] ^= 1;
  EXPECT_EQ(PackId(body_flip).value(), name);
  EXPECT_NE(PackId(header_flip).value(), name);
  EXPECT_TRUE(PackId("ab").status().IsCorruption());
  EXPECT_TRUE(DecodePackHeader(std::string(kPackEntrySize + 1, '\0'), 100).status().IsCorruption());
}

TEST(Exclude, GitignoreStylePatterns) {
  ExcludeMatcher m;
  m.Add("*.log");
  m.Add("/srv/app/cache");
  m.Add("tmp/");
  m.Add("**/node_modules/**");
  m.Add("!/srv/app/keep.log");
  EXPECT_TRUE(m.Excluded("/srv/app/x.log", false));
  EXPECT_TRUE(m.Excluded("/deep/er/y.log", false));
  EXPECT_FALSE(m.Excluded("/srv/app/keep.log", false));
  EXPECT_TRUE(m.Excluded("/srv/app/cache", true));
  EXPECT_FALSE(m.Excluded("/other/srv/app/cache", true));
  EXPECT_TRUE(m.Excluded("/a/tmp", true));
  EXPECT_FALSE(m.Excluded("/a/tmp", false));  // dir-only pattern
  EXPECT_TRUE(m.Excluded("/a/node_modules/b/c.js", false));
  EXPECT_FALSE(m.Excluded("/srv/app/main.c", false));
}

}  // namespace
}  // namespace jsnap
