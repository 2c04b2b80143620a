// Replay: the machine's input source while `ftd replay` runs. Every clock read and host
// event comes from the log, at the exit index it was recorded at; anything else (the
// guest reads the clock where the log has none, an epoch hash differs) is a divergence,
// reported with the point and what differs, and the replay stops.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "replay/log_file.h"
#include "snapshot.pb.h"
#include "vmm/input_source.h"

namespace ftd::replay {

class Replayer final : public vmm::InputSource {
 public:
  explicit Replayer(LogReader reader);
  // Entries from any source (the backup's replication stream), after `header`.
  Replayer(proto::LogHeader header, std::unique_ptr<EntrySource> source);

  // A replayer at this one's position reading on independently (its source cloned), for a
  // debugger's checkpoint; nullptr when the source cannot be cloned. Callbacks are not copied.
  std::unique_ptr<Replayer> Clone() const;

  const proto::LogHeader& header() const { return header_; }
  // Continues the log where a checkpoint of it was taken (`snapshot`'s log_* fields, written
  // by a replay of this log): skips the entries before it and takes its position and clocks.
  // kInvalidArgument when the log does not reach it or disagrees with it.
  absl::Status ResumeAt(const proto::Snapshot& snapshot);
  // The seq of the next entry to replay (the last one + 1 at the end of the log).
  uint64_t next_seq() const;
  int64_t last_realtime_ns() const { return last_realtime_ns_; }
  vmm::Clock& clock() override { return clock_; }
  uint64_t GuestTimeNs() override { return last_guest_ns_; }
  absl::Status AtPoint(uint64_t exit_index) override;
  absl::StatusOr<std::vector<vmm::HostEvent>> Events(std::vector<vmm::HostEvent> host) override;
  absl::Status WaitForHost(std::optional<uint64_t> deadline_ns, int wake_fd) override;
  std::optional<uint64_t> TimerDue(uint64_t deadline_ns) override;
  bool EpochDue() override;
  std::vector<uint64_t> EpochPages() override;
  // The run has ended and the log's next entry is the final state's epoch hash: the
  // caller captures the state and passes it to Epoch().
  bool FinalEpochDue() const;
  absl::Status Epoch(const vmm::EpochState& state) override;
  absl::Status status() const override { return status_; }
  bool AtEnd() const override;

  // The guest time of the last clock read replayed: where a go-live continues from.
  uint64_t last_guest_ns() const { return last_guest_ns_; }
  uint64_t entries_replayed() const { return entries_; }
  // A log that ends without a LogEnd (the primary died mid-point): clock reads beyond its
  // end are answered from the host, continuing from the last replayed guest time, so the
  // machine reaches the next point and goes live there instead of diverging.
  void set_live_after_end(bool on) { live_after_end_ = on; }
  // The seq of the last entry replayed (thread-safe: the backup acknowledges it).
  uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }
  // Called (on the replaying thread) after each entry is replayed, with its seq.
  void set_on_replayed(std::function<void(uint64_t seq)> f) { on_replayed_ = std::move(f); }
  uint64_t epochs_checked() const { return epochs_; }
  // Set when the log ended with a LogEnd entry (a complete recording).
  const std::optional<proto::LogEnd>& end() const { return end_; }
  // A torn or corrupt tail (the recording was killed): replay stopped before it.
  const absl::Status& tail_error() const { return tail_error_; }

 private:
  class ReplayClock final : public vmm::Clock {
   public:
    explicit ReplayClock(Replayer* r) : r_(r) {}
    uint64_t MonotonicNs() override;
    int64_t RealtimeNs() override;

   private:
    Replayer* r_;
  };

  // The next entry, if any (loads it from the reader).
  const proto::LogEntry* Head() const;
  void Pop();
  void Diverge(const std::string& what);
  std::string DescribeHead() const;

  proto::LogHeader header_;
  std::unique_ptr<EntrySource> source_;
  mutable std::optional<proto::LogEntry> head_;
  mutable bool exhausted_ = false;
  mutable absl::Status tail_error_;
  mutable std::optional<proto::LogEnd> end_;
  ReplayClock clock_{this};
  uint64_t exit_index_ = 0;
  uint64_t last_guest_ns_ = 0;
  int64_t last_realtime_ns_ = 0;
  uint64_t entries_ = 0;
  std::atomic<uint64_t> last_seq_{0};
  std::function<void(uint64_t)> on_replayed_;
  bool live_after_end_ = false;
  std::optional<vmm::HostClock> tail_clock_;  // live_after_end_: time beyond the log
  uint64_t epochs_ = 0;
  absl::Status status_;
};

// What differs between a recorded epoch and the replayed state, for the report: register
// names with both values, device-state differences, page numbers. Empty when equal.
std::string DiffEpoch(const proto::EpochHash& recorded, const proto::EpochHash& replayed);
// kvm_regs + kvm_sregs bytes as text, one register per "name=value" (the --inspect format).
std::string FormatRegs(const std::string& regs);

}  // namespace ftd::replay
