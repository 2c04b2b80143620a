// Building the machine (Firecracker's `builder`): KVM objects, guest memory, CPUID, the
// devices and their back ends, at boot or from a snapshot. The run loop is machine.cc.
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
#include "vmm/machine.h"
#include "vmm/multiboot.h"
#include "vmm/net/net_backend.h"
#include "vmm/vcpu_state.h"
#include "vmm/sparse_image.h"
#include "xxhash.h"

namespace ftd::vmm {
namespace {

// A snapshot of before the sparse encoding: all of RAM in one zstd frame.
absl::Status DecodeWholeMemory(const std::string& z, uint64_t mem_size, uint8_t* host) {
  unsigned long long raw = ZSTD_getFrameContentSize(z.data(), z.size());
  if (raw != mem_size) {
    return absl::DataLossError(
        absl::StrFormat("snapshot memory image decompresses to %d bytes, the machine has %u",
                        static_cast<long long>(raw), mem_size));
  }
  size_t n = ZSTD_decompress(host, mem_size, z.data(), z.size());
  if (ZSTD_isError(n) || n != mem_size) {
    return absl::DataLossError(absl::StrFormat("snapshot memory image is corrupted (%s)",
                                               ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return absl::OkStatus();
}

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
  if (auto s = vm_.SetMemoryRegion(kRamSlot, 0, memory_.size(), memory_.host(),
                                   config_.input_timing == MachineConfig::InputTiming::kAtPoints);
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
        "cannot route time MSRs to ftd (%s); this KVM lacks KVM_CAP_X86_USER_SPACE_MSR",
        s.message()));
  }
  return absl::OkStatus();
}

absl::Status Machine::CreateDevices(const proto::DeviceStates* st) {
  auto out = [this](std::span<const uint8_t> bytes) {
    if (!console_) return;
    if (config_.output_gate == nullptr) return console_(bytes);
    config_.output_gate->Hold(
        bytes.size(),
        [this, copy = std::vector<uint8_t>(bytes.begin(), bytes.end())] { console_(copy); });
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
    if (config_.backends == MachineConfig::Backends::kLog) {
      // The log completes requests; the disk (a copy, optional) only receives the writes.
      auto deferred =
          DeferredBlockBackend::Open(config_.replay_writes_disk ? config_.disk_path : "");
      if (!deferred.ok()) return deferred.status();
      replay_disk_ = std::move(*deferred);
      backend = replay_disk_.get();
      if (!config_.disk_geometry)
        return absl::InvalidArgumentError("replay of a disk needs its recorded geometry");
      geometry = *config_.disk_geometry;
    } else {
      auto image = RawImage::Open(config_.disk_path, config_.disk_read_only, &events_);
      if (!image.ok()) return image.status();
      disk_ = std::move(*image);
      backend = disk_.get();
      geometry = config_.disk_geometry.value_or(disk_->config());
      if (config_.output_gate != nullptr && config_.gate_disk) {
        gated_disk_ = std::make_unique<GatedBlockBackend>(disk_.get(), config_.output_gate);
        backend = gated_disk_.get();
      }
    }
    if (st == nullptr) {
      blk_ = std::make_unique<VirtioBlk>(&memory_, pic_.get(), kIrqVirtioBlk, backend, geometry);
    } else {
      if (!st->has_virtio_blk())
        return absl::InvalidArgumentError("snapshot has a disk but no virtio-blk state");
      auto blk = VirtioBlk::Restore(&memory_, pic_.get(), kIrqVirtioBlk, backend, geometry,
                                    st->virtio_blk());
      if (!blk.ok()) return blk.status();
      blk_ = std::move(*blk);
    }
  } else if (st != nullptr && st->has_virtio_blk()) {
    return absl::InvalidArgumentError("snapshot has virtio-blk state but no disk path");
  }
  if (!config_.net.empty() && config_.net != "none") {
    if (config_.backends == MachineConfig::Backends::kHost) {  // from the log: nothing leaves
      auto backend = OpenNetBackend(config_.net, &events_);
      if (!backend.ok()) return backend.status();
      net_backend_ = std::move(*backend);
    }
    // Frames leave through here; output commit holds them at this seam.
    auto output = [this](std::vector<uint8_t> frame) {
      if (!net_backend_) return;
      if (config_.output_gate == nullptr) return net_backend_->Send(frame);
      const size_t bytes = frame.size();
      config_.output_gate->Hold(bytes, [this, f = std::move(frame)] { net_backend_->Send(f); });
    };
    if (st == nullptr) {
      net_ = std::make_unique<VirtioNet>(&memory_, pic_.get(), kIrqVirtioNet, config_.mac, output);
    } else {
      if (!st->has_virtio_net())
        return absl::InvalidArgumentError("snapshot has a network but no virtio-net state");
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
      {kPortPicMaster, 2, pic_->master()},
      {kPortPicSlave, 2, pic_->slave()},
      {Pic8259Pair::kElcrBase, 2, pic_->elcr()},
      {kPortPit, 4, pit_.get()},
      {kPortCmos, 2, rtc_.get()},
      {kPortDebugExit, 4, debug_exit_.get()},
      {kPortUart, 8, uart_.get()},
      {kPortMonoClock, 16, mono_clock_.get()},
  };
  for (const Reg& r : regs) {
    if (auto s = pio_.Register(r.base, r.size, r.dev); !s.ok()) return s;
  }
  if (blk_) {
    if (auto s = mmio_.Register(kVirtioBlkBase, virtio_mmio::kSize, blk_->transport()); !s.ok())
      return s;
  }
  if (net_) {
    if (auto s = mmio_.Register(kVirtioNetBase, virtio_mmio::kSize, net_->transport()); !s.ok())
      return s;
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
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return std::nullopt;
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
                                         std::move(guest.memory), std::move(input),
                                         std::move(console)));
  if (auto s = m->Setup(); !s.ok()) return s;
  if (auto s = m->CreateDevices(nullptr); !s.ok()) return s;
  if (auto s = SetMultibootEntryState(m->vcpu_, guest.boot); !s.ok()) return s;
  return m;
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Restore(const Kvm& kvm,
                                                          const proto::Snapshot& snap,
                                                          ConsoleOutput console,
                                                          RestoreOptions options) {
  MachineConfig config;
  config.mem_size = snap.config().mem_size();
  config.cmdline = snap.config().cmdline();
  config.disk_path = snap.config().disk_path();
  config.disk_read_only = snap.config().disk_read_only();
  config.net = snap.config().net().empty() ? "none" : snap.config().net();
  if (config.net != "none") {
    if (snap.config().mac().size() != 6)
      return absl::DataLossError("snapshot: the network MAC is not 6 bytes");
    std::memcpy(config.mac.data(), snap.config().mac().data(), 6);
  }
  if (options.adjust) options.adjust(config);
  auto memory = GuestMemory::Create(config.mem_size);
  if (!memory.ok()) return memory.status();
  const std::string& z = snap.memory_zstd();
  if (!snap.memory_pages().empty()) {
    if (auto s = DecodeSparse(snap.memory_pages(), z, {memory->host(), memory->size()}); !s.ok())
      return absl::DataLossError(absl::StrCat("snapshot memory image: ", s.message()));
  } else if (auto s = DecodeWholeMemory(z, config.mem_size, memory->host()); !s.ok()) {
    return s;
  }
  auto vm = Vm::Create(kvm);
  if (!vm.ok()) return vm.status();
  auto vcpu = vm->CreateVcpu(kvm, 0);
  if (!vcpu.ok()) return vcpu.status();
  if (!options.input) options.input = std::make_unique<LiveInput>(snap.guest_time_ns());
  std::unique_ptr<Machine> m(new Machine(kvm, config, std::move(*vm), std::move(*vcpu),
                                         std::move(*memory), std::move(options.input),
                                         std::move(console)));
  if (auto s = m->Setup(); !s.ok()) return s;
  if (auto s = m->CreateDevices(&snap.devices()); !s.ok()) return s;
  if (auto s = RestoreVcpu(snap.vcpu(), m->vcpu_); !s.ok()) return s;
  m->exit_index_ = snap.exit_index();
  m->published_exit_index_.store(m->exit_index_, std::memory_order_relaxed);
  m->at_point_ = !snap.point_processed();
  const std::string& in = snap.pending_serial_input();
  m->serial_input_.assign(in.begin(), in.end());
  if (snap.has_restore_check()) {
    if (auto s = m->CheckRestored(snap.restore_check()); !s.ok()) return s;
  }
  return m;
}

}  // namespace ftd::vmm
