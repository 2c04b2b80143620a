#include "replay/replay_session.h"

#include "absl/strings/str_format.h"
#include "replay/digest.h"

namespace ftd::replay {

ReplaySession::~ReplaySession() = default;

namespace {
// A machine from `snapshot` as the log's configuration has it, replaying from `input`.
absl::StatusOr<std::unique_ptr<vmm::Machine>> RestoreMachine(const vmm::Kvm& kvm,
                                                             const proto::Snapshot& snapshot,
                                                             const vmm::MachineConfig& logged,
                                                             std::unique_ptr<Replayer> input,
                                                             vmm::ConsoleOutput console) {
  vmm::RestoreOptions ropt;
  ropt.input = std::move(input);
  ropt.adjust = [&logged](vmm::MachineConfig& c) {
    c.cpuid = logged.cpuid;
    c.disk_geometry = logged.disk_geometry;
    c.disk_path = logged.disk_path;
    c.disk_read_only = logged.disk_read_only;
    c.net = logged.net;
    c.replay_writes_disk = logged.replay_writes_disk;
    c.input_timing = logged.input_timing;
    c.backends = logged.backends;
  };
  return vmm::Machine::Restore(kvm, snapshot, std::move(console), std::move(ropt));
}
}  // namespace

vmm::ConsoleOutput ReplaySession::Console() {
  return [this](std::span<const uint8_t> bytes) {
    if (muted_ && muted_()) return;
    if (console_) console_(bytes);
  };
}

absl::StatusOr<proto::Snapshot> ReplaySession::SaveCheckpoint() {
  if (live_) return absl::FailedPreconditionError("checkpoint: the session is live");
  if (!machine_->CanSaveWithoutWaiting()) {
    return absl::FailedPreconditionError("checkpoint: not at a quiet point");
  }
  auto snap = machine_->Save();
  if (!snap.ok()) return snap.status();
  snap->set_log_next_seq(replayer_->next_seq());
  snap->set_log_entries(replayer_->entries_replayed());
  snap->set_log_realtime_ns(replayer_->last_realtime_ns());
  snap->set_log_image_sha256(replayer_->header().config().image_sha256());
  return snap;
}

absl::StatusOr<std::unique_ptr<ReplaySession>> ReplaySession::Resume(
    std::unique_ptr<vmm::Kvm> kvm, LogReader log, const proto::Snapshot& snapshot,
    vmm::ConsoleOutput console) {
  const proto::LogHeader header = log.header();
  if (snapshot.log_image_sha256() != header.config().image_sha256()) {
    return absl::InvalidArgumentError(
        "the checkpoint was not taken from a replay of this log (another image)");
  }
  auto config = ConfigFromLog(header, HostResources());
  if (!config.ok()) return config.status();
  std::unique_ptr<ReplaySession> s(new ReplaySession(std::move(kvm)));
  s->logged_config_ = *config;
  s->console_ = std::move(console);
  auto replayer = std::make_unique<Replayer>(std::move(log));
  if (auto st = replayer->ResumeAt(snapshot); !st.ok()) return st;
  Replayer* rp = replayer.get();
  auto machine = RestoreMachine(*s->kvm_, snapshot, *config, std::move(replayer), s->Console());
  if (!machine.ok()) return machine.status();
  s->machine_ = std::move(*machine);
  s->replayer_ = rp;
  return s;
}

absl::StatusOr<std::unique_ptr<ReplayCheckpoint>> ReplaySession::TakeCheckpoint() {
  if (live_) return absl::FailedPreconditionError("checkpoint: the session is live");
  if (!machine_->CanSaveWithoutWaiting()) {
    return absl::FailedPreconditionError("checkpoint: not at a quiet point");
  }
  auto replayer = replayer_->Clone();
  if (replayer == nullptr) {
    return absl::FailedPreconditionError("checkpoint: the log cannot be read twice");
  }
  auto snap = machine_->Save();
  if (!snap.ok()) return snap.status();
  auto c = std::make_unique<ReplayCheckpoint>();
  c->exit_index = machine_->exit_index();
  c->bytes = snap->ByteSizeLong();
  c->snapshot = std::move(*snap);
  c->replayer = std::move(replayer);
  return c;
}

absl::Status ReplaySession::RestoreCheckpoint(const ReplayCheckpoint& checkpoint) {
  if (live_) return absl::FailedPreconditionError("restore: the session is live");
  auto replayer = checkpoint.replayer->Clone();
  if (replayer == nullptr) return absl::InternalError("restore: the checkpoint's log");
  Replayer* rp = replayer.get();
  // The new machine before the old one goes: a failure leaves the session as it was.
  auto machine =
      RestoreMachine(*kvm_, checkpoint.snapshot, logged_config_, std::move(replayer), Console());
  if (!machine.ok()) return machine.status();
  machine_ = std::move(*machine);
  replayer_ = rp;
  return absl::OkStatus();
}

absl::Status ReplaySession::CheckInputs(const proto::LogHeader& header,
                                        std::span<const uint8_t> image,
                                        const ReplayOptions& options) {
  if (Sha256(image) != header.config().image_sha256()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not the image %s was recorded with (sha256 %s, the log has %s)", options.image_name,
        options.log_name, Hex(Sha256(image)), Hex(header.config().image_sha256())));
  }
  if (!options.host.disk.empty()) {
    auto digest = Sha256File(options.host.disk);
    if (!digest.ok()) return digest.status();
    if (*digest != header.disk_sha256()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "disk %s does not match the disk %s started from (sha256 %s, the log has %s): give a "
          "copy "
          "of the disk as it was when recording began",
          options.host.disk, options.log_name, Hex(*digest), Hex(header.disk_sha256())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ReplaySession>> ReplaySession::Open(std::unique_ptr<vmm::Kvm> kvm,
                                                                   LogReader log,
                                                                   std::span<const uint8_t> image,
                                                                   const ReplayOptions& options,
                                                                   vmm::ConsoleOutput console) {
  const proto::LogHeader header = log.header();
  if (auto st = CheckInputs(header, image, options); !st.ok()) return st;
  auto source = std::make_unique<LogReader>(std::move(log));
  return Start(std::move(kvm), header, std::move(source), image, proto::Snapshot(), options,
               std::move(console));
}

absl::StatusOr<std::unique_ptr<ReplaySession>> ReplaySession::Start(
    std::unique_ptr<vmm::Kvm> kvm, const proto::LogHeader& header,
    std::unique_ptr<EntrySource> source, std::span<const uint8_t> image,
    const proto::Snapshot& snapshot, const ReplayOptions& options, vmm::ConsoleOutput console) {
  auto config = ConfigFromLog(header, options.host);
  if (!config.ok()) return config.status();
  std::unique_ptr<ReplaySession> s(new ReplaySession(std::move(kvm)));
  s->logged_config_ = *config;
  s->console_ = std::move(console);
  console = s->Console();
  auto replayer = std::make_unique<Replayer>(header, std::move(source));
  replayer->set_live_after_end(options.live_after_end);
  Replayer* rp = replayer.get();
  absl::StatusOr<std::unique_ptr<vmm::Machine>> machine = absl::UnknownError("no machine");
  const bool boot = header.start_exit_index() == 0 && !image.empty() && !options.restore_at_boot;
  if (boot) {
    // At the boot point the state is the image: boot it exactly as the recording did.
    if (Sha256(image) != header.config().image_sha256()) {
      return absl::DataLossError("the image does not match the log header");
    }
    auto guest = vmm::LoadGuest(*config, image);
    if (!guest.ok()) return absl::InvalidArgumentError(guest.status().message());
    machine =
        vmm::Machine::Boot(*s->kvm_, std::move(*guest), std::move(console), std::move(replayer));
  } else {
    if (snapshot.exit_index() != header.start_exit_index()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the state is at exit %u, the log starts at exit %u",
                          snapshot.exit_index(), header.start_exit_index()));
    }
    machine = RestoreMachine(*s->kvm_, snapshot, *config, std::move(replayer), std::move(console));
  }
  if (!machine.ok()) return machine.status();
  s->machine_ = std::move(*machine);
  s->replayer_ = rp;
  return s;
}

absl::StatusOr<vmm::RunOutcome> ReplaySession::Run(const vmm::RunLimits& limits) {
  auto outcome = machine_->Run(limits);
  if (live_) return outcome;
  // A damaged log (not a torn tail) is refused whatever the run made of it: a divergence or a
  // guest exit that met the damage is the damage's doing. Stopping before it (--until) is fine.
  const absl::Status& tail = replayer_->tail_error();
  const bool stopped_early =
      outcome.ok() && (outcome->kind == vmm::RunOutcome::Kind::kStoppedAtPoint ||
                       outcome->kind == vmm::RunOutcome::Kind::kStopRequested);
  if (!tail.ok() && !IsTornTail(tail) && !stopped_early) return tail;
  return outcome;
}

absl::Status ReplaySession::CheckFinalEpoch(const vmm::RunOutcome& outcome) {
  if (live_) return absl::OkStatus();
  if (replayer_->FinalEpochDue()) {
    auto st = machine_->CaptureEpochState(replayer_->EpochPages());
    if (!st.ok()) return st.status();
    if (auto s = replayer_->Epoch(*st); !s.ok()) return s;
  }
  // Looking for the final epoch may have met a damaged entry (the run itself had not).
  const absl::Status& tail = replayer_->tail_error();
  if (!tail.ok() && !IsTornTail(tail)) return tail;
  if (outcome.kind == vmm::RunOutcome::Kind::kGuestExit && !replayer_->AtEnd()) {
    return absl::AbortedError(absl::StrFormat(
        "divergence at exit %u: the guest exited, but the log goes on", machine_->exit_index()));
  }
  return absl::OkStatus();
}

absl::Status ReplaySession::GoLive() {
  if (live_) return absl::FailedPreconditionError("go-live: already live");
  auto replayed = machine_->GoLive(std::make_unique<vmm::LiveInput>(replayer_->last_guest_ns()));
  if (!replayed.ok()) return replayed.status();
  replayed_ = std::move(*replayed);
  live_ = true;
  return absl::OkStatus();
}

}  // namespace ftd::replay
