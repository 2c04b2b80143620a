// The flags of `ftd --role primary|backup` (README "CLI"), in one place: main.cc parses them,
// and the tests parse them with a config file (cli/config_file.h) as the daemon would.
#pragma once

#include "CLI/CLI.hpp"
#include "cli/pair_command.h"
#include "cli/run_command.h"

namespace ftd::cli {

struct DaemonFlags {
  RunOptions run;
  PairOptions pair;
  bool verbose = false;
  DaemonFlags() { run.serial_stdin = false; }  // a daemon's stdin is not the guest's
};

// Defines every flag of `ftd --role` on `app`, writing into `f` (which must outlive it), and
// `--config FILE` (command-line flags override the file's).
void AddDaemonOptions(CLI::App& app, DaemonFlags& f);

}  // namespace ftd::cli
