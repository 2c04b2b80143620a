// Recording: the machine's input source while `ftd record` runs. It is the host (real
// time, real I/O), and it writes every input the guest can observe to the event log:
// each clock read and each host event at its exit index, plus an epoch hash of the
// machine's state every `epoch_interval_ns` of guest time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "replay/log_file.h"
#include "vmm/input_source.h"

namespace ftd::replay {

inline constexpr uint64_t kDefaultEpochIntervalNs = 100'000'000;  // 100 ms of guest time

class Recorder final : public vmm::InputSource {
 public:
  // Opens the sink once the header is known (Start()).
  using SinkFactory =
      std::function<absl::StatusOr<std::unique_ptr<LogSink>>(const proto::LogHeader&)>;
  // Records to a log file; the header is written by Start(), once the machine exists.
  static absl::StatusOr<std::unique_ptr<Recorder>> Create(const std::string& path,
                                                          uint64_t epoch_interval_ns);
  // Records to any sink (the primary's replication stream).
  static absl::StatusOr<std::unique_ptr<Recorder>> Create(SinkFactory open_sink,
                                                          uint64_t epoch_interval_ns);
  // Inputs before Start() are not logged: they belong to the state the log starts from
  // (the primary snapshots the machine before it starts the log).
  absl::Status Start(proto::LogHeader header);
  // A new log from here (a backup joining a running primary): the old sink is returned
  // (others may still read its counters), a new one is opened for `header`, which must start
  // at the machine's current point. Epochs go on at the same interval of guest time.
  absl::StatusOr<std::unique_ptr<LogSink>> Restart(proto::LogHeader header);
  // The header Start() completed (what a backup needs besides the machine state).
  const proto::LogHeader& header() const { return header_; }
  // The end of the run: a LogEnd entry, then the log is flushed to disk.
  // `final_state`, when given, is logged as a last epoch hash (the final state's).
  absl::Status Finish(bool guest_exited, uint32_t status,
                      const vmm::EpochState* final_state = nullptr);

  vmm::Clock& clock() override { return clock_; }
  uint64_t GuestTimeNs() override;
  absl::Status AtPoint(uint64_t exit_index) override;
  absl::StatusOr<std::vector<vmm::HostEvent>> Events(std::vector<vmm::HostEvent> host) override;
  absl::Status WaitForHost(std::optional<uint64_t> deadline_ns, int wake_fd) override;
  std::optional<uint64_t> TimerDue(uint64_t deadline_ns) override;
  bool EpochDue() override;
  absl::Status Epoch(const vmm::EpochState& state) override;
  absl::Status status() const override { return status_; }

  uint64_t entries() const { return writer_ ? writer_->last_seq() : 0; }
  LogSink* sink() { return writer_.get(); }
  uint64_t epochs() const { return epochs_; }
  uint64_t last_guest_ns() const { return last_guest_ns_; }

 private:
  class LoggingClock final : public vmm::Clock {
   public:
    explicit LoggingClock(Recorder* r) : r_(r) {}
    uint64_t MonotonicNs() override;
    int64_t RealtimeNs() override;

   private:
    Recorder* r_;
  };

  Recorder(SinkFactory open_sink, uint64_t epoch_interval_ns)
      : open_sink_(std::move(open_sink)), epoch_interval_ns_(epoch_interval_ns) {}
  void Append(proto::LogEntry& entry);

  SinkFactory open_sink_;
  uint64_t epoch_interval_ns_;
  proto::LogHeader header_;
  // The format version, epoch interval and recording time every header carries.
  void Stamp(proto::LogHeader& header) const;
  std::unique_ptr<LogSink> writer_;
  vmm::HostClock host_;
  LoggingClock clock_{this};
  uint64_t exit_index_ = 0;
  uint64_t last_guest_ns_ = 0;
  uint64_t next_epoch_ns_ = 0;
  uint64_t epoch_time_ns_ = 0;  // host time at the last EpochDue check (not logged)
  uint64_t epochs_ = 0;
  absl::Status status_;
};

// Fills an EpochHash entry from the machine's state (shared by record and replay).
void FillEpoch(const vmm::EpochState& state, uint64_t guest_ns, proto::EpochHash* out);

}  // namespace ftd::replay
