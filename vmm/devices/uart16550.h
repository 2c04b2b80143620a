// 16550A UART (COM1: ports 0x3f8-0x3ff, IRQ 4), modelled on real hardware and QEMU's
// hw/char/serial.c.
//
// Transmission is instantaneous: a THR write hands the byte to `output` (or, in
// loopback, to the RX FIFO) and THR is empty again at once, so LSR.THRE/TEMT stay set.
// The THR-empty interrupt follows QEMU: it is (re)armed by a THR write and by an IER
// write that enables it while THR is empty, and cleared by the IIR read that reports it.
//
// Receive: host input enters through ReceiveInput(), which accepts only what fits
// (16 bytes with FIFOs enabled, 1 without); nothing is ever dropped on the host side, so
// overrun (LSR.OE) only happens through loopback. With FIFOs enabled, a FIFO at or above
// the trigger level reports "received data available" (IIR 0x04); a FIFO holding fewer
// bytes reports "character timeout" (IIR 0x0c) at once instead of after four character
// times: no time passes between host bytes here, and being immediate keeps the device
// free of timers. Both have the same priority and drivers treat them alike.
//
// The interrupt line is the IIR "interrupt pending" condition, not gated by MCR.OUT2,
// as in QEMU (guests are also run under QEMU and must see the same device). SetIrq is
// called only when the level changes.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"
#include "vmm/irq.h"

namespace ftd::vmm {

class Uart16550 final : public Device {
 public:
  using State = proto::Uart16550State;
  using Output = std::function<void(std::span<const uint8_t>)>;

  static constexpr uint64_t kCom1Base = 0x3f8;
  static constexpr uint64_t kSize = 8;
  static constexpr unsigned kCom1Irq = 4;
  static constexpr size_t kFifoSize = 16;

  // `irq` is not owned and must outlive the device. `output` receives every byte the
  // guest transmits (the output-commit gate sits behind it).
  Uart16550(IrqSink* irq, unsigned irq_line, Output output);
  static absl::StatusOr<std::unique_ptr<Uart16550>> Restore(IrqSink* irq, unsigned irq_line,
                                                            Output output, const State& state);
  State Save() const;

  std::string_view Name() const override { return "uart16550"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  // Queues host input into the RX FIFO; returns how many leading bytes were accepted
  // (0 when the FIFO is full, or in loopback mode where the line input is disconnected).
  // The caller keeps the rest and offers it again later.
  size_t ReceiveInput(std::span<const uint8_t> bytes);

  // The current level of the interrupt line (for tests and debugging).
  bool irq_level() const { return irq_level_; }

 private:
  uint8_t ReadRegister(uint64_t offset);
  void WriteRegister(uint64_t offset, uint8_t value);
  void Transmit(uint8_t byte);
  // Puts one byte into the RX FIFO; sets LSR.OE and drops it when full.
  void PushRx(uint8_t byte);
  void SetMcr(uint8_t value);
  bool FifoEnabled() const { return (fcr_ & 0x01) != 0; }
  size_t RxCapacity() const { return FifoEnabled() ? kFifoSize : 1; }
  size_t TriggerLevel() const;
  uint8_t ComputeIir() const;
  void UpdateIrq();

  IrqSink* irq_;
  unsigned irq_line_;
  Output output_;
  BadAccessLog bad_access_{"uart16550"};

  uint8_t ier_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t lsr_ = 0x60;  // THRE | TEMT
  uint8_t msr_ = 0xb0;  // DCD | DSR | CTS: a connected terminal, as QEMU reports
  uint8_t scr_ = 0;
  uint8_t dll_ = 0x0c;  // 9600 baud
  uint8_t dlm_ = 0;
  uint8_t fcr_ = 0;
  uint8_t rbr_ = 0;
  bool thr_ipending_ = false;
  std::deque<uint8_t> rx_fifo_;
  bool irq_level_ = false;  // derived from the registers; never saved
};

}  // namespace ftd::vmm
