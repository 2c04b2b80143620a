#include "vmm/devices/uart16550.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {
namespace {

// Register offsets.
constexpr uint64_t kRbrThr = 0;  // DLL when LCR.DLAB
constexpr uint64_t kIer = 1;     // DLM when LCR.DLAB
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kIerRdi = 0x01;   // received data available
constexpr uint8_t kIerThri = 0x02;  // THR empty
constexpr uint8_t kIerRlsi = 0x04;  // receiver line status
constexpr uint8_t kIerMsi = 0x08;   // modem status

constexpr uint8_t kIirNoInt = 0x01;
constexpr uint8_t kIirMsi = 0x00;
constexpr uint8_t kIirThri = 0x02;
constexpr uint8_t kIirRdi = 0x04;
constexpr uint8_t kIirRlsi = 0x06;
constexpr uint8_t kIirCti = 0x0c;  // character timeout
constexpr uint8_t kIirIdMask = 0x0e;
constexpr uint8_t kIirFifoEnabled = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kFcrClearTx = 0x04;
constexpr uint8_t kFcrStoredMask = 0xc9;

constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrBi = 0x10;
constexpr uint8_t kLsrErrors = 0x1e;  // OE | PE | FE | BI
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;

constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

constexpr uint8_t kMsrDeltas = 0x0f;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrNoLoopLines = 0xb0;  // DCD | DSR | CTS

// MSR line bits (7-4) for a given MCR: in loopback DTR->DSR, RTS->CTS, OUT1->RI,
// OUT2->DCD; otherwise a connected terminal.
uint8_t ModemLines(uint8_t mcr) {
  if ((mcr & kMcrLoop) == 0) return kMsrNoLoopLines;
  return static_cast<uint8_t>(((mcr & 0x0c) << 4) | ((mcr & 0x02) << 3) | ((mcr & 0x01) << 5));
}

}  // namespace

Uart16550::Uart16550(IrqSink* irq, unsigned irq_line, Output output)
    : irq_(irq), irq_line_(irq_line), output_(std::move(output)) {}

size_t Uart16550::TriggerLevel() const {
  static constexpr size_t kLevels[4] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

uint8_t Uart16550::ComputeIir() const {
  uint8_t id = kIirNoInt;
  if ((ier_ & kIerRlsi) && (lsr_ & kLsrErrors)) {
    id = kIirRlsi;
  } else if ((ier_ & kIerRdi) && !rx_fifo_.empty()) {
    id = (!FifoEnabled() || rx_fifo_.size() >= TriggerLevel()) ? kIirRdi : kIirCti;
  } else if ((ier_ & kIerThri) && thr_ipending_) {
    id = kIirThri;
  } else if ((ier_ & kIerMsi) && (msr_ & kMsrDeltas)) {
    id = kIirMsi;
  }
  return static_cast<uint8_t>(id | (FifoEnabled() ? kIirFifoEnabled : 0));
}

void Uart16550::UpdateIrq() {
  bool level = (ComputeIir() & kIirNoInt) == 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrq(irq_line_, level);
}

void Uart16550::PushRx(uint8_t byte) {
  if (rx_fifo_.size() >= RxCapacity()) {
    lsr_ |= kLsrOe;
    return;
  }
  rx_fifo_.push_back(byte);
  lsr_ |= kLsrDr;
}

size_t Uart16550::ReceiveInput(std::span<const uint8_t> bytes) {
  if (mcr_ & kMcrLoop) return 0;
  size_t room = RxCapacity() - std::min(RxCapacity(), rx_fifo_.size());
  size_t n = std::min(room, bytes.size());
  for (size_t i = 0; i < n; ++i) PushRx(bytes[i]);
  if (n > 0) UpdateIrq();
  return n;
}

void Uart16550::Transmit(uint8_t byte) {
  // THR empties at once: drop the THRE interrupt, move the byte, re-arm it. The line
  // therefore pulses low-high, which the edge-triggered PIC sees as a new request.
  thr_ipending_ = false;
  UpdateIrq();
  if (mcr_ & kMcrLoop) {
    PushRx(byte);
  } else if (output_) {
    output_(std::span<const uint8_t>(&byte, 1));
  }
  thr_ipending_ = (ier_ & kIerThri) != 0;
  UpdateIrq();
}

void Uart16550::SetMcr(uint8_t value) {
  mcr_ = value & kMcrMask;
  uint8_t old_lines = msr_ & 0xf0;
  uint8_t new_lines = ModemLines(mcr_);
  uint8_t changed = old_lines ^ new_lines;
  uint8_t deltas = msr_ & kMsrDeltas;
  deltas |= (changed >> 4) & 0x0b;  // DCTS, DDSR, DDCD: any change
  if ((old_lines & kMsrRi) && !(new_lines & kMsrRi)) deltas |= kMsrTeri;  // RI trailing edge
  msr_ = static_cast<uint8_t>(new_lines | deltas);
}

uint8_t Uart16550::ReadRegister(uint64_t offset) {
  switch (offset) {
    case kRbrThr: {
      if (lcr_ & kLcrDlab) return dll_;
      if (!rx_fifo_.empty()) {
        rbr_ = rx_fifo_.front();
        rx_fifo_.pop_front();
      }
      if (rx_fifo_.empty()) lsr_ &= static_cast<uint8_t>(~(kLsrDr | kLsrBi));
      UpdateIrq();
      return rbr_;
    }
    case kIer:
      return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIirFcr: {
      uint8_t iir = ComputeIir();
      if ((iir & kIirIdMask) == kIirThri) {
        thr_ipending_ = false;
        UpdateIrq();
      }
      return iir;
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      uint8_t v = lsr_;
      if (lsr_ & kLsrErrors) {
        lsr_ &= static_cast<uint8_t>(~kLsrErrors);
        UpdateIrq();
      }
      return v;
    }
    case kMsr: {
      uint8_t v = msr_;
      if (msr_ & kMsrDeltas) {
        msr_ &= 0xf0;
        UpdateIrq();
      }
      return v;
    }
    case kScr:
      return scr_;
  }
  return 0xff;  // unreachable: offset < kSize is checked by the caller
}

void Uart16550::WriteRegister(uint64_t offset, uint8_t value) {
  switch (offset) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) {
        dll_ = value;
      } else {
        Transmit(value);
      }
      return;
    case kIer: {
      if (lcr_ & kLcrDlab) {
        dlm_ = value;
        return;
      }
      uint8_t changed = (ier_ ^ value) & 0x0f;
      ier_ = value & 0x0f;
      // Enabling THRI while THR is empty raises the interrupt even if an IIR read had
      // cleared it (not in the datasheet; real parts, Bochs and QEMU do it and Windows
      // relies on it). Disabling it forgets the pending interrupt.
      if (changed & kIerThri) thr_ipending_ = (ier_ & kIerThri) && (lsr_ & kLsrThre);
      UpdateIrq();
      return;
    }
    case kIirFcr: {
      if ((value ^ fcr_) & kFcrEnable) value |= kFcrClearRx | kFcrClearTx;
      if (value & kFcrClearRx) {
        rx_fifo_.clear();
        lsr_ &= static_cast<uint8_t>(~(kLsrDr | kLsrBi));
      }
      if (value & kFcrClearTx) {
        lsr_ |= kLsrThre | kLsrTemt;
        thr_ipending_ = (ier_ & kIerThri) != 0;
      }
      fcr_ = value & kFcrStoredMask;
      UpdateIrq();
      return;
    }
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      SetMcr(value);
      UpdateIrq();
      return;
    case kLsr:
    case kMsr:
      return;  // factory-test writes; ignored as QEMU does
    case kScr:
      scr_ = value;
      return;
  }
}

void Uart16550::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset >= kSize) {
    bad_access_.Report(false, offset, data.size(), "registers are 8 ports of 1 byte");
    FillOpenBus(data);
    return;
  }
  data[0] = ReadRegister(offset);
}

void Uart16550::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset >= kSize) {
    bad_access_.Report(true, offset, data.size(), "registers are 8 ports of 1 byte");
    return;
  }
  WriteRegister(offset, data[0]);
}

Uart16550::State Uart16550::Save() const {
  State s;
  s.set_ier(ier_);
  s.set_lcr(lcr_);
  s.set_mcr(mcr_);
  s.set_lsr(lsr_);
  s.set_msr(msr_);
  s.set_scr(scr_);
  s.set_dll(dll_);
  s.set_dlm(dlm_);
  s.set_fcr(fcr_);
  s.set_rx_fifo(std::string(rx_fifo_.begin(), rx_fifo_.end()));
  s.set_rbr(rbr_);
  s.set_thr_ipending(thr_ipending_);
  return s;
}

absl::StatusOr<std::unique_ptr<Uart16550>> Uart16550::Restore(IrqSink* irq, unsigned irq_line,
                                                              Output output, const State& s) {
  if (absl::Status st = CheckNoUnknownFields(s, "uart16550"); !st.ok()) return st;
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("uart16550 state: %s", what));
  };
  for (uint32_t v :
       {s.ier(), s.lcr(), s.mcr(), s.lsr(), s.msr(), s.scr(), s.dll(), s.dlm(), s.fcr(), s.rbr()}) {
    if (v > 0xff) return bad(absl::StrFormat("register value %#x does not fit a byte", v));
  }
  if (s.ier() & ~0x0fu) return bad(absl::StrFormat("IER %#x has reserved bits set", s.ier()));
  if (s.mcr() & ~uint32_t{kMcrMask}) {
    return bad(absl::StrFormat("MCR %#x has reserved bits set", s.mcr()));
  }
  if (s.fcr() & ~uint32_t{kFcrStoredMask}) {
    return bad(absl::StrFormat("FCR %#x has bits other than 0xc9 set", s.fcr()));
  }
  size_t capacity = (s.fcr() & kFcrEnable) ? kFifoSize : 1;
  if (s.rx_fifo().size() > capacity) {
    return bad(absl::StrFormat("RX FIFO holds %d bytes, more than its capacity %d",
                               s.rx_fifo().size(), capacity));
  }
  if ((s.lsr() & (kLsrThre | kLsrTemt)) != (kLsrThre | kLsrTemt) || (s.lsr() & 0x80)) {
    return bad(absl::StrFormat("LSR %#x: THRE and TEMT must be set and bit 7 clear", s.lsr()));
  }
  if (((s.lsr() & kLsrDr) != 0) != !s.rx_fifo().empty()) {
    return bad(absl::StrFormat("LSR.DR (%#x) disagrees with an RX FIFO of %d bytes", s.lsr(),
                               s.rx_fifo().size()));
  }
  if (s.thr_ipending() && !(s.ier() & kIerThri)) {
    return bad("THR interrupt pending while IER.ETBEI is clear");
  }
  auto uart = std::make_unique<Uart16550>(irq, irq_line, std::move(output));
  uart->ier_ = static_cast<uint8_t>(s.ier());
  uart->lcr_ = static_cast<uint8_t>(s.lcr());
  uart->mcr_ = static_cast<uint8_t>(s.mcr());
  uart->lsr_ = static_cast<uint8_t>(s.lsr());
  uart->msr_ = static_cast<uint8_t>(s.msr());
  uart->scr_ = static_cast<uint8_t>(s.scr());
  uart->dll_ = static_cast<uint8_t>(s.dll());
  uart->dlm_ = static_cast<uint8_t>(s.dlm());
  uart->fcr_ = static_cast<uint8_t>(s.fcr());
  uart->rbr_ = static_cast<uint8_t>(s.rbr());
  uart->thr_ipending_ = s.thr_ipending();
  uart->rx_fifo_.assign(s.rx_fifo().begin(), s.rx_fifo().end());
  // The interrupt controller is restored with its own copy of the line level; only
  // recompute ours so that the next change is signalled correctly.
  uart->irq_level_ = (uart->ComputeIir() & kIirNoInt) == 0;
  return uart;
}

}  // namespace ftd::vmm
