// The PC/AT pair of 8259A interrupt controllers: master at ports 0x20-0x21, slave at
// 0xa0-0xa1 cascaded on master line 2, and the edge/level control registers (ELCR) at
// 0x4d0-0x4d1. Modelled on the datasheet and QEMU's hw/intc/i8259.c.
//
// Devices drive lines through IrqSink::SetIrq (IRQ 0-7 master, 8-15 slave; line 2 is
// the cascade and cannot be driven). Edge-triggered lines (the default) latch a request
// on a low->high transition; the last level of every line is kept, also across ICW1,
// so a line that is already high must go low and high again to request (datasheet:
// "following initialization an IR input must make a low-to-high transition"). Lines
// selected in the ELCR are level triggered.
//
// The vCPU loop asks HasPendingInterrupt() at each exit and, when it may inject, calls
// Acknowledge() for the vector: that is the INTA cycle.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"
#include "vmm/irq.h"

namespace ftd::vmm {

class Pic8259Pair final : public IrqSink {
 public:
  using State = proto::Pic8259State;

  static constexpr uint64_t kMasterBase = 0x20;
  static constexpr uint64_t kSlaveBase = 0xa0;
  static constexpr uint64_t kElcrBase = 0x4d0;
  static constexpr uint64_t kChipSize = 2;
  static constexpr uint64_t kElcrSize = 2;

  Pic8259Pair();
  // The port adapters point back at the pair: it never moves.
  Pic8259Pair(const Pic8259Pair&) = delete;
  Pic8259Pair& operator=(const Pic8259Pair&) = delete;
  static absl::StatusOr<std::unique_ptr<Pic8259Pair>> Restore(const State& state);
  State Save() const;

  // The bus devices for the three port ranges above. They live as long as the pair.
  Device* master() { return &master_port_; }
  Device* slave() { return &slave_port_; }
  Device* elcr() { return &elcr_port_; }

  // IrqSink: drive ISA line `irq` (0-15, not 2).
  void SetIrq(unsigned irq, bool level) override;

  // An unmasked request of higher priority than any in service is waiting (through the
  // cascade for slave lines): the INTR pin to the CPU.
  bool HasPendingInterrupt() const;
  // The INTA cycle: moves the winning request from IRR to ISR (unless auto-EOI) and
  // returns its vector, through the slave for a cascaded line. With nothing pending it
  // returns the spurious vector of IRQ 7 (or IRQ 15 when the slave has nothing for a
  // cascade request), as the hardware does.
  uint8_t Acknowledge();

 private:
  struct Chip {
    uint8_t irr = 0;
    uint8_t imr = 0;
    uint8_t isr = 0;
    uint8_t last_irr = 0;
    uint8_t priority_add = 0;
    uint8_t irq_base = 0;
    bool read_isr = false;
    bool poll = false;
    bool special_mask = false;
    uint8_t init_state = 0;
    bool auto_eoi = false;
    bool rotate_on_auto_eoi = false;
    bool special_fully_nested = false;
    bool init4 = false;
    bool single_mode = false;
    uint8_t elcr = 0;
    uint8_t elcr_mask = 0;
    bool is_master = false;

    void SetLine(unsigned line, bool level);
    // Priority (0 = highest) of the best line in `mask`, or 8 for none.
    int Priority(uint8_t mask) const;
    // The line this chip would signal, or -1.
    int PendingLine() const;
    void Intack(int line);
    void InitReset();
    void WriteCommand(uint8_t value);
    void WriteData(uint8_t value);
    uint8_t ReadPort(uint64_t offset);
  };

  class Port final : public Device {
   public:
    Port(Pic8259Pair* pair, int which, std::string_view name)
        : pair_(pair), which_(which), name_(name), bad_access_(name) {}
    std::string_view Name() const override { return name_; }
    void Read(uint64_t offset, std::span<uint8_t> data) override;
    void Write(uint64_t offset, std::span<const uint8_t> data) override;

   private:
    Pic8259Pair* pair_;
    int which_;  // 0 master, 1 slave, 2 ELCR
    std::string_view name_;
    BadAccessLog bad_access_;
  };

  // Drives master line 2 from the slave's INT output; call after any slave change.
  void UpdateCascade();
  static proto::Pic8259ChipState SaveChip(const Chip& c);
  static absl::Status RestoreChip(const proto::Pic8259ChipState& s, std::string_view name, Chip* c);

  Chip master_chip_;
  Chip slave_chip_;
  Port master_port_{this, 0, "pic8259-master"};
  Port slave_port_{this, 1, "pic8259-slave"};
  Port elcr_port_{this, 2, "pic8259-elcr"};
  BadAccessLog bad_irq_{"pic8259"};
};

}  // namespace ftd::vmm
