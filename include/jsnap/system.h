// Who and where this process runs: recorded in snapshots and key files.
#pragma once

#include <cstdint>
#include <string>

#include "jsnap/status.h"

namespace jsnap {

// The wall clock, nanoseconds since the epoch (UTC).
int64_t NowNs();

// "512", "500K", "500M", "2G", "1T" (binary units) -> bytes.
Result<uint64_t> ParseSize(const std::string& text);

// The effective user's name, or its numeric id when it has no name.
std::string CurrentUser();
std::string CurrentHost();

}  // namespace jsnap
