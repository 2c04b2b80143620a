// What both roles of `ftd --role` share in the cli: option checks and the flags' defaults
// (TLS files, the node name, the status file's path).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "cli/pair_command.h"
#include "proto/replication_protocol.h"

namespace ftd::cli {

// Checks the options common to both roles; an error is a usage error.
absl::Status CheckPairOptions(const PairOptions& pair);
// HOST or HOST:PORT -> HOST:PORT (the default port added).
std::string WithDefaultPort(const std::string& address);
repl::TlsFiles TlsFilesOf(const PairOptions& pair);
std::string NodeName(const PairOptions& pair);
std::string StatusPath(const PairOptions& pair);

}  // namespace ftd::cli
