// `ftd replay --gdb / --assert / --replay-asserts`: a replay session handed to the debugger.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "cli/run_command.h"
#include "replay/replay_session.h"

namespace ftd::cli {

int DebugCommand(const RunOptions& opts, std::unique_ptr<replay::ReplaySession> session,
                 std::span<const uint8_t> image);

}  // namespace ftd::cli
