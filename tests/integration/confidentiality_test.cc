// Only the config is plaintext: host names, paths, tags and file names never
// appear in the repository's files, the index included.
#include <sys/stat.h>

#include "cli_fixture.h"

namespace jsnap::test {
namespace {

TEST_F(CliTest, NoPlaintextMetadataAnywhereInTheRepository) {
  const std::string src = dir_ / "src-distinct-path-marker";
  ::mkdir(src.c_str(), 0755);
  WriteFile(src + "/file-name-marker.txt", "content-marker content-marker content-marker");
  Create({src, "--host", "hostname-marker", "--tag", "tag-marker"});
  // The markers are really there to be found (the check below can fail).
  auto sanity = RunCommand({"grep", "-rl", "content-marker", src});
  ASSERT_EQ(sanity.exit_code, 0);
  for (const char* marker : {"distinct-path-marker", "file-name-marker", "hostname-marker",
                                   "tag-marker", "content-marker"}) {
    auto r = RunCommand({"grep", "-rl", "--binary-files=text", marker, repo_});
    EXPECT_EQ(r.exit_code, 1) << marker << " found in: " << r.out;
  }
}

}  // namespace
}  // namespace jsnap::test
