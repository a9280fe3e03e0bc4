// One Register function per CLI verb. Each adds its subcommand to `app`;
// when the subcommand runs, it stores its exit code in *exit_code.
#pragma once

#include "common.h"

namespace jsnap::cli {

void RegisterInit(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterKey(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterCreate(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterSnapshots(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterLs(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterDump(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterStats(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterRestore(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterRepair(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterCheck(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterForget(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterPrune(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterUnlock(CLI::App& app, GlobalOptions& g, int* exit_code);

int Main(int argc, char** argv);
// The words after a standalone "--" on the command line (create's
// --stdin-from-command); they are not parsed as options.
const std::vector<std::string>& CommandAfterDashes();

}  // namespace jsnap::cli
