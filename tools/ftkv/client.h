// `ftkv HOST set|get|incr|del`: one request, retried with the same ids until a reply or the
// overall timeout.
#pragma once

#include <cstdint>
#include <string>

#include "tools/ftkv/protocol.h"

namespace ftd::ftkv {

// Exit codes of every ftkv command (documented in tools/ftkv/README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;  // op: NOTFOUND reply; check: a violation
inline constexpr int kExitViolation = 1;
inline constexpr int kExitErrReply = 2;     // op: the server answered ERR
inline constexpr int kExitNoReply = 3;      // op: no reply within --timeout
inline constexpr int kExitMalformed = 4;    // op, load: a reply that breaks the protocol
inline constexpr int kExitUsage = 64;       // bad arguments (also an unresolvable host)
inline constexpr int kExitDataErr = 65;     // check: the history file is malformed
inline constexpr int kExitNoInput = 66;     // check: the history file cannot be read
inline constexpr int kExitInternal = 70;    // socket errors and the like
inline constexpr int kExitCantCreate = 73;  // load: the history file cannot be written

struct OpOptions {
  std::string host;
  uint16_t port = kDefaultPort;
  Op op = Op::kGet;
  std::string key;
  std::string value;     // SET
  double timeout_s = 5;  // total
  double try_s = 0.2;    // per transmission
  uint32_t client = 0;   // 0: derived from the pid and the time
  uint64_t seq = 0;      // 0: CLOCK_REALTIME in ns, so it increases across invocations
};

struct OpResult {
  int exit_code = kExitInternal;
  std::string out;  // the line for stdout ("OK 42", "NOTFOUND", "ERR reason"), if any
  std::string err;  // the message for stderr, if any
  int tries = 0;
};

OpResult RunOp(const OpOptions& options);

}  // namespace ftd::ftkv
