// The split-brain arbiter (DESIGN.md "Failover"): before a host serves a VM alone (a backup
// going live, a primary starting or continuing without its backup) it must win the next
// generation of that VM in an atomic test-and-set that both hosts reach. The first arbiter is
// a directory on storage both hosts share ("file:DIR"); an etcd lease may come later.
//
// Layout of DIR: one file per generation won, `generation-<N as 20 decimal digits>`, holding
// a GenerationRecord as "key=value\n" lines (generation, node, role, pid, unix_ns). Temporary
// files start with ".tmp-"; every other name is ignored.
//
// Invariants:
// - A generation file is never rewritten or removed by ftd: once generation N exists, exactly
//   one TryAcquire(N, ...) has returned true, on whichever host made it.
// - A generation file appears complete or not at all: its content is written and fsynced
//   under a temporary name and then link(2)ed to the generation name, which fails (EEXIST)
//   when it already exists. link(2) is atomic on local filesystems and on NFS (where the
//   outcome is decided by the temporary file's link count, not link's return value).
// - The current generation is the highest N present; generations need not be contiguous.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftd::failover {

struct GenerationRecord {
  uint64_t generation = 0;
  std::string node;      // the host that won it (a name chosen by the operator)
  std::string role;      // "primary" or "backup" (the role it had when it won)
  int64_t pid = 0;       // the winning ftd process
  uint64_t unix_ns = 0;  // wall clock when it won (information only)
};

class Arbiter {
 public:
  // `spec` is "file:DIR". DIR is created when missing (one mkdir: its parent must exist) and
  // must be a writable directory. InvalidArgument for any other form of spec.
  static absl::StatusOr<std::unique_ptr<Arbiter>> Open(const std::string& spec);

  // The highest generation won so far; 0 when none.
  absl::StatusOr<uint64_t> CurrentGeneration();

  // The record of generation `gen`: NotFound when nobody won it, DataLoss (naming the file)
  // when the file is malformed or truncated.
  absl::StatusOr<GenerationRecord> Read(uint64_t gen);

  // The test-and-set: true when this call won generation `gen` (> 0) for `node` in `role`,
  // false when someone else holds it already. `node` and `role` must be non-empty single
  // lines. An error means nothing was won.
  absl::StatusOr<bool> TryAcquire(uint64_t gen, const std::string& node, const std::string& role);

  // The rule for a primary that starts or restarts on `node`: when the current generation is
  // held by another node, that node may be serving the VM alone (its backup went live), so
  // FailedPrecondition naming the holder; otherwise win the next generation (retrying when
  // another host wins it first, re-applying the rule) and return it.
  absl::StatusOr<uint64_t> ClaimForNewPrimary(const std::string& node);

  const std::string& dir() const { return dir_; }

 private:
  explicit Arbiter(std::string dir) : dir_(std::move(dir)) {}
  std::string GenerationPath(uint64_t gen) const;

  std::string dir_;
};

}  // namespace ftd::failover
