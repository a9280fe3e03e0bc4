// Throughput of each stage of the create pipeline, one core:
// chunking, chunk id (HMAC-SHA-256), zstd, sealing, pack building, tree
// encoding, and index lookups/inserts. Run: build/bench/jsnap_stages_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>

#include "jsnap/chunker.h"
#include "jsnap/compress.h"
#include "jsnap/crypto.h"
#include "jsnap/file_util.h"
#include "jsnap/index.h"
#include "jsnap/pack.h"
#include "jsnap/tree.h"

namespace jsnap {
namespace {

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

// Text-like data: compressible, as most backups are.
std::string Text(size_t n) {
  std::mt19937_64 rng(1);
  std::string s;
  while (s.size() < n) s += "row " + std::to_string(rng() % 100000) + " user=" + std::to_string(rng() % 977) + " ok\n";
  s.resize(n);
  return s;
}

const MasterKey& Key() {
  static MasterKey k = [] {
    (void)InitCrypto();
    return MasterKey::Generate();
  }();
  return k;
}

void BM_Chunker(benchmark::State& state) {
  Chunker c(ChunkerParams{}, Key().chunker_seed);
  const std::string data = Random(64 << 20, 1);
  for (auto _ : state) {
    size_t pos = 0, chunks = 0;
    while (pos < data.size()) {
      pos += c.FindCut(reinterpret_cast<const uint8_t*>(data.data() + pos), data.size() - pos, true);
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Chunker)->Unit(benchmark::kMillisecond);

void BM_ChunkId(benchmark::State& state) {
  const std::string data = Random(1 << 20, 2);
  for (auto _ : state) benchmark::DoNotOptimize(KeyedHash(Key().id_mac, data));
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_ChunkId);

// Two chunks' ids side by side, as create and check compute them.
void BM_ChunkIdPairs(benchmark::State& state) {
  const std::string a = Random(1 << 20, 2), b = Random(1 << 20, 3);
  const std::string_view chunks[2] = {a, b};
  Id ids[2];
  for (auto _ : state) {
    KeyedHashMany(Key().id_mac, chunks, 2, ids);
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(state.iterations() * (a.size() + b.size()));
}
BENCHMARK(BM_ChunkIdPairs);

void BM_Compress(benchmark::State& state) {
  const std::string data = state.range(0) ? Text(1 << 20) : Random(1 << 20, 3);
  std::string out;
  for (auto _ : state) {
    out.clear();
    CompressFrameAppend(data, kDefaultCompressionLevel, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * data.size());
  state.SetLabel(state.range(0) ? "text" : "random");
}
BENCHMARK(BM_Compress)->Arg(1)->Arg(0);

void BM_Seal(benchmark::State& state) {
  const std::string data = Random(1 << 20, 4);
  std::string out;
  for (auto _ : state) {
    out.clear();
    SealAppend(Key().encryption, data, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Seal);

void BM_PackBuild(benchmark::State& state) {
  std::vector<std::string> sealed;
  for (int i = 0; i < 16; ++i) sealed.push_back(Seal(Key().encryption, Random(1 << 20, 10 + i)));
  for (auto _ : state) {
    PackWriter w;
    for (int i = 0; i < 16; ++i) w.Add(BlobType::kData, PlainHash(std::to_string(i)), sealed[i], 1 << 20);
    std::vector<PackEntry> entries;
    const std::string pack = w.Finish(Key().encryption, &entries);
    benchmark::DoNotOptimize(PackId(pack));
  }
  state.SetBytesProcessed(state.iterations() * 16 * (1 << 20));
}
BENCHMARK(BM_PackBuild)->Unit(benchmark::kMillisecond);

void BM_TreeEncode(benchmark::State& state) {
  Tree t;
  for (int i = 0; i < 1000; ++i) {
    Node n;
    n.name = "file-" + std::to_string(i) + ".txt";
    n.mode = 0644;
    n.user = n.group = "app";
    n.mtime_ns = n.ctime_ns = 1700000000000000000 + i;
    n.size = 4096 + i;
    n.inode = 1000 + i;
    n.content = {PlainHash(n.name)};
    t.nodes.push_back(n);
  }
  for (auto _ : state) benchmark::DoNotOptimize(t.Encode());
  state.SetItemsProcessed(state.iterations() * t.nodes.size());
}
BENCHMARK(BM_TreeEncode);

// The pipeline's own input, for bench/pipeline.sh: $JSNAP_BENCH_INPUT, whole
// up to 2 GiB (unset: these benchmarks are skipped). The stages are then
// measured on exactly the bytes the whole create pipeline is measured on (a
// prefix of the kernel tar compressed 6 % slower than the whole).
const std::string& Input() {
  static const std::string data = [] {
    const char* path = std::getenv("JSNAP_BENCH_INPUT");
    if (path == nullptr) return std::string();
    auto r = ReadWholeFile(path);
    if (!r.ok()) return std::string();
    std::string d = std::move(r).value();
    d.resize(std::min<size_t>(d.size(), size_t{2} << 30));
    return d;
  }();
  return data;
}

// The input's chunks, cut as a create cuts them.
const std::vector<std::string_view>& InputChunks() {
  static const std::vector<std::string_view> chunks = [] {
    std::vector<std::string_view> out;
    Chunker c(ChunkerParams{}, Key().chunker_seed);
    const std::string& d = Input();
    for (size_t pos = 0; pos < d.size();) {
      const size_t n = c.FindCut(reinterpret_cast<const uint8_t*>(d.data() + pos), d.size() - pos, true);
      out.emplace_back(d.data() + pos, n);
      pos += n;
    }
    return out;
  }();
  return chunks;
}

// zstd alone on the input's chunks: the slowest stage.
void BM_InputCompress(benchmark::State& state) {
  if (Input().empty()) return state.SkipWithError("JSNAP_BENCH_INPUT is not set");
  std::string out;
  for (auto _ : state) {
    for (std::string_view chunk : InputChunks()) {
      out.clear();
      CompressFrameAppend(chunk, kDefaultCompressionLevel, &out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * Input().size());
}
BENCHMARK(BM_InputCompress)->Unit(benchmark::kMillisecond);

// Every CPU stage of a create in a row on one core: cut, id, compress, seal.
void BM_InputStagesInRow(benchmark::State& state) {
  if (Input().empty()) return state.SkipWithError("JSNAP_BENCH_INPUT is not set");
  Chunker c(ChunkerParams{}, Key().chunker_seed);
  const std::string& d = Input();
  std::string frame, sealed;
  for (auto _ : state) {
    for (size_t pos = 0; pos < d.size();) {
      // Two chunks at a time, their ids hashed side by side, as create does.
      std::string_view chunks[2];
      size_t count = 0;
      for (; count < 2 && pos < d.size(); ++count) {
        const size_t n = c.FindCut(reinterpret_cast<const uint8_t*>(d.data() + pos), d.size() - pos, true);
        chunks[count] = std::string_view(d.data() + pos, n);
        pos += n;
      }
      Id ids[2];
      KeyedHashMany(Key().id_mac, chunks, count, ids);
      for (size_t k = 0; k < count; ++k) {
        frame.clear();
        CompressFrameAppend(chunks[k], kDefaultCompressionLevel, &frame);
        sealed.clear();
        SealAppend(Key().encryption, frame, &sealed, BlobAd(BlobType::kData, ids[k]).view());
        benchmark::DoNotOptimize(sealed.data());
      }
    }
  }
  state.SetBytesProcessed(state.iterations() * d.size());
}
BENCHMARK(BM_InputStagesInRow)->Unit(benchmark::kMillisecond);

// Indexes holding `n` blob entries (1000 per pack, as from small blobs),
// built once per size and shared by the benchmarks below. Blob k's id is
// PlainHash(decimal k): ids below n are present. main() deletes them after
// the run, while RocksDB's threads still exist (not from a static
// destructor, whose order against RocksDB's own statics is unspecified).
struct BuiltIndex {
  std::string dir;
  std::unique_ptr<Index> index;
};
std::map<int64_t, BuiltIndex>& BuiltIndexes() {
  static std::map<int64_t, BuiltIndex> built;
  return built;
}

void DestroyBuiltIndexes() {
  for (auto& [n, b] : BuiltIndexes()) {
    b.index.reset();
    (void)DestroyIndex(b.dir + "/db");
    ::rmdir(b.dir.c_str());
  }
  BuiltIndexes().clear();
}

Index& IndexWith(int64_t n) {
  auto it = BuiltIndexes().find(n);
  if (it != BuiltIndexes().end()) return *it->second.index;
  char tmpl[] = "/var/tmp/jsnap-bench-index-XXXXXX";  // 10M entries are ~600 MB: not tmpfs
  BuiltIndex& b = BuiltIndexes()[n];
  b.dir = ::mkdtemp(tmpl);
  b.index = Index::Open(b.dir + "/db", Key().index, false).value();
  const int per_pack = 1000;
  for (int64_t p = 0; p < n / per_pack; ++p) {
    PackInfo info;
    info.id = PlainHash("pack" + std::to_string(p));
    info.size = 1ull << 30;
    for (int i = 0; i < per_pack; ++i) {
      PackEntry e;
      e.id = PlainHash(std::to_string(p * per_pack + i));
      e.offset = i * 100;
      e.length = 100;
      e.raw_length = 60;
      info.entries.push_back(e);
    }
    if (!b.index->AddPack(info).ok()) std::abort();
  }
  // Reopen, so lookups read tables from disk (through the block cache), not
  // what the build left in memory.
  b.index.reset();
  b.index = Index::Open(b.dir + "/db", Key().index, false).value();
  return *b.index;
}

// Lookups in an index of state.range(0) entries; hits and misses alternate,
// as in a create that finds half its chunks.
void BM_IndexLookup(benchmark::State& state) {
  const int64_t n = state.range(0);
  Index& index = IndexWith(n);
  std::mt19937_64 rng(5);
  for (auto _ : state) {
    const uint64_t k = rng() % (2 * n);  // half are misses
    benchmark::DoNotOptimize(index.Find(PlainHash(std::to_string(k))));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IndexLookup)->Arg(100000)->Arg(1000000)->Arg(10000000)->Unit(benchmark::kMicrosecond);

// Inserts into an index of state.range(0) entries: packs of 1000 new blobs,
// each looked up first (a miss), as a create does. (The index grows by what
// the benchmark inserts: a few percent at 10M.)
void BM_IndexInsert(benchmark::State& state) {
  const int64_t n = state.range(0);
  Index& index = IndexWith(n);
  static int64_t next = 1ll << 40;  // ids no IndexWith uses
  for (auto _ : state) {
    PackInfo info;
    info.id = PlainHash("insert-pack" + std::to_string(next));
    info.size = 1ull << 30;
    for (int i = 0; i < 1000; ++i, ++next) {
      PackEntry e;
      e.id = PlainHash(std::to_string(next));
      benchmark::DoNotOptimize(index.Find(e.id));
      e.offset = i * 100;
      e.length = 100;
      e.raw_length = 60;
      info.entries.push_back(e);
    }
    if (!index.AddPack(info).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_IndexInsert)->Arg(100000)->Arg(10000000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace jsnap

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  jsnap::DestroyBuiltIndexes();
  benchmark::Shutdown();
  return 0;
}
