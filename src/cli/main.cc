#include <malloc.h>

#include "commands.h"

int main(int argc, char** argv) {
  // Chunks and packs are large, short-lived buffers passed between threads.
  // With glibc's defaults the mmap threshold climbs to 32 MiB after the
  // first large free, so 16 MiB packs then fragment per-thread heaps (peak
  // RSS 189 MB on the kernel corpus). Packs stay mmapped with a fixed 8 MiB
  // threshold, and two arenas serve the chunk buffers: 95 MB, same speed
  // (measured; a 256 KiB threshold gave 84 MB but 40 % more system time).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_ARENA_MAX, 2);
  // A fixed mmap threshold also fixes the trim threshold at 128 KiB: every
  // freed chunk at a heap's top went back to the kernel and was faulted in
  // again by the next (90k minor faults restoring the kernel tree, 21k with
  // 128 MiB; the same peak RSS in restore, check and create, measured).
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  return jsnap::cli::Main(argc, argv);
}
