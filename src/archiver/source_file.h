// Opening the regular files `jsnap create` reads, and asking the kernel to
// start reading them before a worker gets to them. Internal to the archiver.
#pragma once

#include <cstdint>
#include <string>

#include "jsnap/file_util.h"

namespace jsnap::internal {

// Opens `name` in the directory `dir_fd`, listed as a regular file, for
// reading. Not blocking: a FIFO put in its place since would block the open
// until a writer came (the caller checks what it opened). A file under
// another process's write lease (Samba oplocks, NFS delegations) makes a
// non-blocking open fail at once (EWOULDBLOCK); with `may_wait`, a regular
// file is then opened blocking, which waits for the lease to be given back,
// as reading any file does.
UniqueFd OpenListedFile(int dir_fd, const std::string& name, bool may_wait);

// How much of each file's head is read ahead: the first reads of a file
// wait for it, and larger reads after that are the kernel's own read-ahead.
inline constexpr uint64_t kReadAheadBytes = 1 << 20;

// Starts reading the head of an open file into the page cache, without
// waiting for it, and marks a longer file as read sequentially (a larger
// read-ahead window for the rest). The walk calls it as it queues a file for the workers: a
// worker that reads a cold file waits for the disk, and with one worker per
// core the cores waited with it. Cold creates of /usr/lib + /usr/share/doc
// (10k files) took 4.3 -> 3.6 s, of a kernel tree whose files lay
// scattered on the disk 9.1 -> 5.0 s (docs/benchmarks.md).
void StartReadAhead(int fd, uint64_t size);

}  // namespace jsnap::internal
