// A replay: the session owns the machine, whose input source is its Replayer, and the
// entry source the replayer reads (a log file, or the backup's replication stream). It
// runs the machine to an outcome, checks the end of the log against the final state, and
// goes live at any point; the replayer (its counters, its last seq) stays readable for the
// session's whole life, also after go-live.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "replay/log_file.h"
#include "replay/recording_header.h"
#include "replay/replayer.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"

namespace ftd::replay {

struct ReplayOptions {
  HostResources host;
  // The backup: a log that ends mid-point (the primary died) is finished from the host's
  // clock, so the machine reaches the next point and can go live there.
  bool live_after_end = false;
  // The backup at the boot point: restore the transferred snapshot instead of booting the
  // image (the old path, kept for comparison: docs/pair.md).
  bool restore_at_boot = false;
  // Names for messages (the files the user gave).
  std::string image_name = "the image";
  std::string log_name = "the log";
};

// The replay at one point, to come back to (a debugger's reverse execution): the machine's
// full state and the replayer's position in the log.
struct ReplayCheckpoint {
  proto::Snapshot snapshot;
  std::unique_ptr<Replayer> replayer;  // never run: each restore runs a clone
  uint64_t exit_index = 0;
  size_t bytes = 0;  // what it holds in memory (snapshot encoded size)
};

class ReplaySession {
 public:
  // Whether `image` is the one the log names and host.disk a copy of the disk as recording
  // began (by digest): what Open() checks first, before any KVM is needed.
  static absl::Status CheckInputs(const proto::LogHeader& header, std::span<const uint8_t> image,
                                  const ReplayOptions& options);
  // `ftd replay`: boots `image` (CheckInputs) and replays `log`.
  static absl::StatusOr<std::unique_ptr<ReplaySession>> Open(std::unique_ptr<vmm::Kvm> kvm,
                                                             LogReader log,
                                                             std::span<const uint8_t> image,
                                                             const ReplayOptions& options,
                                                             vmm::ConsoleOutput console);
  // The backup: entries after `header` come from `source`; the machine starts from the
  // primary's state at header.start_exit_index (the boot image at 0, else `snapshot`).
  static absl::StatusOr<std::unique_ptr<ReplaySession>> Start(
      std::unique_ptr<vmm::Kvm> kvm, const proto::LogHeader& header,
      std::unique_ptr<EntrySource> source, std::span<const uint8_t> image,
      const proto::Snapshot& snapshot, const ReplayOptions& options, vmm::ConsoleOutput console);
  ~ReplaySession();

  // Runs to an outcome. A damaged log (an entry that fails its checks with intact entries
  // after it) is an error (kDataLoss) unless the run stopped before it (a stop point, a
  // stop request); a torn tail ends the log there (tail_error(), a warning).
  absl::StatusOr<vmm::RunOutcome> Run(const vmm::RunLimits& limits = {});
  // After Run(): the final state's epoch hash when the log ends with one, and a guest that
  // exited while the log goes on. A difference is a divergence (kAborted); a damaged entry
  // where the final epoch should be is kDataLoss.
  absl::Status CheckFinalEpoch(const vmm::RunOutcome& outcome);
  // Real inputs from the current point on: guest time continues from the last replayed clock.
  absl::Status GoLive();
  bool live() const { return live_; }

  // While `muted()` says so, the guest's console output is dropped (a debugger replaying
  // again what the user has seen already).
  void set_console_muted(std::function<bool()> muted) { muted_ = std::move(muted); }

  // The current point as a checkpoint. FailedPrecondition when the machine cannot be saved
  // here without waiting for the host (between points, a disk request in flight) or the log
  // cannot be read twice (a stream); the caller tries again at a later point.
  absl::StatusOr<std::unique_ptr<ReplayCheckpoint>> TakeCheckpoint();
  // The same state as a self-contained snapshot (its log_* fields say where in the log it
  // stands), for `Resume` in another process: `ftd replay --checkpoint-at`.
  absl::StatusOr<proto::Snapshot> SaveCheckpoint();
  // A replay of `log` from a checkpoint `SaveCheckpoint` wrote for it: the machine restored
  // from the snapshot, the log read on from the entry after it. No disk: reads come from the
  // log (a disk copy would have to be the disk as of the checkpoint, which nothing records).
  static absl::StatusOr<std::unique_ptr<ReplaySession>> Resume(std::unique_ptr<vmm::Kvm> kvm,
                                                               LogReader log,
                                                               const proto::Snapshot& snapshot,
                                                               vmm::ConsoleOutput console);
  // Goes back (or forward) to `checkpoint`: a new machine from its snapshot, replaying on
  // from its position; the old machine is gone (take machine() again).
  absl::Status RestoreCheckpoint(const ReplayCheckpoint& checkpoint);

  vmm::Machine& machine() { return *machine_; }
  const Replayer& replayer() const { return *replayer_; }
  // A torn tail the replay stopped before (OK when the log ended cleanly or goes on).
  const absl::Status& tail_error() const { return replayer_->tail_error(); }
  // Called on the vCPU thread after each entry is replayed, with its seq (the backup's ack).
  void set_on_replayed(std::function<void(uint64_t seq)> f) {
    replayer_->set_on_replayed(std::move(f));
  }

 private:
  explicit ReplaySession(std::unique_ptr<vmm::Kvm> kvm) : kvm_(std::move(kvm)) {}

  std::unique_ptr<vmm::Kvm> kvm_;
  vmm::MachineConfig logged_config_;  // what a restore builds (ConfigFromLog)
  vmm::ConsoleOutput console_;
  std::function<bool()> muted_;
  // What the machines get: console_ unless muted_.
  vmm::ConsoleOutput Console();
  // While replaying, the machine owns the replayer (its input source); at go-live the
  // machine hands it back here. Either way replayer_ points at it until the session ends.
  std::unique_ptr<vmm::InputSource> replayed_;
  std::unique_ptr<vmm::Machine> machine_;  // after replayed_: destroyed first
  Replayer* replayer_ = nullptr;
  bool live_ = false;
};

}  // namespace ftd::replay
