// `ftd --role primary` and `ftd --role backup`: the fault-tolerant pair (docs/pair.md).
// The primary records its VM and streams the log to the backup, holding every output until
// the backup acknowledged the entries behind it; the backup starts from the primary's state,
// replays the stream in near lockstep, and goes live when the primary is lost and it wins
// the arbiter.
#pragma once

#include <cstdint>
#include <string>

#include "cli/run_command.h"

namespace ftd::cli {

inline constexpr int kExitFenced = 75;  // lost the arbiter: this host halted its VM
inline constexpr int kDefaultReplicationPort = 7411;

struct PairOptions {
  std::string role;                      // primary | backup
  std::string peer;                      // primary: the backup, HOST[:PORT]
  std::string listen = "0.0.0.0:7411";   // backup: ADDR[:PORT]
  std::string disk_mode = "replicated";  // replicated | shared
  std::string arbiter;                   // file:DIR; empty: none (a partition may split)
  std::string node;                      // this host's name for the arbiter (default: hostname)
  std::string vm_id = "vm";
  std::string ca, cert, key;  // mutual TLS
  bool insecure = false;
  uint64_t heartbeat_ms = 50;
  uint64_t peer_timeout_ms = 500;
  std::string status_file;    // default /run/ftd/ftd-ROLE.status
  uint64_t peer_wait_s = 60;  // primary: how long to wait for the backup at start
  uint64_t max_unacked_entries = 1u << 16;
  std::string max_unacked_bytes = "64M";
  uint64_t max_lag_entries = 128;  // primary: unreplayed entries at the backup (0: no bound)
};

int PrimaryCommand(const RunOptions& run, const PairOptions& pair);
int BackupCommand(const RunOptions& run, const PairOptions& pair);

}  // namespace ftd::cli
