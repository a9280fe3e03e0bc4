// Stream sources for `create`: standard input, or the output of a command
// (`--stdin-from-command -- pg_dump mydb`). A command that exits non-zero
// fails the snapshot: a half dump must never look like a good backup.
#pragma once

#include <string>
#include <vector>

#include "jsnap/archiver.h"

namespace jsnap::cli {

StreamSource StdinSource(const std::string& name);
// Starts `argv` with its stdout on a pipe. The source's finish() reaps it.
Result<StreamSource> CommandSource(const std::string& name, const std::vector<std::string>& argv);

}  // namespace jsnap::cli
