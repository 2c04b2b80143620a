// Checks a history (history.h) against the kv service's consistency promises. The rules, with
// intervals [send, reply] per request (reply = +infinity for a pending request), are spelled
// out in tools/ftkv/README.md:
//
//   1 register staleness: a read (GET, or DEL answered NOTFOUND) must not return a value (or
//     absence) every possible writer of which finished before some other write started that
//     was itself known to have taken effect before the read started.
//   2 register provenance: a value read was written to that key by a SET that started before
//     the read finished (not by a SET answered ERR).
//   3 counter results: acknowledged INCR results on a key are distinct, >= 1, and the missing
//     values in 1..max are no more than the INCRs left pending.
//   4 counter order: a value seen on a counter (INCR result, GET) is >= every value seen by a
//     request that finished before it started (> for an INCR), and <= the number of INCRs
//     that started before it finished.
//
// A key is a register if it sees SET or DEL, a counter if it sees INCR; a key that sees both
// is refused (ftkv load never mixes them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/ftkv/history.h"

namespace ftd::ftkv {

struct Violation {
  int rule = 0;
  std::string message;  // names the requests (file lines) involved
  int64_t at_ns = 0;    // when it became observable: the offending reply's arrival
  int line = 0;         // the offending request's line
};

struct CheckResult {
  uint64_t requests = 0, ok = 0, notfound = 0, err = 0, pending = 0;
  uint64_t register_keys = 0, counter_keys = 0;
  // Sorted by (at_ns, line): violations.front() is the first one.
  std::vector<Violation> violations;
  bool ok_history() const { return violations.empty(); }
  std::string Summary() const;
};

// InvalidArgument when the history cannot be judged (a key with both INCR and SET/DEL).
absl::StatusOr<CheckResult> CheckHistory(const std::vector<HistoryRecord>& history);

}  // namespace ftd::ftkv
