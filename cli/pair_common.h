// What both roles of `ftd --role` share in the cli: option checks and the flags' defaults
// (TLS files, the node name, the status file's path).
#pragma once

#include <chrono>
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
// The link settings both ends of the stream take from the same flags (client or server options).
template <typename LinkOptions>
void SetLinkOptions(const PairOptions& pair, LinkOptions& o) {
  o.tls = TlsFilesOf(pair);
  o.insecure = pair.insecure;
  o.vm_id = pair.vm_id;
  o.heartbeat_interval = std::chrono::milliseconds(pair.heartbeat_ms);
  o.peer_timeout = std::chrono::milliseconds(pair.peer_timeout_ms);
}

}  // namespace ftd::cli
