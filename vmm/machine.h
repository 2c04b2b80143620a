// The machine: one KVM VM with one vCPU, guest RAM, the PIO/MMIO buses and the PC
// devices, and the vCPU loop that delivers interrupts at exits. It knows nothing
// of logs or hosts: record/replay substitutes the Clock and the input sources.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "snapshot.pb.h"
#include "vmm/block/dirty_map.h"
#include "vmm/bus.h"
#include "vmm/clock.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/devices/virtio_net.h"
#include "vmm/exit_handler.h"
#include "vmm/guest_debug.h"
#include "vmm/guest_memory.h"
#include "vmm/host_events.h"
#include "vmm/input_source.h"
#include "vmm/kvm.h"
#include "vmm/multiboot.h"
#include "vmm/output_gate.h"
#include "vmm/vcpu_kicker.h"

namespace ftd::vmm {

class Uart16550;
class Pic8259Pair;
class Pit8254;
class CmosRtc;
class MonoClock;
class DebugExit;
class VirtioBlk;
class RawImage;
class NetBackend;

// I/O port map (the guest contract; README "Guest contract").
inline constexpr uint16_t kPortPicMaster = 0x20;
inline constexpr uint16_t kPortPit = 0x40;
inline constexpr uint16_t kPortCmos = 0x70;
inline constexpr uint16_t kPortPicSlave = 0xa0;
inline constexpr uint16_t kPortDebugExit = 0xf4;
inline constexpr uint16_t kPortUart = 0x3f8;
inline constexpr uint16_t kPortMonoClock = 0x600;
inline constexpr unsigned kIrqPit = 0;
inline constexpr unsigned kIrqUart = 4;
// virtio-mmio slots (the guest contract): fixed per device type, so a guest finds the
// disk at the same place whether or not it has a network, and vice versa.
inline constexpr uint64_t kVirtioBlkBase = 0xd0000000;
inline constexpr uint64_t kVirtioNetBase = 0xd0000200;
inline constexpr unsigned kIrqVirtioBlk = 10;
inline constexpr unsigned kIrqVirtioNet = 11;
inline constexpr MacAddress kDefaultMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

inline constexpr uint64_t kDefaultMemSize = 64ull << 20;

using ConsoleOutput = std::function<void(std::span<const uint8_t>)>;

struct MachineConfig {
  uint64_t mem_size = kDefaultMemSize;
  std::string cmdline;    // as the user gave it; the guest sees GuestCmdline()
  std::string disk_path;  // raw image for virtio-blk; empty: no disk
  bool disk_read_only = false;
  std::string net = "none";  // "none" or "tap:IFNAME"
  MacAddress mac = kDefaultMac;
  // What a replay must reproduce exactly (the log header has them); empty/unset: this
  // host's CPUID (filtered by the policy) and the disk image's own geometry.
  std::vector<kvm_cpuid_entry2> cpuid;
  std::optional<VirtioBlkConfig> disk_geometry;
  // Replaying: apply the replayed disk writes to disk_path (a replica of its own). False when
  // the disk is shared with a live primary: the replay then writes nothing, and the image
  // is opened only at go-live.
  bool replay_writes_disk = true;
  // Output commit (primary): console bytes and frames wait on it, and disk requests when
  // gate_disk. Not owned; it must outlive the machine. nullptr: outputs leave at once.
  OutputGate* output_gate = nullptr;
  // The disk is seen outside the protected world (shared with the backup): its requests are
  // outputs and wait on the gate. False: it is this host's own replica, which the backup
  // reproduces from the log, so requests go straight to it (docs/pair.md "Which outputs wait").
  bool gate_disk = true;
  // How outside input enters, chosen by whoever builds the machine (replay/'s sessions); the
  // machine never asks its input source. kAnyExit: at any exit (a kick may deliver a timer
  // interrupt mid-computation). kAtPoints: only at points, with KVM's dirty log on for epoch
  // hashes (determinism contract, rule 3): recording and replaying.
  enum class InputTiming { kAnyExit, kAtPoints };
  InputTiming input_timing = InputTiming::kAnyExit;
  // The back ends. kHost: the disk image and the tap, and host events are taken. kLog: the log
  // completes disk requests (disk_path, if set, is a replica that receives the writes), no frame
  // leaves or comes from the host, host events wait; GoLive() switches to kHost.
  enum class Backends { kHost, kLog };
  Backends backends = Backends::kHost;
};

// Machine::Restore's choices beyond the snapshot.
struct RestoreOptions {
  // Where inputs come from (default: the live host, guest time continuing from the snapshot).
  std::unique_ptr<InputSource> input;
  // Adjusts the configuration the snapshot records (e.g. this host's disk and tap, the
  // CPUID a replay must reproduce) before the machine is built.
  std::function<void(MachineConfig&)> adjust;
};

// The command line the guest gets: the user's, then one virtio_mmio.device=512@BASE:IRQ
// per virtio device (Linux's syntax), disk before network.
std::string GuestCmdline(const MachineConfig& config);
// Parses "52:54:00:12:34:56"; nullopt when malformed.
std::optional<MacAddress> ParseMac(std::string_view text);

struct RunLimits {
  // Stop right after the exit with this index (points counted from boot) was handled.
  std::optional<uint64_t> stop_at_exit_index;
};

struct RunOutcome {
  enum class Kind {
    kGuestExit,       // the guest wrote its status to the debug-exit port
    kStoppedAtPoint,  // RunLimits::stop_at_exit_index reached
    kStopRequested,   // RequestStop()
    kShutdown,        // triple fault
    kLogEnd,          // replay: the log has nothing more (the recording ended here)
    kDebugTrap,       // a SetDebug() step or breakpoint fired (between points)
  };
  Kind kind = Kind::kGuestExit;
  uint32_t status = 0;
  uint64_t exit_index = 0;
  uint64_t dr6 = 0;  // kDebugTrap: which trap (guest_debug.h)
  // kDebugTrap at a software breakpoint of SetDebug's: its address (RIP is on it, not run).
  std::optional<uint64_t> sw_breakpoint;
};

// Guest RAM with a Multiboot image loaded: everything about booting that needs no KVM,
// so a bad image is reported before /dev/kvm is touched.
struct LoadedGuest {
  MachineConfig config;
  GuestMemory memory;
  MultibootBoot boot;
};
absl::StatusOr<LoadedGuest> LoadGuest(const MachineConfig& config, std::span<const uint8_t> image);

class Machine {
 public:
  // Creates the VM around a loaded guest, at its Multiboot entry.
  // `input` defaults to the live host (LiveInput).
  static absl::StatusOr<std::unique_ptr<Machine>> Boot(
      const Kvm& kvm, LoadedGuest guest, ConsoleOutput console,
      std::unique_ptr<InputSource> input = nullptr);
  // Builds a new VM from a snapshot; guest time continues from the snapshot's.
  static absl::StatusOr<std::unique_ptr<Machine>> Restore(const Kvm& kvm,
                                                          const proto::Snapshot& snap,
                                                          ConsoleOutput console,
                                                          RestoreOptions options = {});
  ~Machine();

  // Runs the vCPU on the calling thread until an outcome. May be called again
  // after kStoppedAtPoint / kStopRequested to continue.
  absl::StatusOr<RunOutcome> Run(const RunLimits& limits = {});

  // Full state; only between Run() calls (the machine is then at a point).
  absl::StatusOr<proto::Snapshot> Save();

  // Puts `next` in place of the current input source at the current point (between Run()
  // calls) and hands the old one back to its owner, who may keep reading it: the machine
  // never frees a source it did not create.
  std::unique_ptr<InputSource> SwapInput(std::unique_ptr<InputSource> next);
  // Replay -> live at the current point: `live` (a LiveInput continuing guest time) takes
  // over as the input source, the real disk (config().disk_path) and network back ends take
  // over, requests the log left unfinished are issued again. Returns the replaying source.
  absl::StatusOr<std::unique_ptr<InputSource>> GoLive(std::unique_ptr<InputSource> live);
  // Replicated disks (docs/pair.md "Incremental disk for a rejoin"): from now on every write
  // the machine makes to its disk image (config().disk_path) is recorded durably in the
  // image's dirty-block map under `generation` before it is issued, the real disk's and a
  // replay's copy's alike. The first call opens the map, or creates it (a new lineage) when
  // there is none or it cannot be trusted. Thread-safe; the machine owns the map.
  absl::Status BeginDiskGeneration(uint64_t generation);
  // The disk's dirty-block map once BeginDiskGeneration opened it, else nullptr.
  DirtyBlockMap* disk_map();
  // The state an epoch hash covers, at the current point (dirty pages since the last call).
  absl::StatusOr<EpochState> CaptureEpochState(const std::vector<uint64_t>& also_pages = {});
  InputSource& input() { return *input_; }
  // The CPUID entries the guest sees (for the log header).
  const std::vector<kvm_cpuid_entry2>& cpuid() const { return cpuid_; }
  std::optional<VirtioBlkConfig> disk_geometry() const;

  // Sends a frame of the host's own on the network back end (not a guest output: no
  // output commit), e.g. the announcement of the guest's MAC after a failover. False when
  // the machine has no live network back end.
  bool SendHostFrame(std::span<const uint8_t> frame);

  // Thread-safe: host input for the serial console, taken by the UART at exits (posted
  // as a host event, so it enters the machine at a point).
  void PostSerialInput(std::span<const uint8_t> bytes);
  // Thread-safe and async-signal-safe: make Run() return kStopRequested soon.
  void RequestStop();
  // Thread-safe: make Run() return kStoppedAtPoint at the next point (a debugger's
  // interrupt: the machine stops where a replay can stop and be found again).
  void RequestStopAtPoint() { stop_at_point_.store(true); }

  // A debugger's traps for the following Run() calls (guest_debug.h); an empty request
  // clears them. They never change what the guest does; Run() returns kDebugTrap for each.
  absl::Status SetDebug(DebugRequest request);
  // Whether Save() can run now without waiting for the host: at a point, no disk request
  // in flight (a replay's requests complete from the log, so waiting would change it).
  bool CanSaveWithoutWaiting() const;

  uint64_t exit_index() const { return exit_index_; }
  // False when the last Run() was stopped (a kick: RequestStop) after the guest had run on
  // from its last point: the state is then between points, where no replay can stop, so it
  // is no final state to check a replay against.
  bool at_point() const { return !ran_since_point_; }
  // Thread-safe: the last point reached, for status reports from other threads.
  uint64_t published_exit_index() const {
    return published_exit_index_.load(std::memory_order_relaxed);
  }
  // The registers as they were when the exit at RunLimits::stop_at_exit_index happened
  // (before ftd handled it): what `ftd replay --until N --inspect regs` shows.
  const std::string& regs_at_stop() const { return regs_at_stop_; }
  const MachineConfig& config() const { return config_; }
  GuestMemory& memory() { return memory_; }
  Vcpu& vcpu() { return vcpu_; }

 private:
  Machine(const Kvm& kvm, MachineConfig config, Vm vm, Vcpu vcpu, GuestMemory memory,
          std::unique_ptr<InputSource> input, ConsoleOutput console);
  // The work done at a point: time-driven devices, host events, serial input, interrupts.
  absl::Status ProcessPoint();
  absl::StatusOr<proto::Snapshot> SaveState();
  absl::StatusOr<EpochState> CaptureState(const std::vector<uint64_t>& also_pages);
  // Registers as an epoch hashes them, devices and interrupt state: what an epoch and a
  // snapshot's restore check compare.
  absl::StatusOr<proto::RestoreCheck> CaptureVisibleState(bool include_blk);
  // Restore's last step: the new machine must look exactly like the saved one.
  absl::Status CheckRestored(const proto::RestoreCheck& saved);
  // Takes a new point: tells the input source, then checks its status.
  absl::Status EnterPoint();
  absl::Status Setup();
  absl::Status CreateDevices(const proto::DeviceStates* restore);
  absl::Status CreateVirtioDevices(const proto::DeviceStates* restore);
  absl::Status RegisterDevices();
  // The device list of snapshots and epoch hashes (one list for both).
  void SaveDevices(proto::DeviceStates* d, bool include_blk) const;
  void AdvanceDevices();
  // Takes every queued host event and applies it to its device (at a point): the one
  // place where outside input enters the machine, and what record/replay will log.
  void ApplyHostEvents();
  void ApplyHostEvent(HostEvent& event);
  void FeedSerialInput();
  // Before a snapshot: applies queued events and waits until no disk request is in flight.
  absl::Status SettleHostIo();
  absl::Status DeliverInterrupts();
  // Waits (without burning CPU) until an interrupt is pending or a stop is requested.
  absl::Status WaitWhileHalted();
  // Completes an I/O exit that KVM finishes on the next KVM_RUN, so state is consistent.
  absl::Status CompletePendingIo();

  static constexpr uint32_t kRamSlot = 0;

  const Kvm& kvm_;
  MachineConfig config_;
  Vm vm_;
  Vcpu vcpu_;
  GuestMemory memory_;
  std::unique_ptr<InputSource> input_;
  ForwardingClock clock_;  // -> input_->clock()
  ConsoleOutput console_;
  std::vector<kvm_cpuid_entry2> cpuid_;
  HostEventQueue events_;

  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  std::unique_ptr<Uart16550> uart_;
  std::unique_ptr<Pic8259Pair> pic_;
  std::unique_ptr<Pit8254> pit_;
  std::unique_ptr<CmosRtc> rtc_;
  std::unique_ptr<MonoClock> mono_clock_;
  std::unique_ptr<DebugExit> debug_exit_;
  // Back ends before the devices that use them; both after events_, which their threads
  // post to (and ~Machine stops the back-end threads first, while the kicker still lives).
  // The disk's dirty-block map (BeginDiskGeneration), before the back ends that record in it.
  std::mutex disk_map_mu_;  // opening the map and handing it to the back ends
  std::unique_ptr<DirtyBlockMap> disk_map_;
  std::unique_ptr<RawImage> disk_;
  std::unique_ptr<BlockBackend> replay_disk_;  // replay: takes requests, the log completes them
  std::unique_ptr<BlockBackend> gated_disk_;   // output commit: requests wait for release
  std::unique_ptr<NetBackend> net_backend_;
  std::unique_ptr<VirtioBlk> blk_;
  std::unique_ptr<VirtioNet> net_;
  TimeMsrs time_msrs_{&clock_};
  UnclaimedAccessLog unclaimed_;
  VcpuKicker kicker_;
  bool kicker_attached_ = false;

  uint64_t exit_index_ = 0;
  std::atomic<uint64_t> published_exit_index_{0};
  bool at_point_ = true;
  std::optional<uint64_t> stop_at_;  // the current Run's stop point
  std::string regs_at_stop_;         // kvm_regs + kvm_sregs at that point
  bool ran_since_point_ = false;     // the guest ran after the last point (a kick stopped it)
  bool io_pending_ = false;          // last exit was I/O that KVM completes on the next KVM_RUN
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> stop_at_point_{false};
  // Guest bytes under the trap bytes SetDebug wrote (by guest-physical address).
  std::vector<std::pair<SwBreakpoint, uint8_t>> patched_;
  // The trap byte a step put on a handler, for one KVM_RUN (guest_debug.h).
  std::optional<std::pair<SwBreakpoint, uint8_t>> step_patch_;
  // Puts the original bytes back (for a snapshot or an epoch hash) or the trap bytes again.
  void ShowPatches(bool original);
  bool Patched(uint64_t gpa) const;
  // After KVM_RUN: a port read at a trap byte is a breakpoint (or a step's stop), not a point.
  // Undoes the read and returns the outcome; nothing for any other exit.
  absl::StatusOr<std::optional<RunOutcome>> TakeTrapByte(const VcpuExit& exit);
  DebugRequest debug_;
  bool debug_applied_ = false;            // KVM holds traps (cleared when debug_ empties)
  std::deque<uint8_t> serial_input_;  // taken from host events, not yet taken by the UART
};

}  // namespace ftd::vmm
