// `ftkv HOST load`: N clients, each with at most one request outstanding, a SET/GET/DEL/INCR mix
// on a small key space, every request recorded in a history (history.h) for `ftkv check`.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/ftkv/protocol.h"

namespace ftd::ftkv {

struct LoadOptions {
  std::string host;
  uint16_t port = kDefaultPort;
  int clients = 4;         // 1..1000
  double duration_s = 10;  // new requests start only during this time
  double rate = 0;         // requests/s over all clients; 0: closed loop, as fast as replies come
  int keys = 8;            // k0..k{keys-1} (SET/GET/DEL) and c0..c{keys-1} (INCR/GET)
  uint64_t seed = 1;       // the operation mix (the same seed gives the same per-client ops)
  std::string history;     // the history file
  double try_s = 0.2;      // resend an unanswered request after this long
  double grace_s = 1.0;    // after the duration, wait this long for outstanding replies
  // Keys are "<prefix>:k3", so runs against one server never share keys; empty: a fresh one
  // from the clock. Client ids are client_base+0..clients-1 (0: a fresh base from the clock),
  // request-nos start at CLOCK_REALTIME in ns, so they increase across runs too.
  std::string key_prefix;
  uint32_t client_base = 0;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT) to end the run early
};

struct LatencySummary {
  uint64_t count = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

struct LoadReport {
  int clients = 0;
  double elapsed_s = 0;  // start to last reply or end of grace
  double duration_s = 0;
  uint64_t answered = 0, ok = 0, notfound = 0, err = 0, pending = 0;
  uint64_t transmissions = 0, retries = 0, late_replies = 0;
  uint64_t malformed = 0;
  std::string first_malformed;  // names the first malformed reply, if any
  std::string key_prefix;
  LatencySummary all;
  LatencySummary by_op[4];  // indexed by Op

  double Throughput() const;  // answered per second of the load phase
  std::string Table() const;
  std::string Json() const;
};

// Errors: bad options (InvalidArgument), the history cannot be written (PermissionDenied /
// DataLoss), sockets (Internal). Malformed replies are not errors: they are in the report.
absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options);

LatencySummary Summarize(std::vector<int64_t> latencies_ns);

}  // namespace ftd::ftkv
