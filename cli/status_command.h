// `ftd status --status-file F [--json]`: shows what a running ftd last reported about itself
// (failover/status_file.h).
#pragma once

#include <string>

namespace ftd::cli {

// Prints the report (human-readable, or with `json` the status file's JSON) to stdout.
// Exit codes: 0 fresh, 1 stale (printed all the same, with STALE), kExitNoInput (66) when
// there is no file or it cannot be read, kExitBadImage (65, EX_DATAERR) when it is malformed.
int StatusCommand(const std::string& path, bool json);

}  // namespace ftd::cli
