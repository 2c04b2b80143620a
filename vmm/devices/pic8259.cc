#include "vmm/devices/pic8259.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {
namespace {
constexpr unsigned kCascadeLine = 2;
constexpr uint8_t kMasterElcrMask = 0xf8;  // IRQ 0-2 are always edge triggered
constexpr uint8_t kSlaveElcrMask = 0xde;   // IRQ 8 and 13 are always edge triggered
}  // namespace

// ---- one chip ----

void Pic8259Pair::Chip::SetLine(unsigned line, bool level) {
  uint8_t mask = static_cast<uint8_t>(1u << line);
  if (elcr & mask) {
    // Level triggered: the request follows the line.
    if (level) {
      irr |= mask;
      last_irr |= mask;
    } else {
      irr &= static_cast<uint8_t>(~mask);
      last_irr &= static_cast<uint8_t>(~mask);
    }
    return;
  }
  if (level) {
    if ((last_irr & mask) == 0) irr |= mask;  // rising edge
    last_irr |= mask;
  } else {
    last_irr &= static_cast<uint8_t>(~mask);
  }
}

int Pic8259Pair::Chip::Priority(uint8_t mask) const {
  if (mask == 0) return 8;
  int priority = 0;
  while ((mask & (1u << ((priority + priority_add) & 7))) == 0) ++priority;
  return priority;
}

int Pic8259Pair::Chip::PendingLine() const {
  int priority = Priority(irr & static_cast<uint8_t>(~imr));
  if (priority == 8) return -1;
  // Requests are compared against what is in service. In special mask mode a masked
  // line in service does not inhibit lower priorities; in special fully nested mode the
  // master lets a slave request through while the cascade line is in service.
  uint8_t in_service = isr;
  if (special_mask) in_service &= static_cast<uint8_t>(~imr);
  if (special_fully_nested && is_master) in_service &= static_cast<uint8_t>(~(1u << kCascadeLine));
  if (priority < Priority(in_service)) return (priority + priority_add) & 7;
  return -1;
}

void Pic8259Pair::Chip::Intack(int line) {
  uint8_t mask = static_cast<uint8_t>(1u << line);
  if (auto_eoi) {
    if (rotate_on_auto_eoi) priority_add = static_cast<uint8_t>((line + 1) & 7);
  } else {
    isr |= mask;
  }
  // An edge-triggered request is consumed; a level-triggered one stays while the line is high.
  if ((elcr & mask) == 0) irr &= static_cast<uint8_t>(~mask);
}

void Pic8259Pair::Chip::InitReset() {
  // ICW1: the edge-sense latches, IMR, ISR and all modes are reset; the line levels
  // (last_irr) are physical and stay, and so does the ELCR (not part of the 8259).
  irr &= elcr;
  imr = 0;
  isr = 0;
  priority_add = 0;
  irq_base = 0;
  read_isr = false;
  poll = false;
  special_mask = false;
  init_state = 0;
  auto_eoi = false;
  rotate_on_auto_eoi = false;
  special_fully_nested = false;
  init4 = false;
  single_mode = false;
}

void Pic8259Pair::Chip::WriteCommand(uint8_t value) {
  if (value & 0x10) {
    // ICW1. LTIM (bit 3) is ignored: on PC/AT-compatible machines the ELCR decides.
    InitReset();
    init_state = 1;
    init4 = (value & 0x01) != 0;
    single_mode = (value & 0x02) != 0;
    return;
  }
  if (value & 0x08) {
    // OCW3.
    if (value & 0x04) poll = true;
    if (value & 0x02) read_isr = (value & 0x01) != 0;
    if (value & 0x40) special_mask = (value & 0x20) != 0;
    return;
  }
  // OCW2.
  int command = value >> 5;
  switch (command) {
    case 0:  // rotate in auto-EOI mode: clear
    case 4:  // rotate in auto-EOI mode: set
      rotate_on_auto_eoi = command == 4;
      break;
    case 1:    // non-specific EOI
    case 5: {  // rotate on non-specific EOI
      int priority = Priority(isr);
      if (priority != 8) {
        int line = (priority + priority_add) & 7;
        isr &= static_cast<uint8_t>(~(1u << line));
        if (command == 5) priority_add = static_cast<uint8_t>((line + 1) & 7);
      }
      break;
    }
    case 3:  // specific EOI
      isr &= static_cast<uint8_t>(~(1u << (value & 7)));
      break;
    case 6:  // set priority: line L becomes the lowest
      priority_add = static_cast<uint8_t>((value + 1) & 7);
      break;
    case 7: {  // rotate on specific EOI
      int line = value & 7;
      isr &= static_cast<uint8_t>(~(1u << line));
      priority_add = static_cast<uint8_t>((line + 1) & 7);
      break;
    }
    default:  // 2: no operation
      break;
  }
}

void Pic8259Pair::Chip::WriteData(uint8_t value) {
  switch (init_state) {
    case 0:  // OCW1
      imr = value;
      break;
    case 1:  // ICW2
      irq_base = value & 0xf8;
      init_state = single_mode ? (init4 ? 3 : 0) : 2;
      break;
    case 2:  // ICW3: the cascade wiring is fixed on a PC
      init_state = init4 ? 3 : 0;
      break;
    case 3:  // ICW4 (uPM is assumed: x86 mode; buffered mode is irrelevant here)
      special_fully_nested = (value & 0x10) != 0;
      auto_eoi = (value & 0x02) != 0;
      init_state = 0;
      break;
  }
}

uint8_t Pic8259Pair::Chip::ReadPort(uint64_t offset) {
  if (poll) {
    // Poll command: the next read is an INTA without the vector.
    poll = false;
    int line = PendingLine();
    if (line < 0) return 0;
    Intack(line);
    return static_cast<uint8_t>(0x80 | line);
  }
  if (offset == 0) return read_isr ? isr : irr;
  return imr;
}

// ---- the pair ----

Pic8259Pair::Pic8259Pair() {
  master_chip_.is_master = true;
  master_chip_.elcr_mask = kMasterElcrMask;
  slave_chip_.elcr_mask = kSlaveElcrMask;
}

void Pic8259Pair::UpdateCascade() {
  master_chip_.SetLine(kCascadeLine, slave_chip_.PendingLine() >= 0);
}

void Pic8259Pair::SetIrq(unsigned irq, bool level) {
  if (irq >= 16 || irq == kCascadeLine) {
    bad_irq_.ReportOther(irq, "SetIrq on a line that does not exist (IRQ 2 is the cascade)");
    return;
  }
  if (irq < 8) {
    master_chip_.SetLine(irq, level);
  } else {
    slave_chip_.SetLine(irq - 8, level);
    UpdateCascade();
  }
}

bool Pic8259Pair::HasPendingInterrupt() const { return master_chip_.PendingLine() >= 0; }

uint8_t Pic8259Pair::Acknowledge() {
  int line = master_chip_.PendingLine();
  uint8_t vector;
  if (line < 0) {
    vector = static_cast<uint8_t>(master_chip_.irq_base + 7);  // spurious IRQ 7
  } else {
    master_chip_.Intack(line);
    if (line == static_cast<int>(kCascadeLine)) {
      int slave_line = slave_chip_.PendingLine();
      if (slave_line >= 0) {
        slave_chip_.Intack(slave_line);
      } else {
        slave_line = 7;  // spurious IRQ 15
      }
      vector = static_cast<uint8_t>(slave_chip_.irq_base + slave_line);
    } else {
      vector = static_cast<uint8_t>(master_chip_.irq_base + line);
    }
  }
  UpdateCascade();
  return vector;
}

void Pic8259Pair::Port::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset >= 2) {
    bad_access_.Report(false, offset, data.size(), "registers are 2 ports of 1 byte");
    FillOpenBus(data);
    return;
  }
  switch (which_) {
    case 0:
      data[0] = pair_->master_chip_.ReadPort(offset);
      break;
    case 1:
      data[0] = pair_->slave_chip_.ReadPort(offset);
      break;
    default:
      data[0] = offset == 0 ? pair_->master_chip_.elcr : pair_->slave_chip_.elcr;
      break;
  }
  pair_->UpdateCascade();  // a poll read acknowledges
}

void Pic8259Pair::Port::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset >= 2) {
    bad_access_.Report(true, offset, data.size(), "registers are 2 ports of 1 byte");
    return;
  }
  if (which_ == 2) {
    Chip& chip = offset == 0 ? pair_->master_chip_ : pair_->slave_chip_;
    chip.elcr = data[0] & chip.elcr_mask;
    return;
  }
  Chip& chip = which_ == 0 ? pair_->master_chip_ : pair_->slave_chip_;
  if (offset == 0) {
    chip.WriteCommand(data[0]);
  } else {
    chip.WriteData(data[0]);
  }
  pair_->UpdateCascade();
}

// ---- state ----

proto::Pic8259ChipState Pic8259Pair::SaveChip(const Chip& c) {
  proto::Pic8259ChipState s;
  s.set_irr(c.irr);
  s.set_imr(c.imr);
  s.set_isr(c.isr);
  s.set_last_irr(c.last_irr);
  s.set_priority_add(c.priority_add);
  s.set_irq_base(c.irq_base);
  s.set_read_isr(c.read_isr);
  s.set_poll(c.poll);
  s.set_special_mask(c.special_mask);
  s.set_init_state(c.init_state);
  s.set_auto_eoi(c.auto_eoi);
  s.set_rotate_on_auto_eoi(c.rotate_on_auto_eoi);
  s.set_special_fully_nested(c.special_fully_nested);
  s.set_init4(c.init4);
  s.set_single_mode(c.single_mode);
  s.set_elcr(c.elcr);
  return s;
}

Pic8259Pair::State Pic8259Pair::Save() const {
  State s;
  *s.mutable_master() = SaveChip(master_chip_);
  *s.mutable_slave() = SaveChip(slave_chip_);
  return s;
}

absl::Status Pic8259Pair::RestoreChip(const proto::Pic8259ChipState& s, std::string_view name,
                                      Chip* c) {
  auto bad = [name](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrFormat("pic8259 state, %s: %s", name, what));
  };
  for (uint32_t v : {s.irr(), s.imr(), s.isr(), s.last_irr(), s.irq_base(), s.elcr()}) {
    if (v > 0xff) return bad(absl::StrFormat("register value %#x does not fit a byte", v));
  }
  if (s.priority_add() >= 8) return bad(absl::StrFormat("priority_add %d", s.priority_add()));
  if (s.irq_base() & 7)
    return bad(absl::StrFormat("irq_base %#x is not a multiple of 8", s.irq_base()));
  if (s.init_state() > 3) return bad(absl::StrFormat("init_state %d", s.init_state()));
  if (s.elcr() & ~uint32_t{c->elcr_mask}) {
    return bad(absl::StrFormat("ELCR %#x selects an edge-only line (allowed %#x)", s.elcr(),
                               c->elcr_mask));
  }
  c->irr = static_cast<uint8_t>(s.irr());
  c->imr = static_cast<uint8_t>(s.imr());
  c->isr = static_cast<uint8_t>(s.isr());
  c->last_irr = static_cast<uint8_t>(s.last_irr());
  c->priority_add = static_cast<uint8_t>(s.priority_add());
  c->irq_base = static_cast<uint8_t>(s.irq_base());
  c->read_isr = s.read_isr();
  c->poll = s.poll();
  c->special_mask = s.special_mask();
  c->init_state = static_cast<uint8_t>(s.init_state());
  c->auto_eoi = s.auto_eoi();
  c->rotate_on_auto_eoi = s.rotate_on_auto_eoi();
  c->special_fully_nested = s.special_fully_nested();
  c->init4 = s.init4();
  c->single_mode = s.single_mode();
  c->elcr = static_cast<uint8_t>(s.elcr());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Pic8259Pair>> Pic8259Pair::Restore(const State& s) {
  if (absl::Status st = CheckNoUnknownFields(s, "pic8259"); !st.ok()) return st;
  if (!s.has_master() || !s.has_slave()) {
    return absl::InvalidArgumentError("pic8259 state: master and slave must both be present");
  }
  auto pic = std::make_unique<Pic8259Pair>();
  if (absl::Status st = RestoreChip(s.master(), "master", &pic->master_chip_); !st.ok()) return st;
  if (absl::Status st = RestoreChip(s.slave(), "slave", &pic->slave_chip_); !st.ok()) return st;
  bool cascade_level = (pic->master_chip_.last_irr >> kCascadeLine) & 1;
  if (cascade_level != (pic->slave_chip_.PendingLine() >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pic8259 state: master line 2 level %d disagrees with the slave's output %d", cascade_level,
        pic->slave_chip_.PendingLine() >= 0));
  }
  return pic;
}

}  // namespace ftd::vmm
