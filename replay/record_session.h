// A recording: the session owns the machine, whose input source is its Recorder, and the
// log sink the recorder writes to. `ftd record` and the primary role both record through
// one; the log starts at Start(), so a primary can snapshot the machine first.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "replay/recorder.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"

namespace ftd::replay {

struct RecordOptions {
  Recorder::SinkFactory open_sink;  // where the log goes, opened at Start()
  uint64_t epoch_interval_ns = kDefaultEpochIntervalNs;
  std::string disk_path;  // the disk the machine was booted with (its digest goes in the header)
};

class RecordSession {
 public:
  // Boots `guest` on `kvm` with a Recorder as the machine's input source.
  static absl::StatusOr<std::unique_ptr<RecordSession>> Boot(std::unique_ptr<vmm::Kvm> kvm,
                                                             vmm::LoadedGuest guest,
                                                             std::vector<uint8_t> image,
                                                             vmm::ConsoleOutput console,
                                                             RecordOptions options);
  // Starts the log at the machine's current point: header() is complete from here on.
  absl::Status Start();
  // Starts a new log at the machine's current point (a point: Machine::Save() was just taken
  // there); returns the old sink, which the caller keeps while others may read it.
  absl::StatusOr<std::unique_ptr<LogSink>> Restart();
  absl::StatusOr<vmm::RunOutcome> Run(const vmm::RunLimits& limits = {}) {
    return machine_->Run(limits);
  }
  // The end of the recording at `outcome`: the final state's epoch hash and a LogEnd,
  // flushed to stable storage.
  absl::Status Finish(const vmm::RunOutcome& outcome);

  const proto::LogHeader& header() const { return recorder_->header(); }
  vmm::Machine& machine() { return *machine_; }
  const Recorder& recorder() const { return *recorder_; }
  std::span<const uint8_t> image() const { return image_; }

 private:
  RecordSession(std::unique_ptr<vmm::Kvm> kvm, std::vector<uint8_t> image, std::string disk_path)
      : kvm_(std::move(kvm)), image_(std::move(image)), disk_path_(std::move(disk_path)) {}

  std::unique_ptr<vmm::Kvm> kvm_;
  std::vector<uint8_t> image_;
  std::string disk_path_;
  // The machine owns the recorder (its input source); recorder_ lives exactly as long.
  std::unique_ptr<vmm::Machine> machine_;
  Recorder* recorder_ = nullptr;
};

}  // namespace ftd::replay
