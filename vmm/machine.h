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
#include "vmm/bus.h"
#include "vmm/clock.h"
#include "vmm/exit_handler.h"
#include "vmm/guest_memory.h"
#include "vmm/kvm.h"
#include "vmm/multiboot.h"
#include "vmm/vcpu_kicker.h"

namespace ftd::vmm {

class Uart16550;
class Pic8259Pair;
class Pit8254;
class CmosRtc;
class MonoClock;
class DebugExit;

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

inline constexpr uint64_t kDefaultMemSize = 64ull << 20;

using ConsoleOutput = std::function<void(std::span<const uint8_t>)>;

struct MachineConfig {
  uint64_t mem_size = kDefaultMemSize;
  std::string cmdline;
};

struct RunLimits {
  // Stop right after the exit with this index (points counted from boot) was handled.
  std::optional<uint64_t> stop_at_exit_index;
};

struct RunOutcome {
  enum class Kind {
    kGuestExit,      // the guest wrote its status to the debug-exit port
    kStoppedAtPoint, // RunLimits::stop_at_exit_index reached
    kStopRequested,  // RequestStop()
    kShutdown,       // triple fault
  };
  Kind kind = Kind::kGuestExit;
  uint32_t status = 0;
  uint64_t exit_index = 0;
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
  static absl::StatusOr<std::unique_ptr<Machine>> Boot(const Kvm& kvm, LoadedGuest guest,
                                                       ConsoleOutput console);
  // Builds a new VM from a snapshot; guest time continues from the snapshot's.
  static absl::StatusOr<std::unique_ptr<Machine>> Restore(const Kvm& kvm, const proto::Snapshot& snap,
                                                          ConsoleOutput console);
  ~Machine();

  // Runs the vCPU on the calling thread until an outcome. May be called again
  // after kStoppedAtPoint / kStopRequested to continue.
  absl::StatusOr<RunOutcome> Run(const RunLimits& limits = {});

  // Full state; only between Run() calls (the machine is then at a point).
  absl::StatusOr<proto::Snapshot> Save();

  // Thread-safe: host input for the serial console, taken by the UART at exits.
  void PostSerialInput(std::span<const uint8_t> bytes);
  // Thread-safe and async-signal-safe: make Run() return kStopRequested soon.
  void RequestStop();

  uint64_t exit_index() const { return exit_index_; }
  const MachineConfig& config() const { return config_; }
  GuestMemory& memory() { return memory_; }
  Vcpu& vcpu() { return vcpu_; }

 private:
  Machine(const Kvm& kvm, MachineConfig config, Vm vm, Vcpu vcpu, GuestMemory memory,
          uint64_t start_ns, ConsoleOutput console);
  absl::Status Setup();
  absl::Status CreateDevices(const proto::DeviceStates* restore);
  absl::Status RegisterDevices();
  void AdvanceDevices();
  void FeedSerialInput();
  absl::Status DeliverInterrupts();
  // Waits (without burning CPU) until an interrupt is pending or a stop is requested.
  absl::Status WaitWhileHalted();
  // Completes an I/O exit that KVM finishes on the next KVM_RUN, so state is consistent.
  absl::Status CompletePendingIo();

  const Kvm& kvm_;
  MachineConfig config_;
  Vm vm_;
  Vcpu vcpu_;
  GuestMemory memory_;
  HostClock clock_;
  ConsoleOutput console_;

  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  std::unique_ptr<Uart16550> uart_;
  std::unique_ptr<Pic8259Pair> pic_;
  std::unique_ptr<Pit8254> pit_;
  std::unique_ptr<CmosRtc> rtc_;
  std::unique_ptr<MonoClock> mono_clock_;
  std::unique_ptr<DebugExit> debug_exit_;
  TimeMsrs time_msrs_{&clock_};
  UnclaimedAccessLog unclaimed_;
  VcpuKicker kicker_;
  bool kicker_attached_ = false;

  uint64_t exit_index_ = 0;
  bool io_pending_ = false;  // last exit was I/O that KVM completes on the next KVM_RUN
  int wake_fd_ = -1;         // eventfd: input arrived or stop requested
  std::atomic<bool> stop_requested_{false};
  std::mutex input_mu_;
  std::deque<uint8_t> serial_input_;  // guarded by input_mu_
};

}  // namespace ftd::vmm
