// `ftd replay` and `ftd log info`.
#pragma once

#include <string>

#include "cli/run_command.h"

namespace ftd::cli {

int ReplayCommand(const RunOptions& opts);
// `epochs`: also print each epoch's registers; `entries`: one line per entry.
int LogInfoCommand(const std::string& path, bool epochs = false, bool entries = false);

}  // namespace ftd::cli
