#include <csignal>
#include <iostream>

#include "commands.h"

namespace jsnap::cli {

namespace {
std::vector<std::string> g_after_dashes;
}

const std::vector<std::string>& CommandAfterDashes() { return g_after_dashes; }

int Main(int argc, char** argv) {
  // "--" starts the command of --stdin-from-command; elsewhere it keeps its
  // usual meaning (what follows are not options).
  bool from_command = false;
  for (int i = 1; i < argc; ++i) {
    from_command |= std::string(argv[i]) == "--stdin-from-command";
    if (from_command && std::string(argv[i]) == "--") {
      g_after_dashes.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);  // `jsnap dump ... | head` gets EPIPE, not a crash
  CLI::App app{
      "jsnap: deduplicating, encrypted snapshots of folders, files and databases.\n\n"
      "Start with:  jsnap init -r /srv/backup\n"
      "then:        jsnap create -r /srv/backup /srv/app/data\n"
      "             jsnap snapshots -r /srv/backup\n"
      "             jsnap restore -r /srv/backup latest --target /tmp/restore\n"
      "Exit codes: 0 ok, 1 error, 3 snapshot saved but some files were unreadable,\n"
      "10 no repository, 11 repository locked, 12 wrong password.",
      "jsnap"};
  app.set_version_flag("--version", kProgramVersion);
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions g;
  AddGlobalOptions(app, g);
  int exit_code = kExitOk;
  RegisterInit(app, g, &exit_code);
  RegisterKey(app, g, &exit_code);
  RegisterCreate(app, g, &exit_code);
  RegisterSnapshots(app, g, &exit_code);
  RegisterLs(app, g, &exit_code);
  RegisterDump(app, g, &exit_code);
  RegisterStats(app, g, &exit_code);
  RegisterRestore(app, g, &exit_code);
  RegisterRepair(app, g, &exit_code);
  RegisterCheck(app, g, &exit_code);
  RegisterForget(app, g, &exit_code);
  RegisterPrune(app, g, &exit_code);
  RegisterUnlock(app, g, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "jsnap: %s (see 'jsnap %s--help')\n", e.what(),
                 app.get_subcommands().empty() ? "" : (app.get_subcommands()[0]->get_name() + " ").c_str());
    return kExitFatal;
  }
  return exit_code;
}

}  // namespace jsnap::cli
