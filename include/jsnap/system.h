// Who and where this process runs: recorded in snapshots and key files.
#pragma once

#include <string>

namespace jsnap {

// The effective user's name, or its numeric id when it has no name.
std::string CurrentUser();
std::string CurrentHost();

}  // namespace jsnap
