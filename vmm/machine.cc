// The machine at run time (Firecracker's `vstate`): the vCPU loop, points and host events,
// snapshots, epoch state and go-live. Building it is machine_builder.cc.
#include "vmm/machine.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"
#include "vmm/block/deferred_backend.h"
#include "vmm/block/gated_backend.h"
#include "vmm/block/raw_image.h"
#include "vmm/cpuid_policy.h"
#include "vmm/devices/cmos_rtc.h"
#include "vmm/devices/debug_exit.h"
#include "vmm/devices/mono_clock.h"
#include "vmm/devices/pic8259.h"
#include "vmm/devices/pit8254.h"
#include "vmm/devices/uart16550.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/multiboot.h"
#include "vmm/net/net_backend.h"
#include "vmm/vcpu_state.h"
#include "google/protobuf/util/message_differencer.h"
#include "vmm/sparse_image.h"
#include "xxhash.h"

namespace ftd::vmm {

absl::StatusOr<proto::Snapshot> Machine::Save() {
  ShowPatches(true);
  auto snap = SaveState();
  ShowPatches(false);
  return snap;
}

absl::StatusOr<proto::Snapshot> Machine::SaveState() {
  if (auto s = CompletePendingIo(); !s.ok()) return s;
  if (auto s = SettleHostIo(); !s.ok()) return s;
  proto::Snapshot snap;
  snap.mutable_config()->set_mem_size(config_.mem_size);
  snap.mutable_config()->set_cmdline(config_.cmdline);
  snap.mutable_config()->set_disk_path(config_.disk_path);
  snap.mutable_config()->set_disk_read_only(config_.disk_read_only);
  if (net_) {
    snap.mutable_config()->set_net(config_.net);
    snap.mutable_config()->set_mac(std::string(config_.mac.begin(), config_.mac.end()));
  }
  auto vcpu = SaveVcpu(kvm_, vcpu_);
  if (!vcpu.ok()) return vcpu.status();
  *snap.mutable_vcpu() = std::move(*vcpu);
  SaveDevices(snap.mutable_devices(), /*include_blk=*/true);
  auto check = CaptureVisibleState(/*include_blk=*/true);
  if (!check.ok()) return check.status();
  *snap.mutable_restore_check() = std::move(*check);
  snap.set_point_processed(!at_point_);
  snap.set_exit_index(exit_index_);
  snap.set_guest_time_ns(input_->GuestTimeNs());
  // The memfd's holes are pages nobody ever wrote: left out without touching them.
  auto mem = EncodeSparse({memory_.host(), memory_.size()}, 1,
                          FileHoles(memory_.memfd(), memory_.size()));
  if (!mem.ok()) return mem.status();
  snap.set_memory_zstd(std::move(mem->zstd));
  snap.set_memory_pages(std::move(mem->bitmap));
  snap.set_pending_serial_input(std::string(serial_input_.begin(), serial_input_.end()));
  return snap;
}

absl::Status Machine::SettleHostIo() {
  // A request in flight lives only in the I/O thread and the device's pending list, which
  // a snapshot does not hold: let it complete (at this point) first.  With nothing in flight
  // the snapshot takes nothing from the host: events still queued (a frame, serial input)
  // stay queued and reach the guest at its next point, where a recorder logs them.  So a
  // snapshot at the boot point is the state of a fresh boot of the image, which is what a
  // backup that boots the image has (a frame settled into the snapshot here would be in the
  // primary's virtio-net and nowhere in the log).
  constexpr int kTimeoutMs = 30'000;
  for (int waited = 0;; waited += 100) {
    if (!blk_ || blk_->in_flight() == 0) return absl::OkStatus();
    ApplyHostEvents();
    if (!blk_ || blk_->in_flight() == 0) return absl::OkStatus();
    if (waited >= kTimeoutMs) {
      return absl::DeadlineExceededError(
          absl::StrFormat("cannot save: %d disk request(s) still in flight after %d s (is %s on a "
                          "hung filesystem?)",
                          blk_->in_flight(), kTimeoutMs / 1000, config_.disk_path));
    }
    pollfd pfd{events_.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0) events_.ClearWake();
  }
}

bool Machine::SendHostFrame(std::span<const uint8_t> frame) {
  if (!net_backend_) return false;
  net_backend_->Send(frame);
  return true;
}

void Machine::PostSerialInput(std::span<const uint8_t> bytes) {
  events_.Post(SerialInputEvent{{bytes.begin(), bytes.end()}});
}

void Machine::RequestStop() {
  stop_requested_.store(true);
  events_.Wake();
  kicker_.KickNow();
}

void Machine::ApplyHostEvents() {
  // Replay takes nothing from the host: its events come from the log.
  std::vector<HostEvent> host;
  if (config_.backends == MachineConfig::Backends::kHost && !events_.empty())
    host = events_.TakeAll();
  auto events = input_->Events(std::move(host));
  if (!events.ok()) return;  // the source keeps the error in status(); the loop stops on it
  for (HostEvent& e : *events) ApplyHostEvent(e);
}

void Machine::ApplyHostEvent(HostEvent& event) {
  if (auto* in = std::get_if<SerialInputEvent>(&event)) {
    serial_input_.insert(serial_input_.end(), in->bytes.begin(), in->bytes.end());
  } else if (auto* c = std::get_if<BlockCompletionEvent>(&event)) {
    if (replay_disk_)
      static_cast<DeferredBlockBackend*>(replay_disk_.get())->Completed(c->request_id);
    if (blk_) blk_->Complete(*c);
  } else if (auto* f = std::get_if<FrameReceivedEvent>(&event)) {
    if (net_) net_->ReceiveFrame(std::move(f->frame));
  }
}

void Machine::AdvanceDevices() {
  auto deadline = pit_->NextDeadlineNs();
  if (!deadline) return;
  if (auto now = input_->TimerDue(*deadline)) pit_->Advance(*now);
}

void Machine::FeedSerialInput() {
  if (serial_input_.empty()) return;
  std::vector<uint8_t> chunk(serial_input_.begin(), serial_input_.end());
  size_t taken = uart_->ReceiveInput(chunk);
  serial_input_.erase(serial_input_.begin(), serial_input_.begin() + static_cast<long>(taken));
}

absl::Status Machine::DeliverInterrupts() {
  if (!pic_->HasPendingInterrupt()) {
    vcpu_.RequestInterruptWindow(false);
    return absl::OkStatus();
  }
  if (vcpu_.ReadyForInterrupt()) {
    if (auto s = vcpu_.InjectInterrupt(pic_->Acknowledge()); !s.ok()) return s;
    // Another one waiting: exit as soon as the guest can take it.
    vcpu_.RequestInterruptWindow(pic_->HasPendingInterrupt());
    return absl::OkStatus();
  }
  vcpu_.RequestInterruptWindow(true);
  return absl::OkStatus();
}

absl::Status Machine::WaitWhileHalted() {
  // Each round reads the clock and takes host events at this same point (HLT); a
  // recording logs them, and a replay repeats the rounds from the log without waiting.
  for (;;) {
    AdvanceDevices();
    ApplyHostEvents();
    FeedSerialInput();
    if (auto s = input_->status(); !s.ok()) return s;
    if (pic_->HasPendingInterrupt() || stop_requested_.load()) return absl::OkStatus();
    if (input_->AtEnd()) return absl::OkStatus();
    if (auto s = input_->WaitForHost(pit_->NextDeadlineNs(), events_.fd()); !s.ok()) return s;
    events_.ClearWake();
  }
}

absl::Status Machine::CompletePendingIo() {
  if (!io_pending_) return absl::OkStatus();
  vcpu_.SetImmediateExit(true);
  auto e = vcpu_.Run();
  vcpu_.SetImmediateExit(false);
  if (!e.ok()) return e.status();
  io_pending_ = false;
  return absl::OkStatus();
}

absl::Status Machine::EnterPoint() {
  if (auto s = input_->AtPoint(exit_index_); !s.ok()) return s;
  if (stop_at_ && *stop_at_ == exit_index_) {
    auto regs = vcpu_.GetRegs();
    auto sregs = vcpu_.GetSregs();
    if (regs.ok() && sregs.ok()) {
      regs_at_stop_.assign(reinterpret_cast<const char*>(&*regs), sizeof(kvm_regs));
      regs_at_stop_.append(reinterpret_cast<const char*>(&*sregs), sizeof(kvm_sregs));
    }
  }
  if (input_->EpochDue()) {
    auto st = CaptureEpochState(input_->EpochPages());
    if (!st.ok()) return st.status();
    if (auto s = input_->Epoch(*st); !s.ok()) return s;
  }
  return input_->status();
}

absl::Status Machine::ProcessPoint() {
  AdvanceDevices();
  ApplyHostEvents();
  FeedSerialInput();
  if (auto s = DeliverInterrupts(); !s.ok()) return s;
  return input_->status();
}

absl::StatusOr<RunOutcome> Machine::Run(const RunLimits& limits) {
  if (!kicker_attached_) {
    if (auto s = kicker_.Attach(&vcpu_); !s.ok()) return s;
    kicker_attached_ = true;
  }
  if (limits.stop_at_exit_index && *limits.stop_at_exit_index <= exit_index_) {
    return RunOutcome{RunOutcome::Kind::kStoppedAtPoint, 0, exit_index_, 0, std::nullopt};
  }
  ExitContext ctx{&pio_, &mmio_, &time_msrs_, &unclaimed_};
  const bool deterministic = config_.input_timing == MachineConfig::InputTiming::kAtPoints;
  stop_at_ = limits.stop_at_exit_index;
  for (;;) {
    // Cleared before the checks below: a kick that lands after this point makes
    // the KVM_RUN below return at once instead of being lost.
    vcpu_.SetImmediateExit(false);
    if (stop_requested_.exchange(false)) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kStopRequested, 0, exit_index_, 0, std::nullopt};
    }
    if (input_->AtEnd()) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kLogEnd, 0, exit_index_, 0, std::nullopt};
    }
    // Outside input enters at points only when it is logged (determinism contract,
    // rule 3); running free, a kick may deliver a timer interrupt mid-computation.
    if (at_point_ || !deterministic) {
      if (auto s = ProcessPoint(); !s.ok()) return s;
      at_point_ = false;
      // A log whose last inputs were this point's (the recording ran on from here and was
      // stopped before its next point) ends here, not at the next point.
      if (input_->AtEnd()) {
        if (auto s = CompletePendingIo(); !s.ok()) return s;
        return RunOutcome{RunOutcome::Kind::kLogEnd, 0, exit_index_, 0, std::nullopt};
      }
    }
    if (!deterministic) {
      if (auto deadline = pit_->NextDeadlineNs()) {
        uint64_t now = clock_.MonotonicNs();
        kicker_.KickAfter(*deadline > now ? *deadline - now : 1);
      }
    }
    const bool kvm_traps = debug_.step || !debug_.breakpoints.empty();
    if (kvm_traps || debug_applied_) {
      auto stop = ApplyGuestDebug(vcpu_, memory_, debug_);
      if (!stop.ok()) return stop.status();
      debug_applied_ = kvm_traps;
      // A step that delivers a vector stops on its handler: a trap byte there for this entry.
      if (*stop && !Patched((*stop)->gpa)) {
        step_patch_.emplace(**stop, memory_.host()[(*stop)->gpa]);
        memory_.host()[(*stop)->gpa] = kTrapByte;
      }
    }
    auto exit = vcpu_.Run();
    if (!exit.ok()) return exit.status();
    auto trap = TakeTrapByte(*exit);
    if (step_patch_) {
      memory_.host()[step_patch_->first.gpa] = step_patch_->second;
      step_patch_.reset();
    }
    if (!trap.ok()) return trap.status();
    if (*trap) {
      ran_since_point_ = true;
      return **trap;
    }
    io_pending_ = std::holds_alternative<IoExit>(*exit) || std::holds_alternative<MmioExit>(*exit);
    ran_since_point_ = !IsPoint(*exit);
    if (IsPoint(*exit)) {
      ++exit_index_;
      published_exit_index_.store(exit_index_, std::memory_order_relaxed);
      at_point_ = true;
      if (auto s = EnterPoint(); !s.ok()) return s;
    }
    ExitResult r = HandleExit(*exit, ctx);
    if (auto s = input_->status(); !s.ok()) return s;
    switch (r.action) {
      case ExitAction::kContinue:
      case ExitAction::kIrqWindow:
      case ExitAction::kInterrupted:
        break;
      case ExitAction::kHalt:
        if (vcpu_.run()->if_flag == 0) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "guest halted with interrupts disabled at exit %u: it can never wake up",
              exit_index_));
        }
        if (auto s = WaitWhileHalted(); !s.ok()) return s;
        break;
      case ExitAction::kShutdown:
        return RunOutcome{RunOutcome::Kind::kShutdown, 0, exit_index_, 0, std::nullopt};
      case ExitAction::kDebugTrap:
        return RunOutcome{RunOutcome::Kind::kDebugTrap, 0, exit_index_,
                          std::get<DebugTrapExit>(*exit).dr6, std::nullopt};
      case ExitAction::kError: {
        auto regs = vcpu_.GetRegs();
        return absl::InternalError(absl::StrFormat("guest stopped at exit %u (rip=%#x): %s",
                                                   exit_index_, regs.ok() ? regs->rip : 0,
                                                   r.error));
      }
    }
    if (auto status = debug_exit_->exit_status()) {
      return RunOutcome{RunOutcome::Kind::kGuestExit, *status, exit_index_, 0, std::nullopt};
    }
    if ((limits.stop_at_exit_index && exit_index_ >= *limits.stop_at_exit_index) ||
        (at_point_ && stop_at_point_.exchange(false))) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kStoppedAtPoint, 0, exit_index_, 0, std::nullopt};
    }
  }
}

absl::StatusOr<EpochState> Machine::CaptureEpochState(const std::vector<uint64_t>& also_pages) {
  ShowPatches(true);
  auto st = CaptureState(also_pages);
  ShowPatches(false);
  return st;
}

absl::StatusOr<EpochState> Machine::CaptureState(const std::vector<uint64_t>& also_pages) {
  EpochState st;
  st.exit_index = exit_index_;
  // A disk request in flight is not in the device's saved state; the epoch covers the rest.
  auto visible = CaptureVisibleState(/*include_blk=*/blk_ && blk_->in_flight() == 0);
  if (!visible.ok()) return visible.status();
  st.regs = std::move(*visible->mutable_regs());
  st.devices = std::move(*visible->mutable_devices());
  st.interrupts = std::move(*visible->mutable_interrupts());
  auto kvm_dirty = vm_.GetDirtyLog(kRamSlot, memory_.size());
  if (!kvm_dirty.ok()) return kvm_dirty.status();
  std::vector<uint64_t> pages = memory_.TakeVmmDirtyPages();
  for (uint64_t p : also_pages) {
    if (p < memory_.size() / kPageSize) pages.push_back(p);
  }
  for (size_t w = 0; w < kvm_dirty->size(); ++w) {
    for (uint64_t bits = (*kvm_dirty)[w]; bits != 0; bits &= bits - 1) {
      pages.push_back(w * 64 + static_cast<uint64_t>(__builtin_ctzll(bits)));
    }
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  st.pages.reserve(pages.size());
  for (uint64_t p : pages) {
    st.pages.emplace_back(p, XXH3_64bits(memory_.host() + p * kPageSize, kPageSize));
  }
  return st;
}

absl::StatusOr<proto::RestoreCheck> Machine::CaptureVisibleState(bool include_blk) {
  proto::RestoreCheck out;
  auto regs = vcpu_.GetRegs();
  if (!regs.ok()) return regs.status();
  auto sregs = vcpu_.GetSregs();
  if (!sregs.ok()) return sregs.status();
  // RF and TF are a debugger's (KVM sets them to step or resume from a breakpoint; our
  // guests never do): an epoch leaves them out, so a replay under gdb hashes as recorded.
  kvm_regs hashed = *regs;
  hashed.rflags &= ~((1ull << 16) | (1ull << 8));
  std::string bytes(reinterpret_cast<const char*>(&hashed), sizeof(kvm_regs));
  bytes.append(reinterpret_cast<const char*>(&*sregs), sizeof(kvm_sregs));
  out.set_regs(std::move(bytes));
  SaveDevices(out.mutable_devices(), include_blk);
  auto irq = CaptureInterruptState(vcpu_);
  if (!irq.ok()) return irq.status();
  *out.mutable_interrupts() = std::move(*irq);
  return out;
}

absl::Status Machine::CheckRestored(const proto::RestoreCheck& saved) {
  auto now = CaptureVisibleState(/*include_blk=*/true);
  if (!now.ok()) return now.status();
  std::string what;
  if (now->regs() != saved.regs()) {
    const std::string& a = saved.regs();
    const std::string& b = now->regs();
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    what += absl::StrFormat("  %s, from byte %u\n", i < sizeof(kvm_regs) ? "kvm_regs" : "kvm_sregs",
                            i < sizeof(kvm_regs) ? i : i - sizeof(kvm_regs));
  }
  google::protobuf::util::MessageDifferencer d;
  std::string diff;
  d.ReportDifferencesToString(&diff);
  if (!d.Compare(saved.devices(), now->devices())) what += "  devices: " + diff;
  diff.clear();
  google::protobuf::util::MessageDifferencer di;
  di.ReportDifferencesToString(&diff);
  if (!di.Compare(saved.interrupts(), now->interrupts())) what += "  interrupts: " + diff;
  if (what.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "restore: the restored machine differs from the saved one (state not restored "
      "identically):\n",
      what));
}

absl::Status Machine::SetDebug(DebugRequest request) {
  if (request.breakpoints.size() > kMaxHwBreakpoints) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "at most %u breakpoints and watchpoints (the debug registers)", kMaxHwBreakpoints));
  }
  for (const SwBreakpoint& b : request.sw_breakpoints) {
    if (!memory_.InRange(b.gpa, 1)) {
      return absl::InvalidArgumentError(absl::StrFormat("breakpoint %#x: not in guest RAM", b.addr));
    }
  }
  // The trap bytes change only through here: the old ones out, the new ones in (by the host's
  // mapping, so KVM's dirty log does not see them; epochs and snapshots put the bytes back).
  ShowPatches(true);
  patched_.clear();
  for (const SwBreakpoint& b : request.sw_breakpoints) {
    if (!Patched(b.gpa)) patched_.emplace_back(b, memory_.host()[b.gpa]);
  }
  ShowPatches(false);
  debug_ = std::move(request);
  return absl::OkStatus();
}

void Machine::ShowPatches(bool original) {
  for (const auto& [b, orig] : patched_) memory_.host()[b.gpa] = original ? orig : kTrapByte;
}

bool Machine::Patched(uint64_t gpa) const {
  for (const auto& [b, orig] : patched_) {
    if (b.gpa == gpa) return true;
  }
  return false;
}

absl::StatusOr<std::optional<RunOutcome>> Machine::TakeTrapByte(const VcpuExit& exit) {
  const auto* io = std::get_if<IoExit>(&exit);
  if (io == nullptr || io->is_write || io->size != 1 || io->count != 1 ||
      (patched_.empty() && !step_patch_)) {
    return std::optional<RunOutcome>();
  }
  auto regs = vcpu_.GetRegs();
  if (!regs.ok()) return regs.status();
  std::optional<RunOutcome> out;
  for (const auto& [b, orig] : patched_) {
    if (b.addr == regs->rip) {
      out = RunOutcome{RunOutcome::Kind::kDebugTrap, 0, exit_index_, 0, b.addr};
      break;
    }
  }
  if (!out && step_patch_ && step_patch_->first.addr == regs->rip) {
    out = RunOutcome{RunOutcome::Kind::kDebugTrap, 0, exit_index_, kDr6SingleStep, std::nullopt};
  }
  if (!out) return out;  // a port read of the guest's own
  // Ours: KVM finishes the read at the next KVM_RUN (AL, RIP + 1); finish it now, with the
  // guest out of reach (immediate exit), and put the registers back as they were.
  io_pending_ = true;
  if (auto s = CompletePendingIo(); !s.ok()) return s;
  if (auto s = vcpu_.SetRegs(*regs); !s.ok()) return s;
  return out;
}

bool Machine::CanSaveWithoutWaiting() const {
  return at_point() && (!blk_ || blk_->in_flight() == 0);
}

std::optional<VirtioBlkConfig> Machine::disk_geometry() const {
  if (disk_) return disk_->config();
  return config_.disk_geometry;
}

std::unique_ptr<InputSource> Machine::SwapInput(std::unique_ptr<InputSource> next) {
  clock_.set_target(&next->clock());
  std::swap(input_, next);
  return next;
}

absl::StatusOr<std::unique_ptr<InputSource>> Machine::GoLive(std::unique_ptr<InputSource> live) {
  if (config_.backends != MachineConfig::Backends::kLog) {
    return absl::FailedPreconditionError("go-live: the machine is not replaying");
  }
  if (live == nullptr) return absl::InvalidArgumentError("go-live: no live input source");
  // The back ends first: a failure leaves the machine replaying, as it was.
  std::unique_ptr<RawImage> image;
  if (blk_) {
    if (config_.disk_path.empty()) {
      return absl::FailedPreconditionError(
          "go-live: the guest has a disk; give its copy with --disk");
    }
    auto opened = RawImage::Open(config_.disk_path, config_.disk_read_only, &events_);
    if (!opened.ok()) return opened.status();
    image = std::move(*opened);
  }
  std::unique_ptr<NetBackend> net_backend;
  if (net_ && !net_backend_) {
    auto opened = OpenNetBackend(config_.net, &events_);
    if (!opened.ok()) return opened.status();
    net_backend = std::move(*opened);
  }
  if (auto s = CompletePendingIo(); !s.ok()) return s;
  std::unique_ptr<InputSource> replayed = SwapInput(std::move(live));
  if (image) {
    {
      std::lock_guard l(disk_map_mu_);
      image->set_dirty_map(disk_map_.get());  // before the handed-over writes
    }
    disk_ = std::move(image);
    blk_->set_backend(disk_.get());
    if (replay_disk_) static_cast<DeferredBlockBackend*>(replay_disk_.get())->HandOver(*disk_);
  }
  if (net_backend) net_backend_ = std::move(net_backend);
  config_.backends = MachineConfig::Backends::kHost;
  config_.input_timing = MachineConfig::InputTiming::kAnyExit;
  at_point_ = true;
  return replayed;
}

absl::Status Machine::BeginDiskGeneration(uint64_t generation) {
  std::lock_guard l(disk_map_mu_);
  if (!disk_map_) {
    if (!blk_ || config_.disk_path.empty() || config_.disk_read_only) {
      return absl::FailedPreconditionError("disk map: the machine writes no disk image");
    }
    if (config_.backends == MachineConfig::Backends::kLog && !config_.replay_writes_disk) {
      return absl::FailedPreconditionError(
          "disk map: the disk is shared with a live primary, this machine does not write it");
    }
    const uint64_t size = disk_geometry()->capacity_bytes;
    auto map = DirtyBlockMap::OpenOrCreate(config_.disk_path, size);
    if (!map.ok()) {
      // Never trusted: a new lineage starts, so no partner's replica matches it (full copy).
      spdlog::warn("{}; starting a new map", std::string(map.status().message()));
      map = DirtyBlockMap::Create(config_.disk_path, size, DirtyBlockMap::NewLineage());
      if (!map.ok()) {
        // Untracked from here: no map may stay that a later rejoin could believe.
        if (auto d = DirtyBlockMap::Discard(config_.disk_path); !d.ok())
          return absl::InternalError(absl::StrCat(map.status().message(), "; ", d.message()));
        return map.status();
      }
    }
    disk_map_ = std::move(*map);
    if (disk_) disk_->set_dirty_map(disk_map_.get());
    if (replay_disk_)
      static_cast<DeferredBlockBackend*>(replay_disk_.get())->set_dirty_map(disk_map_.get());
  }
  return disk_map_->BeginGeneration(generation);
}

DirtyBlockMap* Machine::disk_map() {
  std::lock_guard l(disk_map_mu_);
  return disk_map_.get();
}

}  // namespace ftd::vmm
