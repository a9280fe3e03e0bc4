// Repository settings for tests: a cheap key derivation (the real one takes
// ~50 ms per open) and small packs and chunks, so that small trees span
// several of each.
#pragma once

#include "jsnap/repository.h"

namespace jsnap::test {

inline InitOptions FastInit() {
  InitOptions o;
  o.kdf.opslimit = 1;
  o.kdf.memlimit = 8192;
  o.pack_size = 1 << 20;
  o.chunker.min_size = 16 * 1024;
  o.chunker.avg_size = 64 * 1024;
  o.chunker.max_size = 256 * 1024;
  return o;
}

}  // namespace jsnap::test
