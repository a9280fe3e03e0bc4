#include "jsnap/compress.h"

// ZSTD_getCParams (the tables a level picks for an input size) is in the
// "experimental" part of zstd's API, exported by the shared library and
// unchanged in signature since zstd 1.0; the parameters it feeds are set
// through the stable ZSTD_CCtx_setParameter, checked, with a fallback.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <memory>

namespace jsnap {

namespace {
enum Mode : char { kRaw = 0, kZstd = 1 };

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
// Contexts are reused per thread: creating one per blob costs more than
// compressing a small blob.
ZSTD_CCtx* ThreadCctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CctxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}
// The fast strategies (levels 1-3) at zstd's default table sizes use up to
// 2^17 + 2^16 four-byte entries for a chunk of 512 KiB or more: 768 KiB of
// random access, more than a core's L2 cache. Capped at 2^15 entries each,
// level 3 compresses 512 KiB pieces of shared libraries 22% faster for 0.7%
// more output, and source text (small files, whose tables are small
// already) the same; a create of /usr/lib + /usr/share/doc took 13% less
// time (docs/benchmarks.md). Frames stay standard.
constexpr unsigned kMaxFastTableLog = 15;

size_t Compress(ZSTD_CCtx* ctx, char* dst, size_t capacity, std::string_view src, int level,
                CompressionProfile profile) {
  ZSTD_CCtx_reset(ctx, ZSTD_reset_session_and_parameters);
  const ZSTD_compressionParameters p = ZSTD_getCParams(level, src.size(), 0);
  bool ok = !ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level));
  if (ok && profile == CompressionProfile::kPage) {
    ok = !ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_literalCompressionMode, ZSTD_ps_disable));
  }
  if (ok && p.strategy <= ZSTD_dfast) {
    ok = !ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_hashLog,
                                              static_cast<int>(std::min(p.hashLog, kMaxFastTableLog)))) &&
         !ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_chainLog,
                                              static_cast<int>(std::min(p.chainLog, kMaxFastTableLog))));
  }
  if (!ok) {  // a zstd that refuses the parameters: the level's defaults, then
    return ZSTD_compressCCtx(ctx, dst, capacity, src.data(), src.size(), level);
  }
  return ZSTD_compress2(ctx, dst, capacity, src.data(), src.size());
}
}  // namespace

void CompressFrameAppend(std::string_view data, int level, std::string* out, CompressionProfile profile) {
  if (level > 0 && data.size() >= 64) {
    // Compress into a per-thread scratch buffer, then append only what
    // zstd wrote: growing `out` by the bound would zero-fill (and fault in)
    // a raw-sized region per blob for a result usually a fifth of it.
    thread_local std::unique_ptr<char[]> scratch;
    thread_local size_t scratch_size = 0;
    const size_t bound = ZSTD_compressBound(data.size());
    if (scratch_size < bound) {
      scratch = std::make_unique_for_overwrite<char[]>(bound);
      scratch_size = bound;
    }
    size_t n = Compress(ThreadCctx(), scratch.get(), bound, data, level, profile);
    if (!ZSTD_isError(n) && n < data.size()) {
      out->push_back(kZstd);
      out->append(scratch.get(), n);
      return;
    }
  }
  out->push_back(kRaw);
  out->append(data);
}

Result<std::string> DecompressFrame(std::string_view frame, size_t expected_size) {
  std::string out;
  RETURN_IF_ERROR(DecompressFrameInto(frame, expected_size, &out));
  return out;
}

Status DecompressFrameInto(std::string_view frame, size_t expected_size, std::string* out) {
  if (frame.empty()) return Status::Corruption("empty blob frame");
  const std::string_view payload = frame.substr(1);
  if (frame[0] == kRaw) {
    if (expected_size != SIZE_MAX && payload.size() != expected_size) {
      return Status::Corruption("raw blob has " + std::to_string(payload.size()) +
                                " bytes, index says " + std::to_string(expected_size));
    }
    out->assign(payload);
    return Status::Ok();
  }
  if (frame[0] != kZstd) {
    return Status::Corruption("unknown compression mode " + std::to_string(int(frame[0])));
  }
  unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("zstd frame has no valid content size");
  }
  if ((expected_size != SIZE_MAX && size != expected_size) || size > (1ull << 32)) {
    return Status::Corruption("zstd frame declares " + std::to_string(size) + " bytes, expected " +
                              std::to_string(expected_size));
  }
  out->resize(size);
  size_t n = ZSTD_decompressDCtx(ThreadDctx(), out->data(), out->size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != size) {
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return Status::Ok();
}

}  // namespace jsnap
