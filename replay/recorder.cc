#include "replay/recorder.h"

#include <time.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ftd::replay {

void FillEpoch(const vmm::EpochState& state, uint64_t guest_ns, proto::EpochHash* out) {
  out->set_guest_ns(guest_ns);
  out->set_regs(state.regs);
  *out->mutable_devices() = state.devices;
  *out->mutable_interrupts() = state.interrupts;
  for (const auto& [page, hash] : state.pages) {
    out->add_page_numbers(page);
    out->add_page_hashes(hash);
  }
}

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Create(const std::string& path,
                                                           uint64_t epoch_interval_ns) {
  return Create(
      [path](const proto::LogHeader& header) -> absl::StatusOr<std::unique_ptr<LogSink>> {
        auto w = LogWriter::Create(path, header);
        if (!w.ok()) return w.status();
        return std::unique_ptr<LogSink>(std::move(*w));
      },
      epoch_interval_ns);
}

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Create(SinkFactory open_sink,
                                                           uint64_t epoch_interval_ns) {
  if (epoch_interval_ns == 0)
    return absl::InvalidArgumentError("the epoch interval must be positive");
  return std::unique_ptr<Recorder>(new Recorder(std::move(open_sink), epoch_interval_ns));
}

uint64_t Recorder::GuestTimeNs() { return std::max(last_guest_ns_, host_.MonotonicNs()); }

void Recorder::Stamp(proto::LogHeader& header) const {
  header.set_format_version(kLogFormatVersion);
  header.set_epoch_interval_ns(epoch_interval_ns_);
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  header.set_recorded_at_unix_ns(static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

absl::Status Recorder::Start(proto::LogHeader header) {
  if (writer_) return absl::FailedPreconditionError("recorder: started twice");
  Stamp(header);
  exit_index_ = header.start_exit_index();
  next_epoch_ns_ = epoch_interval_ns_;
  header_ = std::move(header);
  auto w = open_sink_(header_);
  if (!w.ok()) return w.status();
  writer_ = std::move(*w);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LogSink>> Recorder::Restart(proto::LogHeader header) {
  if (!writer_) return absl::FailedPreconditionError("recorder: restarted before it started");
  if (!status_.ok()) return status_;
  Stamp(header);
  auto w = open_sink_(header);
  if (!w.ok()) return w.status();
  exit_index_ = header.start_exit_index();
  next_epoch_ns_ = last_guest_ns_ + epoch_interval_ns_;
  header_ = std::move(header);
  std::unique_ptr<LogSink> old = std::move(writer_);
  writer_ = std::move(*w);
  return old;
}

void Recorder::Append(proto::LogEntry& entry) {
  if (!status_.ok()) return;
  // Before Start() the machine is not running: what it takes then (e.g. frames applied
  // while a snapshot settles) is part of the state the log starts from, not of the log.
  if (!writer_) return;
  entry.set_exit_index(exit_index_);
  status_ = writer_->Append(entry);
}

uint64_t Recorder::LoggingClock::MonotonicNs() {
  uint64_t v = r_->host_.MonotonicNs();
  r_->last_guest_ns_ = v;
  proto::LogEntry e;
  e.mutable_clock()->set_monotonic_ns(v);
  r_->Append(e);
  return v;
}

int64_t Recorder::LoggingClock::RealtimeNs() {
  int64_t v = r_->host_.RealtimeNs();
  proto::LogEntry e;
  e.mutable_clock()->set_realtime(true);
  e.mutable_clock()->set_realtime_ns(v);
  r_->Append(e);
  return v;
}

absl::Status Recorder::AtPoint(uint64_t exit_index) {
  exit_index_ = exit_index;
  return status_;
}

absl::StatusOr<std::vector<vmm::HostEvent>> Recorder::Events(std::vector<vmm::HostEvent> host) {
  for (const vmm::HostEvent& ev : host) {
    proto::LogEntry e;
    if (const auto* in = std::get_if<vmm::SerialInputEvent>(&ev)) {
      e.mutable_serial()->set_data(std::string(in->bytes.begin(), in->bytes.end()));
    } else if (const auto* c = std::get_if<vmm::BlockCompletionEvent>(&ev)) {
      auto* b = e.mutable_block();
      b->set_request_id(c->request_id);
      b->set_status(c->status);
      b->set_data(std::string(c->data.begin(), c->data.end()));
    } else if (const auto* f = std::get_if<vmm::FrameReceivedEvent>(&ev)) {
      e.mutable_net()->set_frame(std::string(f->frame.begin(), f->frame.end()));
    }
    Append(e);
  }
  if (!status_.ok()) return status_;
  return host;
}

absl::Status Recorder::WaitForHost(std::optional<uint64_t> deadline_ns, int wake_fd) {
  // Sleeps on host time without logging: only what the guest then reads is an input.
  if (auto s = writer_ ? writer_->Flush() : absl::OkStatus(); !s.ok()) return s;
  return vmm::LiveInput::WaitForHostUsing(host_, deadline_ns, wake_fd);
}

std::optional<uint64_t> Recorder::TimerDue(uint64_t deadline_ns) {
  // Decided on host time without logging; only a deadline reached is an input (logged).
  const uint64_t v = host_.MonotonicNs();
  if (v < deadline_ns) return std::nullopt;
  last_guest_ns_ = v;
  proto::LogEntry e;
  e.mutable_clock()->set_monotonic_ns(v);
  e.mutable_clock()->set_timer(true);
  Append(e);
  return v;
}

bool Recorder::EpochDue() {
  // Guest time while recording is the host clock since boot. Read here without logging:
  // the decision itself is logged (the epoch entry), so a guest that never reads the clock
  // still gets its epochs.
  uint64_t now = host_.MonotonicNs();
  if (now > last_guest_ns_) epoch_time_ns_ = now;
  return status_.ok() && std::max(last_guest_ns_, epoch_time_ns_) >= next_epoch_ns_;
}

absl::Status Recorder::Epoch(const vmm::EpochState& state) {
  uint64_t guest_ns = std::max(last_guest_ns_, epoch_time_ns_);
  proto::LogEntry e;
  FillEpoch(state, guest_ns, e.mutable_epoch());
  Append(e);
  ++epochs_;
  next_epoch_ns_ = guest_ns + epoch_interval_ns_;
  return status_;
}

absl::Status Recorder::Finish(bool guest_exited, uint32_t status,
                              const vmm::EpochState* final_state) {
  if (!writer_) return status_;
  if (final_state != nullptr) {
    proto::LogEntry e;
    FillEpoch(*final_state, std::max(last_guest_ns_, host_.MonotonicNs()), e.mutable_epoch());
    e.mutable_epoch()->set_final_state(true);
    Append(e);
    ++epochs_;
  }
  proto::LogEntry e;
  e.mutable_end()->set_guest_exited(guest_exited);
  e.mutable_end()->set_guest_status(status);
  Append(e);
  if (!status_.ok()) return status_;
  return writer_->Flush(/*durable=*/true);
}

}  // namespace ftd::replay
