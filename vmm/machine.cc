#include "vmm/machine.h"

#include <errno.h>
#include <algorithm>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zstd.h>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"
#include "vmm/cpuid_policy.h"
#include "vmm/devices/cmos_rtc.h"
#include "vmm/devices/debug_exit.h"
#include "vmm/devices/mono_clock.h"
#include "vmm/devices/pic8259.h"
#include "vmm/devices/pit8254.h"
#include "vmm/devices/uart16550.h"
#include "vmm/block/deferred_backend.h"
#include "vmm/block/gated_backend.h"
#include "vmm/block/raw_image.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/net/net_backend.h"
#include "vmm/multiboot.h"
#include "vmm/vcpu_state.h"
#include "xxhash.h"

namespace ftd::vmm {
namespace {

constexpr uint32_t kRamSlot = 0;

// Multiboot's machine state at entry: 32-bit protected mode, flat segments,
// paging off, interrupts off, EAX = magic, EBX = boot information.
absl::Status SetMultibootEntryState(Vcpu& vcpu, const MultibootBoot& boot) {
  auto sregs = vcpu.GetSregs();
  if (!sregs.ok()) return sregs.status();
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x10;
  code.type = 0xb;  // execute/read, accessed
  code.present = 1;
  code.dpl = 0;
  code.db = 1;
  code.s = 1;
  code.l = 0;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x18;
  data.type = 0x3;  // read/write, accessed
  sregs->cs = code;
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
  sregs->cr0 = (sregs->cr0 & ~((1ull << 30) | (1ull << 29) | (1ull << 31))) | 0x11;  // PE|ET
  sregs->cr4 = 0;
  sregs->efer = 0;
  if (auto s = vcpu.SetSregs(*sregs); !s.ok()) return s;
  kvm_regs regs{};
  regs.rip = boot.entry;
  regs.rax = kMultibootBootMagic;
  regs.rbx = boot.info_addr;
  regs.rsp = kBootInfoAddr - 16;
  regs.rflags = 0x2;
  return vcpu.SetRegs(regs);
}

}  // namespace

Machine::Machine(const Kvm& kvm, MachineConfig config, Vm vm, Vcpu vcpu, GuestMemory memory,
                 std::unique_ptr<InputSource> input, ConsoleOutput console)
    : kvm_(kvm),
      config_(std::move(config)),
      vm_(std::move(vm)),
      vcpu_(std::move(vcpu)),
      memory_(std::move(memory)),
      input_(std::move(input)),
      console_(std::move(console)) {
  clock_.set_target(&input_->clock());
}

Machine::~Machine() {
  // Stop the back-end threads while everything they touch (events_, the kicker) lives.
  net_backend_.reset();
  disk_.reset();
}

absl::Status Machine::Setup() {
  if (!events_.status().ok()) return events_.status();
  // A posted event must not wait for the guest's next exit: kick the vCPU out of KVM_RUN.
  events_.SetWaker([this] { kicker_.KickNow(); });
  // Epoch hashes need the pages the guest writes: KVM's dirty log, when inputs are logged.
  if (auto s = vm_.SetMemoryRegion(kRamSlot, 0, memory_.size(), memory_.host(), input_->deterministic());
      !s.ok()) {
    return s;
  }
  if (config_.cpuid.empty()) {
    auto cpuid = kvm_.SupportedCpuid();
    if (!cpuid.ok()) return cpuid.status();
    cpuid_ = ApplyCpuidPolicy(std::move(*cpuid));
  } else {
    cpuid_ = config_.cpuid;  // what the recording saw
  }
  if (auto s = vcpu_.SetCpuid(cpuid_); !s.ok()) return s;
  if (auto s = vm_.FilterMsrsToUserspace(TimeMsrIndices()); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot route time MSRs to ftd (%s); this KVM lacks KVM_CAP_X86_USER_SPACE_MSR", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Machine::CreateDevices(const proto::DeviceStates* st) {
  auto out = [this](std::span<const uint8_t> bytes) {
    if (!console_) return;
    if (config_.output_gate == nullptr) return console_(bytes);
    config_.output_gate->Hold(bytes.size(), [this, copy = std::vector<uint8_t>(bytes.begin(), bytes.end())] {
      console_(copy);
    });
  };
  if (st == nullptr) {
    pic_ = std::make_unique<Pic8259Pair>();
    uart_ = std::make_unique<Uart16550>(pic_.get(), kIrqUart, out);
    pit_ = std::make_unique<Pit8254>(&clock_, pic_.get());
    rtc_ = std::make_unique<CmosRtc>(&clock_);
    mono_clock_ = std::make_unique<MonoClock>(&clock_);
    debug_exit_ = std::make_unique<DebugExit>();
    if (auto s = CreateVirtioDevices(nullptr); !s.ok()) return s;
    return RegisterDevices();
  }
  auto pic = Pic8259Pair::Restore(st->pic());
  if (!pic.ok()) return pic.status();
  pic_ = std::move(*pic);
  auto uart = Uart16550::Restore(pic_.get(), kIrqUart, out, st->uart());
  if (!uart.ok()) return uart.status();
  uart_ = std::move(*uart);
  auto pit = Pit8254::Restore(&clock_, pic_.get(), st->pit());
  if (!pit.ok()) return pit.status();
  pit_ = std::move(*pit);
  auto rtc = CmosRtc::Restore(&clock_, st->rtc());
  if (!rtc.ok()) return rtc.status();
  rtc_ = std::move(*rtc);
  auto mono = MonoClock::Restore(&clock_, st->mono_clock());
  if (!mono.ok()) return mono.status();
  mono_clock_ = std::move(*mono);
  auto dbg = DebugExit::Restore(st->debug_exit());
  if (!dbg.ok()) return dbg.status();
  debug_exit_ = std::move(*dbg);
  if (auto s = CreateVirtioDevices(st); !s.ok()) return s;
  return RegisterDevices();
}

absl::Status Machine::CreateVirtioDevices(const proto::DeviceStates* st) {
  if (!config_.disk_path.empty() || config_.disk_geometry) {
    BlockBackend* backend = nullptr;
    VirtioBlkConfig geometry;
    if (input_->replaying()) {
      // The log completes requests; the disk (a copy, optional) only receives the writes.
      auto deferred = DeferredBlockBackend::Open(config_.replay_writes_disk ? config_.disk_path : "");
      if (!deferred.ok()) return deferred.status();
      replay_disk_ = std::move(*deferred);
      backend = replay_disk_.get();
      if (!config_.disk_geometry) return absl::InvalidArgumentError("replay of a disk needs its recorded geometry");
      geometry = *config_.disk_geometry;
    } else {
      auto image = RawImage::Open(config_.disk_path, config_.disk_read_only, &events_);
      if (!image.ok()) return image.status();
      disk_ = std::move(*image);
      backend = disk_.get();
      geometry = config_.disk_geometry.value_or(disk_->config());
      if (config_.output_gate != nullptr) {
        gated_disk_ = std::make_unique<GatedBlockBackend>(disk_.get(), config_.output_gate);
        backend = gated_disk_.get();
      }
    }
    if (st == nullptr) {
      blk_ = std::make_unique<VirtioBlk>(&memory_, pic_.get(), kIrqVirtioBlk, backend, geometry);
    } else {
      if (!st->has_virtio_blk()) return absl::InvalidArgumentError("snapshot has a disk but no virtio-blk state");
      auto blk = VirtioBlk::Restore(&memory_, pic_.get(), kIrqVirtioBlk, backend, geometry,
                                    st->virtio_blk());
      if (!blk.ok()) return blk.status();
      blk_ = std::move(*blk);
    }
  } else if (st != nullptr && st->has_virtio_blk()) {
    return absl::InvalidArgumentError("snapshot has virtio-blk state but no disk path");
  }
  if (!config_.net.empty() && config_.net != "none") {
    if (!input_->replaying()) {  // a replay sends nothing and receives from the log
      auto backend = OpenNetBackend(config_.net, &events_);
      if (!backend.ok()) return backend.status();
      net_backend_ = std::move(*backend);
    }
    // Frames leave through here; output commit holds them at this seam.
    auto output = [this](std::span<const uint8_t> frame) {
      if (!net_backend_) return;
      if (config_.output_gate == nullptr) return net_backend_->Send(frame);
      config_.output_gate->Hold(frame.size(), [this, copy = std::vector<uint8_t>(frame.begin(), frame.end())] {
        net_backend_->Send(copy);
      });
    };
    if (st == nullptr) {
      net_ = std::make_unique<VirtioNet>(&memory_, pic_.get(), kIrqVirtioNet, config_.mac, output);
    } else {
      if (!st->has_virtio_net()) return absl::InvalidArgumentError("snapshot has a network but no virtio-net state");
      auto net = VirtioNet::Restore(&memory_, pic_.get(), kIrqVirtioNet, output, st->virtio_net());
      if (!net.ok()) return net.status();
      net_ = std::move(*net);
    }
  } else if (st != nullptr && st->has_virtio_net()) {
    return absl::InvalidArgumentError("snapshot has virtio-net state but no network back end");
  }
  return absl::OkStatus();
}

absl::Status Machine::RegisterDevices() {
  struct Reg {
    uint64_t base, size;
    Device* dev;
  };
  const Reg regs[] = {
      {kPortPicMaster, 2, pic_->master()},  {kPortPicSlave, 2, pic_->slave()},
      {Pic8259Pair::kElcrBase, 2, pic_->elcr()},
      {kPortPit, 4, pit_.get()},            {kPortCmos, 2, rtc_.get()},
      {kPortDebugExit, 4, debug_exit_.get()}, {kPortUart, 8, uart_.get()},
      {kPortMonoClock, 16, mono_clock_.get()},
  };
  for (const Reg& r : regs) {
    if (auto s = pio_.Register(r.base, r.size, r.dev); !s.ok()) return s;
  }
  if (blk_) {
    if (auto s = mmio_.Register(kVirtioBlkBase, virtio_mmio::kSize, blk_->transport()); !s.ok()) return s;
  }
  if (net_) {
    if (auto s = mmio_.Register(kVirtioNetBase, virtio_mmio::kSize, net_->transport()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Machine::SaveDevices(proto::DeviceStates* d, bool include_blk) const {
  *d->mutable_uart() = uart_->Save();
  *d->mutable_pic() = pic_->Save();
  *d->mutable_pit() = pit_->Save();
  *d->mutable_rtc() = rtc_->Save();
  *d->mutable_mono_clock() = mono_clock_->Save();
  *d->mutable_debug_exit() = debug_exit_->Save();
  if (blk_ && include_blk) *d->mutable_virtio_blk() = blk_->Save();
  if (net_) *d->mutable_virtio_net() = net_->Save();
}

std::string GuestCmdline(const MachineConfig& config) {
  std::string out = config.cmdline;
  auto add = [&out](uint64_t base, unsigned irq) {
    if (!out.empty()) out += ' ';
    out += absl::StrFormat("virtio_mmio.device=%u@%#x:%u", virtio_mmio::kSize, base, irq);
  };
  // A replay may have no disk file, only the recorded geometry: the guest still has the disk.
  if (!config.disk_path.empty() || config.disk_geometry) add(kVirtioBlkBase, kIrqVirtioBlk);
  if (!config.net.empty() && config.net != "none") add(kVirtioNetBase, kIrqVirtioNet);
  return out;
}

std::optional<MacAddress> ParseMac(std::string_view text) {
  MacAddress mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (char c : text.substr(3 * i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return std::nullopt;
    }
    mac[i] = static_cast<uint8_t>(v);
  }
  return mac;
}

absl::StatusOr<LoadedGuest> LoadGuest(const MachineConfig& config, std::span<const uint8_t> image) {
  auto memory = GuestMemory::Create(config.mem_size);
  if (!memory.ok()) return memory.status();
  auto boot = LoadMultiboot(image, GuestCmdline(config), *memory);
  if (!boot.ok()) return boot.status();
  return LoadedGuest{config, std::move(*memory), *boot};
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Boot(const Kvm& kvm, LoadedGuest guest,
                                                       ConsoleOutput console,
                                                       std::unique_ptr<InputSource> input) {
  if (!input) input = std::make_unique<LiveInput>(0);
  auto vm = Vm::Create(kvm);
  if (!vm.ok()) return vm.status();
  auto vcpu = vm->CreateVcpu(kvm, 0);
  if (!vcpu.ok()) return vcpu.status();
  std::unique_ptr<Machine> m(new Machine(kvm, guest.config, std::move(*vm), std::move(*vcpu),
                                         std::move(guest.memory), std::move(input), std::move(console)));
  if (auto s = m->Setup(); !s.ok()) return s;
  if (auto s = m->CreateDevices(nullptr); !s.ok()) return s;
  if (auto s = SetMultibootEntryState(m->vcpu_, guest.boot); !s.ok()) return s;
  return m;
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Restore(const Kvm& kvm, const proto::Snapshot& snap,
                                                          ConsoleOutput console, RestoreOptions options) {
  MachineConfig config;
  config.mem_size = snap.config().mem_size();
  config.cmdline = snap.config().cmdline();
  config.disk_path = snap.config().disk_path();
  config.disk_read_only = snap.config().disk_read_only();
  config.net = snap.config().net().empty() ? "none" : snap.config().net();
  if (config.net != "none") {
    if (snap.config().mac().size() != 6) return absl::DataLossError("snapshot: the network MAC is not 6 bytes");
    std::memcpy(config.mac.data(), snap.config().mac().data(), 6);
  }
  if (options.adjust) options.adjust(config);
  auto memory = GuestMemory::Create(config.mem_size);
  if (!memory.ok()) return memory.status();
  const std::string& z = snap.memory_zstd();
  unsigned long long raw = ZSTD_getFrameContentSize(z.data(), z.size());
  if (raw != config.mem_size) {
    return absl::DataLossError(absl::StrFormat(
        "snapshot memory image decompresses to %d bytes, the machine has %u", static_cast<long long>(raw),
        config.mem_size));
  }
  size_t n = ZSTD_decompress(memory->host(), memory->size(), z.data(), z.size());
  if (ZSTD_isError(n) || n != config.mem_size) {
    return absl::DataLossError(absl::StrFormat("snapshot memory image is corrupted (%s)",
                                               ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  auto vm = Vm::Create(kvm);
  if (!vm.ok()) return vm.status();
  auto vcpu = vm->CreateVcpu(kvm, 0);
  if (!vcpu.ok()) return vcpu.status();
  if (!options.input) options.input = std::make_unique<LiveInput>(snap.guest_time_ns());
  std::unique_ptr<Machine> m(new Machine(kvm, config, std::move(*vm), std::move(*vcpu),
                                         std::move(*memory), std::move(options.input), std::move(console)));
  if (auto s = m->Setup(); !s.ok()) return s;
  if (auto s = m->CreateDevices(&snap.devices()); !s.ok()) return s;
  if (auto s = RestoreVcpu(snap.vcpu(), m->vcpu_); !s.ok()) return s;
  m->exit_index_ = snap.exit_index();
  m->published_exit_index_.store(m->exit_index_, std::memory_order_relaxed);
  const std::string& in = snap.pending_serial_input();
  m->serial_input_.assign(in.begin(), in.end());
  return m;
}

absl::StatusOr<proto::Snapshot> Machine::Save() {
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
  snap.set_exit_index(exit_index_);
  snap.set_guest_time_ns(input_->GuestTimeNs());
  std::string z(ZSTD_compressBound(memory_.size()), '\0');
  size_t n = ZSTD_compress(z.data(), z.size(), memory_.host(), memory_.size(), 1);
  if (ZSTD_isError(n)) return absl::InternalError(ZSTD_getErrorName(n));
  z.resize(n);
  snap.set_memory_zstd(std::move(z));
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
      return absl::DeadlineExceededError(absl::StrFormat(
          "cannot save: %d disk request(s) still in flight after %d s (is %s on a hung filesystem?)",
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
  if (!input_->replaying() && !events_.empty()) host = events_.TakeAll();
  auto events = input_->Events(std::move(host));
  if (!events.ok()) return;  // the source keeps the error in status(); the loop stops on it
  for (HostEvent& e : *events) ApplyHostEvent(e);
}

void Machine::ApplyHostEvent(HostEvent& event) {
  if (auto* in = std::get_if<SerialInputEvent>(&event)) {
    serial_input_.insert(serial_input_.end(), in->bytes.begin(), in->bytes.end());
  } else if (auto* c = std::get_if<BlockCompletionEvent>(&event)) {
    if (replay_disk_) static_cast<DeferredBlockBackend*>(replay_disk_.get())->Completed(c->request_id);
    if (blk_) blk_->Complete(*c);
  } else if (auto* f = std::get_if<FrameReceivedEvent>(&event)) {
    if (net_) net_->ReceiveFrame(std::move(f->frame));
  }
}

void Machine::AdvanceDevices() {
  auto deadline = pit_->NextDeadlineNs();
  if (!deadline) return;
  uint64_t now = clock_.MonotonicNs();
  if (*deadline <= now) pit_->Advance(now);
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
    if (input_->replaying() && input_->AtEnd()) return absl::OkStatus();
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
    return RunOutcome{RunOutcome::Kind::kStoppedAtPoint, 0, exit_index_};
  }
  ExitContext ctx{&pio_, &mmio_, &time_msrs_, &unclaimed_};
  const bool deterministic = input_->deterministic();
  stop_at_ = limits.stop_at_exit_index;
  for (;;) {
    // Cleared before the checks below: a kick that lands after this point makes
    // the KVM_RUN below return at once instead of being lost.
    vcpu_.SetImmediateExit(false);
    if (stop_requested_.exchange(false)) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kStopRequested, 0, exit_index_};
    }
    if (input_->replaying() && input_->AtEnd()) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kLogEnd, 0, exit_index_};
    }
    // Outside input enters at points only when it is logged (determinism contract,
    // rule 3); running free, a kick may deliver a timer interrupt mid-computation.
    if (at_point_ || !deterministic) {
      if (auto s = ProcessPoint(); !s.ok()) return s;
      at_point_ = false;
    }
    if (!deterministic) {
      if (auto deadline = pit_->NextDeadlineNs()) {
        uint64_t now = clock_.MonotonicNs();
        kicker_.KickAfter(*deadline > now ? *deadline - now : 1);
      }
    }
    auto exit = vcpu_.Run();
    if (!exit.ok()) return exit.status();
    io_pending_ = std::holds_alternative<IoExit>(*exit) || std::holds_alternative<MmioExit>(*exit);
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
              "guest halted with interrupts disabled at exit %u: it can never wake up", exit_index_));
        }
        if (auto s = WaitWhileHalted(); !s.ok()) return s;
        break;
      case ExitAction::kShutdown:
        return RunOutcome{RunOutcome::Kind::kShutdown, 0, exit_index_};
      case ExitAction::kError: {
        auto regs = vcpu_.GetRegs();
        return absl::InternalError(absl::StrFormat("guest stopped at exit %u (rip=%#x): %s", exit_index_,
                                                   regs.ok() ? regs->rip : 0, r.error));
      }
    }
    if (auto status = debug_exit_->exit_status()) {
      return RunOutcome{RunOutcome::Kind::kGuestExit, *status, exit_index_};
    }
    if (limits.stop_at_exit_index && exit_index_ >= *limits.stop_at_exit_index) {
      if (auto s = CompletePendingIo(); !s.ok()) return s;
      return RunOutcome{RunOutcome::Kind::kStoppedAtPoint, 0, exit_index_};
    }
  }
}

absl::StatusOr<EpochState> Machine::CaptureEpochState(const std::vector<uint64_t>& also_pages) {
  EpochState st;
  st.exit_index = exit_index_;
  auto regs = vcpu_.GetRegs();
  if (!regs.ok()) return regs.status();
  auto sregs = vcpu_.GetSregs();
  if (!sregs.ok()) return sregs.status();
  st.regs.assign(reinterpret_cast<const char*>(&*regs), sizeof(kvm_regs));
  st.regs.append(reinterpret_cast<const char*>(&*sregs), sizeof(kvm_sregs));
  // A disk request in flight is not in the device's saved state; the epoch covers the rest.
  SaveDevices(&st.devices, /*include_blk=*/blk_ && blk_->in_flight() == 0);
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
  if (!input_->replaying()) return absl::FailedPreconditionError("go-live: the machine is not replaying");
  if (live == nullptr || live->replaying()) return absl::InvalidArgumentError("go-live: no live input source");
  // The back ends first: a failure leaves the machine replaying, as it was.
  std::unique_ptr<RawImage> image;
  if (blk_) {
    if (config_.disk_path.empty()) {
      return absl::FailedPreconditionError("go-live: the guest has a disk; give its copy with --disk");
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
    disk_ = std::move(image);
    blk_->set_backend(disk_.get());
    if (replay_disk_) static_cast<DeferredBlockBackend*>(replay_disk_.get())->HandOver(*disk_);
  }
  if (net_backend) net_backend_ = std::move(net_backend);
  at_point_ = true;
  return replayed;
}

}  // namespace ftd::vmm
