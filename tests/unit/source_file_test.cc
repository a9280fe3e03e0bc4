// Opening and reading ahead the files a create reads (source_file.h).
#include "../../src/archiver/source_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace jsnap {
namespace {

// How many of the pages in [offset, offset + len) of `fd` are cached.
size_t CachedPages(int fd, size_t offset, size_t len) {
  void* map = ::mmap(nullptr, offset + len, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident(len / page);
  const int rc = ::mincore(static_cast<char*>(map) + offset, len, resident.data());
  ::munmap(map, offset + len);
  size_t n = 0;
  for (unsigned char r : resident) n += rc == 0 && (r & 1);
  return n;
}

TEST(SourceFileTest, ReadAheadBringsInTheHeadOfAColdFileAndNoMore) {
  test::TempDir dir;
  const std::string path = dir / "big";
  constexpr size_t kSize = 8 << 20;
  test::WriteFile(path, test::RandomBytes(kSize, 1));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::fdatasync(fd.get()), 0);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t head_pages = internal::kReadAheadBytes / page;
  // A read-ahead is advice: its pages are allocated without retrying, so
  // under memory pressure (the suite's other tests, a memory cgroup) the
  // kernel may bring in only part of it. It gets three chances to bring in
  // the whole head; without the read-ahead, none brings in any.
  size_t head = 0, rest = 0;
  for (int attempt = 0; attempt < 3 && head < head_pages; ++attempt) {
    ASSERT_EQ(::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
    if (CachedPages(fd.get(), 0, kSize) != 0) {
      GTEST_SKIP() << "this file system keeps files in memory (tmpfs): nothing to read ahead";
    }
    internal::StartReadAhead(fd.get(), kSize);
    // The reads run in the background; the disk is given time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((head = CachedPages(fd.get(), 0, internal::kReadAheadBytes)) < head_pages &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rest = CachedPages(fd.get(), internal::kReadAheadBytes, kSize - internal::kReadAheadBytes);
  }
  EXPECT_EQ(head, head_pages);
  // The rest waits for the worker's reads (and the kernel's read-ahead).
  EXPECT_EQ(rest, 0u);
}

TEST(SourceFileTest, ReadAheadOfAnEmptyOrShortFileIsHarmless) {
  test::TempDir dir;
  struct Case {
    const char* name;
    std::string content;
    uint64_t listed_size;  // a listing can be older than the file
  };
  for (const Case& c : {Case{"empty", "", 0}, Case{"short", "abc", 100}, Case{"shrunk", "", 5}}) {
    test::WriteFile(dir / c.name, c.content);
    UniqueFd fd = internal::OpenListedFile(AT_FDCWD, dir / c.name, /*may_wait=*/false);
    ASSERT_TRUE(fd.valid()) << c.name;
    internal::StartReadAhead(fd.get(), c.listed_size);
    char buf[8];
    EXPECT_EQ(::read(fd.get(), buf, sizeof buf), static_cast<ssize_t>(c.content.size())) << c.name;
  }
}

}  // namespace
}  // namespace jsnap
