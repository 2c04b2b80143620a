#include "replay/record_session.h"

#include "replay/recording_header.h"

namespace ftd::replay {

absl::StatusOr<std::unique_ptr<RecordSession>> RecordSession::Boot(std::unique_ptr<vmm::Kvm> kvm,
                                                                   vmm::LoadedGuest guest,
                                                                   std::vector<uint8_t> image,
                                                                   vmm::ConsoleOutput console,
                                                                   RecordOptions options) {
  auto recorder = Recorder::Create(std::move(options.open_sink), options.epoch_interval_ns);
  if (!recorder.ok()) return recorder.status();
  std::unique_ptr<RecordSession> s(
      new RecordSession(std::move(kvm), std::move(image), options.disk_path));
  Recorder* r = recorder->get();
  guest.config.input_timing =
      vmm::MachineConfig::InputTiming::kAtPoints;  // every input logged at a point
  auto machine =
      vmm::Machine::Boot(*s->kvm_, std::move(guest), std::move(console), std::move(*recorder));
  if (!machine.ok()) return machine.status();
  s->machine_ = std::move(*machine);
  s->recorder_ = r;
  return s;
}

absl::Status RecordSession::Start() {
  auto header = RecordingHeader(*machine_, image_, disk_path_);
  if (!header.ok()) return header.status();
  return recorder_->Start(*std::move(header));
}

absl::StatusOr<std::unique_ptr<LogSink>> RecordSession::Restart() {
  auto header = RecordingHeader(*machine_, image_, disk_path_);
  if (!header.ok()) return header.status();
  return recorder_->Restart(*std::move(header));
}

absl::Status RecordSession::Finish(const vmm::RunOutcome& outcome) {
  const bool exited = outcome.kind == vmm::RunOutcome::Kind::kGuestExit;
  // Stopped between points (the guest ran on after the last one until the stop's kick): a
  // replay stops at the last point, so that state has no final epoch to be checked against.
  if (!machine_->at_point()) return recorder_->Finish(exited, outcome.status, nullptr);
  auto final_state = machine_->CaptureEpochState();
  if (!final_state.ok()) return final_state.status();
  return recorder_->Finish(exited, outcome.status, &*final_state);
}

}  // namespace ftd::replay
