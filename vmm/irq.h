// Interrupt lines from devices to the interrupt controller (the userspace 8259 pair).
#pragma once

namespace ftd::vmm {

class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // Drive ISA interrupt line `irq` (0-15) to `level`. Edge-triggered lines latch
  // on the low→high transition; a device that signals an event pulses the line.
  virtual void SetIrq(unsigned irq, bool level) = 0;
};

}  // namespace ftd::vmm
