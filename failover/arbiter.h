// The split-brain arbiter (DESIGN.md "Failover"): before a host serves a VM alone (a backup
// going live, a primary starting or continuing without its backup) it must win the next
// generation of that VM in an atomic test-and-set that both hosts reach. The first arbiter is
// a directory on storage both hosts share ("file:DIR"); an etcd lease may come later.
//
// Layout of DIR: one file per generation won, `generation-<N as 20 decimal digits>`, holding
// a GenerationRecord as "key=value\n" lines (generation, node, role, pid, unix_ns, and the
// winner's identity: machine_id, boot_id, start_time; records written before those existed
// lack them). Temporary files start with ".tmp-"; every other name is ignored.
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

// Who a process is, robust to pid reuse: the machine, the boot of its kernel, the pid, and
// the process's start time in clock ticks since that boot (/proc/PID/stat field 22). A pid
// that names another process later (or after a reboot) has another start time or boot id.
struct ProcessIdentity {
  std::string machine_id;  // /etc/machine-id; empty when unreadable
  std::string boot_id;     // /proc/sys/kernel/random/boot_id; empty when unreadable
  int64_t pid = 0;
  uint64_t start_time = 0;  // 0: unknown
};
// This process's identity (the machine and boot ids are read once, the rest at each call:
// a forked child is another process).
ProcessIdentity SelfIdentity();

struct GenerationRecord {
  uint64_t generation = 0;
  std::string node;      // the host that won it (a name chosen by the operator)
  std::string role;      // "primary" or "backup" (the role it had when it won)
  int64_t pid = 0;       // the winning ftd process
  uint64_t unix_ns = 0;  // wall clock when it won (information only)
  // The winner's identity (ProcessIdentity); empty / 0 in records of older releases.
  std::string machine_id;
  std::string boot_id;
  uint64_t start_time = 0;
};

// Whether the process that won a generation still runs, as far as this host can tell.
enum class Liveness {
  kAlive,         // the same machine and boot, and a running (not zombie) process with that
                  // pid and start time
  kDead,          // the same machine: another boot, no such process, or another process now
                  // has that pid
  kOtherMachine,  // the record was written on another machine (its machine id differs)
  kUnknown,       // a record without the identity (an older release), or this host's
                  // identity is unreadable
};
Liveness LivenessOf(const GenerationRecord& record);

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

  // The start rule for a primary on `node` (docs/pair.md "Start"), which writes nothing: the
  // generation it may claim once a backup has accepted it (current + 1). FailedPrecondition
  // naming the holder of the current generation when that holder
  // - is another node: it may be serving the VM alone (its backup went live);
  // - is this node and its process is alive (Liveness kAlive): a second primary for the VM,
  //   or this node's live backup, serves it now;
  // - is this node's name on another machine (kOtherMachine): nobody here can tell whether
  //   it is alive.
  // A holder on this node whose process is gone (kDead), or whose record predates the
  // identity (kUnknown), does not stop a new primary.
  absl::StatusOr<uint64_t> NextPrimaryGeneration(const std::string& node);

  // Wins generation `gen` for a primary on `node` whose backup accepted it at `gen`: the start
  // rule again, then TryAcquire(gen). FailedPrecondition when the rule refuses now, when
  // `gen` is no longer the next generation (another host took one since), or when another
  // host wins `gen` first. An error means nothing was won.
  absl::Status ClaimPrimaryGeneration(uint64_t gen, const std::string& node);

  const std::string& dir() const { return dir_; }

 private:
  explicit Arbiter(std::string dir) : dir_(std::move(dir)) {}
  std::string GenerationPath(uint64_t gen) const;
  // The start rule for the current generation `current` (> 0): OK, or FailedPrecondition.
  absl::Status CheckStartRule(uint64_t current, const std::string& node);

  std::string dir_;
};

}  // namespace ftd::failover
