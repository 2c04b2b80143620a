// 8254 programmable interval timer at ports 0x40-0x43 (1.193182 MHz input clock),
// channel 0 wired to IRQ 0. Modelled on the datasheet and QEMU's hw/timer/i8254.c.
//
// Time: counters are computed from Clock::MonotonicNs (guest time), never from host
// time: ticks since a count was loaded = floor(elapsed_ns * 1193182 / 1e9).
//
// Counting starts when a count has been written and stops at a control word for the
// channel (the count is "null" until the next count write, status bit 6); after reset no
// channel counts. Gates are tied high (port 0x61 is not modelled), so modes 1 and 5 never
// trigger. A count write restarts the counter at once in every mode (as QEMU does; the
// hardware would finish the current period in modes 2 and 3). Counting is binary even when the BCD
// flag is programmed; the flag is kept and reported in the status byte.
//
// Channel 0 interrupts (a pulse, SetIrq(0, true) then SetIrq(0, false)):
//  - modes 2 and 3 (and 6, 7): at every period boundary load + k * period, k >= 1;
//  - modes 0 and 4: once, at terminal count (load + count ticks).
// Advance(now) signals at most ONE interrupt however many boundaries have passed since
// the last call, and the schedule keeps its phase (boundaries stay at load + k * period).
// This is the choice of QEMU's and KVM's "discard" lost-tick policy: a late vCPU gets
// one tick, not a burst, and guest time stays the clock's (the guest reads the clock
// device for time, it must not count ticks). Reprogramming channel 0 first delivers an
// interrupt that was already due.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/clock.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"
#include "vmm/irq.h"
#include "vmm/timed_device.h"

namespace ftd::vmm {

class Pit8254 final : public Device, public TimedDevice {
 public:
  using State = proto::Pit8254State;

  static constexpr uint64_t kBase = 0x40;
  static constexpr uint64_t kSize = 4;
  static constexpr unsigned kIrq = 0;
  static constexpr uint64_t kFrequencyHz = 1'193'182;

  // `clock` and `irq` are not owned and must outlive the device.
  Pit8254(Clock* clock, IrqSink* irq);
  static absl::StatusOr<std::unique_ptr<Pit8254>> Restore(Clock* clock, IrqSink* irq,
                                                          const State& state);
  State Save() const;

  std::string_view Name() const override { return "pit8254"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  std::optional<uint64_t> NextDeadlineNs() const override;
  void Advance(uint64_t now_ns) override;

 private:
  struct Channel {
    uint32_t reload = 0x10000;  // 1..65536
    uint8_t mode = 0;           // M2..M0 as programmed
    bool bcd = false;
    uint8_t rw_mode = 3;  // 1 LSB, 2 MSB, 3 LSB then MSB
    uint8_t read_state = 3;
    uint8_t write_state = 3;
    uint8_t write_latch = 0;
    uint16_t latched_count = 0;
    uint8_t count_latched = 0;
    bool status_latched = false;
    uint8_t status = 0;
    bool counting = false;
    uint64_t load_time_ns = 0;
    uint64_t irqs_delivered = 0;

    // Mode with the don't-care bit folded (6 -> 2, 7 -> 3).
    uint8_t EffectiveMode() const { return mode >= 6 ? static_cast<uint8_t>(mode - 4) : mode; }
    bool Periodic() const { return EffectiveMode() == 2 || EffectiveMode() == 3; }
    bool OneShot() const { return EffectiveMode() == 0 || EffectiveMode() == 4; }
    uint64_t Ticks(uint64_t now_ns) const;
    uint16_t Count(uint64_t now_ns) const;
    bool Out(uint64_t now_ns) const;
    void Latch(uint64_t now_ns);
    // Guest time of interrupt number k (k >= 1) since the load.
    uint64_t EventNs(uint64_t k) const;
  };

  uint8_t ReadCounter(Channel& c);
  void WriteCounter(unsigned index, uint8_t value);
  void LoadCount(unsigned index, uint32_t value);
  void WriteControl(uint8_t value);

  Clock* clock_;
  IrqSink* irq_;
  BadAccessLog bad_access_{"pit8254"};
  std::array<Channel, 3> channels_;
};

}  // namespace ftd::vmm
