#include "commands.h"

namespace jsnap::cli {

void RegisterInit(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("init", "Create a new, empty repository");
  struct Opts {
    uint32_t pack_size_mib = 16;
    uint32_t avg_chunk_kib = 512;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--pack-size", o->pack_size_mib, "Target pack file size in MiB (default 16)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--chunk-size", o->avg_chunk_kib,
                  "Average chunk size in KiB, a power of two (default 512); "
                  "min is a half and max eight times it")
      ->check(CLI::Range(4, 16384));
  cmd->callback([&g, o, exit_code] {
    auto path = RepoPath(g);
    if (!path.ok()) {
      *exit_code = Fail(path.status());
      return;
    }
    auto pw = ReadNewPassword(&g, "");
    if (!pw.ok()) {
      *exit_code = Fail(pw.status());
      return;
    }
    InitOptions init;
    init.pack_size = o->pack_size_mib << 20;
    init.chunker.avg_size = o->avg_chunk_kib << 10;
    init.chunker.min_size = init.chunker.avg_size / 2;
    init.chunker.max_size = init.chunker.avg_size * 8;
    Status st = Repository::Init(path.value(), pw.value(), init);
    if (!st.ok()) {
      *exit_code = Fail(st);
      return;
    }
    if (g.json) {
      PrintJson({{"repository", path.value()}, {"created", true}});
    } else if (!g.quiet) {
      std::printf("created jsnap repository at %s\n\n"
                  "Keep the password safe: without it the data cannot be read back.\n",
                  path->c_str());
    }
  });
}

}  // namespace jsnap::cli
