// MC146818-style CMOS RTC at ports 0x70 (index) and 0x71 (data), 128 bytes of CMOS.
//
// The time registers (seconds 0x00, minutes 0x02, hours 0x04, day of week 0x06, day 0x07,
// month 0x08, year 0x09, century 0x32) are computed at read time from the guest RTC time
// = Clock::RealtimeNs() + offset, in status B's format (BCD or binary, 24h or 12h with
// bit 7 = PM), in UTC. Nothing runs in the background.
//
// Setting the time: while status B's SET bit is set the time registers are frozen (a
// copy is taken when SET goes 0->1) and the guest writes them freely; when SET is
// cleared, the written time becomes the new offset from the clock and the RTC runs from
// it, its next second starting then. A time-register write while SET is clear moves the
// offset at once (the sub-second phase is kept).
//
// Status A: the divider/rate bits are storage; UIP (bit 7) is computed from the guest RTC
// time: set during the last 244 us before each second boundary (never while SET is set).
// Status C: UF (bit 4) is set when the RTC second has changed since the last read of C,
// IRQF (bit 7) when a flag is set whose enable bit is set in B; reading C clears them.
// Alarm and periodic flags are never set. Status D reads 0x80 (valid RAM and time).
// No RTC interrupts are raised: IRQ 8 stays low (the guests use the clock device and
// the PIT for timers; update/alarm/periodic interrupts would need a TimedDevice).
// The NMI-disable bit (bit 7 of the index) is ignored.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/clock.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"

namespace ftd::vmm {

class CmosRtc final : public Device {
 public:
  using State = proto::CmosRtcState;

  static constexpr uint64_t kBase = 0x70;
  static constexpr uint64_t kSize = 2;
  static constexpr size_t kCmosSize = 128;

  // `clock` is not owned and must outlive the device.
  explicit CmosRtc(Clock* clock);
  static absl::StatusOr<std::unique_ptr<CmosRtc>> Restore(Clock* clock, const State& state);
  State Save() const;

  std::string_view Name() const override { return "cmos_rtc"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  int64_t GuestNs();  // reads the clock once
  bool Binary() const;
  bool Hours24() const;
  uint8_t Encode(int value) const;  // to BCD or binary per status B
  int Decode(uint8_t value) const;
  // Writes the time registers for the given guest RTC time into `regs` (a CMOS image).
  void EncodeTime(int64_t guest_ns, std::array<uint8_t, kCmosSize>& regs) const;
  // Seconds since the epoch of the time held in the time registers of `regs`.
  int64_t DecodeTime(const std::array<uint8_t, kCmosSize>& regs) const;
  uint8_t ReadData();
  void WriteData(uint8_t value);

  Clock* clock_;
  BadAccessLog bad_access_{"cmos_rtc"};
  uint8_t index_ = 0;
  std::array<uint8_t, kCmosSize> cmos_{};
  int64_t offset_ns_ = 0;
  int64_t uf_last_second_ = 0;
};

}  // namespace ftd::vmm
