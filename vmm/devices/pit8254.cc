#include "vmm/devices/pit8254.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {
namespace {

using u128 = unsigned __int128;
constexpr uint64_t kNsPerSecond = 1'000'000'000;

// Read/write byte sequencer states (also used for count_latched).
constexpr uint8_t kLsb = 1;
constexpr uint8_t kMsb = 2;
constexpr uint8_t kWord0 = 3;
constexpr uint8_t kWord1 = 4;

constexpr uint64_t kControlPort = 3;

}  // namespace

uint64_t Pit8254::Channel::Ticks(uint64_t now_ns) const {
  if (!counting || now_ns <= load_time_ns) return 0;
  u128 elapsed = now_ns - load_time_ns;
  return static_cast<uint64_t>(elapsed * kFrequencyHz / kNsPerSecond);
}

uint16_t Pit8254::Channel::Count(uint64_t now_ns) const {
  if (!counting) return static_cast<uint16_t>(reload);
  uint64_t d = Ticks(now_ns);
  uint64_t value;
  switch (EffectiveMode()) {
    case 2:
      value = reload - d % reload;
      break;
    case 3:
      // Counts down by two each tick, twice per period (approximate for odd counts).
      value = reload - (2 * (d % reload)) % reload;
      break;
    default:  // 0, 1, 4, 5: count down once and wrap
      value = reload - d;
      break;
  }
  return static_cast<uint16_t>(value);
}

bool Pit8254::Channel::Out(uint64_t now_ns) const {
  uint8_t m = EffectiveMode();
  if (!counting) return m != 0;  // a control word sets OUT low in mode 0, high otherwise
  uint64_t d = Ticks(now_ns);
  switch (m) {
    case 0:
      return d >= reload;
    case 1:
      return d < reload;
    case 2:
      return !(d % reload == reload - 1);  // low for the last tick of each period
    case 3:
      return d % reload < (reload + 1) / 2;
    default:  // 4, 5: a one-tick low strobe at terminal count
      return d != reload;
  }
}

void Pit8254::Channel::Latch(uint64_t now_ns) {
  if (count_latched != 0) return;  // a second latch before the read is ignored
  latched_count = Count(now_ns);
  count_latched = rw_mode;
}

uint64_t Pit8254::Channel::EventNs(uint64_t k) const {
  // The first guest time at which Ticks() reaches k * reload.
  u128 ticks = static_cast<u128>(k) * reload;
  u128 ns = (ticks * kNsPerSecond + kFrequencyHz - 1) / kFrequencyHz;
  u128 t = ns + load_time_ns;
  if (t > std::numeric_limits<uint64_t>::max()) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(t);
}

Pit8254::Pit8254(Clock* clock, IrqSink* irq) : clock_(clock), irq_(irq) {}

std::optional<uint64_t> Pit8254::NextDeadlineNs() const {
  const Channel& c = channels_[0];
  if (!c.counting) return std::nullopt;
  if (c.Periodic() || (c.OneShot() && c.irqs_delivered == 0)) {
    return c.EventNs(c.irqs_delivered + 1);
  }
  return std::nullopt;
}

void Pit8254::Advance(uint64_t now_ns) {
  std::optional<uint64_t> deadline = NextDeadlineNs();
  if (!deadline || now_ns < *deadline) return;
  Channel& c = channels_[0];
  // Skip every boundary that has passed, keeping the phase; signal once.
  c.irqs_delivered = c.Periodic() ? c.Ticks(now_ns) / c.reload : 1;
  irq_->SetIrq(kIrq, true);
  irq_->SetIrq(kIrq, false);
}

void Pit8254::LoadCount(unsigned index, uint32_t value) {
  uint64_t now = clock_->MonotonicNs();
  if (index == 0) Advance(now);  // an interrupt already due is not lost to the reload
  Channel& c = channels_[index];
  c.reload = value == 0 ? 0x10000 : value;
  c.load_time_ns = now;
  c.counting = true;
  c.irqs_delivered = 0;
}

void Pit8254::WriteCounter(unsigned index, uint8_t value) {
  Channel& c = channels_[index];
  switch (c.write_state) {
    case kLsb:
      LoadCount(index, value);
      break;
    case kMsb:
      LoadCount(index, static_cast<uint32_t>(value) << 8);
      break;
    case kWord0:
      c.write_latch = value;
      c.write_state = kWord1;
      break;
    default:  // kWord1
      c.write_state = kWord0;
      LoadCount(index, c.write_latch | (static_cast<uint32_t>(value) << 8));
      break;
  }
}

uint8_t Pit8254::ReadCounter(Channel& c) {
  if (c.status_latched) {
    c.status_latched = false;
    return c.status;
  }
  if (c.count_latched != 0) {
    switch (c.count_latched) {
      case kLsb:
        c.count_latched = 0;
        return static_cast<uint8_t>(c.latched_count);
      case kMsb:
        c.count_latched = 0;
        return static_cast<uint8_t>(c.latched_count >> 8);
      default:  // kWord0: LSB now, MSB next
        c.count_latched = kMsb;
        return static_cast<uint8_t>(c.latched_count);
    }
  }
  uint16_t count = c.Count(c.counting ? clock_->MonotonicNs() : 0);
  switch (c.read_state) {
    case kLsb:
      return static_cast<uint8_t>(count);
    case kMsb:
      return static_cast<uint8_t>(count >> 8);
    case kWord0:
      c.read_state = kWord1;
      return static_cast<uint8_t>(count);
    default:  // kWord1
      c.read_state = kWord0;
      return static_cast<uint8_t>(count >> 8);
  }
}

void Pit8254::WriteControl(uint8_t value) {
  unsigned index = value >> 6;
  if (index == 3) {
    // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3
    // select channels 0-2.
    bool latch_count = (value & 0x20) == 0;
    bool latch_status = (value & 0x10) == 0;
    if (!latch_count && !latch_status) return;
    uint64_t now = clock_->MonotonicNs();
    for (unsigned i = 0; i < 3; ++i) {
      if ((value & (2u << i)) == 0) continue;
      Channel& c = channels_[i];
      if (latch_count) c.Latch(now);
      if (latch_status && !c.status_latched) {
        c.status = static_cast<uint8_t>((c.Out(now) ? 0x80 : 0) | (c.counting ? 0 : 0x40) |
                                        (c.rw_mode << 4) | (c.mode << 1) | (c.bcd ? 1 : 0));
        c.status_latched = true;
      }
    }
    return;
  }
  Channel& c = channels_[index];
  uint8_t access = (value >> 4) & 3;
  if (access == 0) {
    c.Latch(clock_->MonotonicNs());
    return;
  }
  if (index == 0) Advance(clock_->MonotonicNs());
  c.rw_mode = access;
  c.read_state = access;
  c.write_state = access;
  c.mode = (value >> 1) & 7;
  c.bcd = (value & 1) != 0;
  c.counting = false;  // null count until the next count write
  c.irqs_delivered = 0;
}

void Pit8254::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset >= kControlPort) {
    bad_access_.Report(false, offset, data.size(),
                       "counters are 3 ports of 1 byte; the control port is write-only");
    FillOpenBus(data);
    return;
  }
  data[0] = ReadCounter(channels_[offset]);
}

void Pit8254::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset >= kSize) {
    bad_access_.Report(true, offset, data.size(), "registers are 4 ports of 1 byte");
    return;
  }
  if (offset == kControlPort) {
    WriteControl(data[0]);
  } else {
    WriteCounter(static_cast<unsigned>(offset), data[0]);
  }
}

Pit8254::State Pit8254::Save() const {
  State s;
  for (const Channel& c : channels_) {
    proto::Pit8254ChannelState* cs = s.add_channels();
    cs->set_reload(c.reload);
    cs->set_mode(c.mode);
    cs->set_bcd(c.bcd);
    cs->set_rw_mode(c.rw_mode);
    cs->set_read_state(c.read_state);
    cs->set_write_state(c.write_state);
    cs->set_write_latch(c.write_latch);
    cs->set_latched_count(c.latched_count);
    cs->set_count_latched(c.count_latched);
    cs->set_status_latched(c.status_latched);
    cs->set_status(c.status);
    cs->set_counting(c.counting);
    cs->set_load_time_ns(c.load_time_ns);
    cs->set_irqs_delivered(c.irqs_delivered);
  }
  return s;
}

absl::StatusOr<std::unique_ptr<Pit8254>> Pit8254::Restore(Clock* clock, IrqSink* irq,
                                                          const State& s) {
  if (absl::Status st = CheckNoUnknownFields(s, "pit8254"); !st.ok()) return st;
  if (s.channels_size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrFormat("pit8254 state: %d channels, must be 3", s.channels_size()));
  }
  auto pit = std::make_unique<Pit8254>(clock, irq);
  for (int i = 0; i < 3; ++i) {
    const proto::Pit8254ChannelState& cs = s.channels(i);
    auto bad = [i](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrFormat("pit8254 state, channel %d: %s", i, what));
    };
    if (cs.reload() < 1 || cs.reload() > 0x10000) {
      return bad(absl::StrFormat("reload %d outside [1, 65536]", cs.reload()));
    }
    if (cs.mode() > 7) return bad(absl::StrFormat("mode %d", cs.mode()));
    if (cs.rw_mode() < 1 || cs.rw_mode() > 3) {
      return bad(absl::StrFormat("access mode %d", cs.rw_mode()));
    }
    for (uint32_t st : {cs.read_state(), cs.write_state()}) {
      bool ok = cs.rw_mode() == 3 ? (st == kWord0 || st == kWord1) : st == cs.rw_mode();
      if (!ok) {
        return bad(
            absl::StrFormat("byte sequencer state %d with access mode %d", st, cs.rw_mode()));
      }
    }
    if (cs.write_latch() > 0xff) return bad(absl::StrFormat("write latch %#x", cs.write_latch()));
    if (cs.latched_count() > 0xffff) {
      return bad(absl::StrFormat("latched count %#x", cs.latched_count()));
    }
    if (cs.count_latched() > 3) {
      return bad(absl::StrFormat("count latch state %d", cs.count_latched()));
    }
    if (cs.status() > 0xff) return bad(absl::StrFormat("status %#x", cs.status()));
    Channel& c = pit->channels_[i];
    c.reload = cs.reload();
    c.mode = static_cast<uint8_t>(cs.mode());
    c.bcd = cs.bcd();
    c.rw_mode = static_cast<uint8_t>(cs.rw_mode());
    c.read_state = static_cast<uint8_t>(cs.read_state());
    c.write_state = static_cast<uint8_t>(cs.write_state());
    c.write_latch = static_cast<uint8_t>(cs.write_latch());
    c.latched_count = static_cast<uint16_t>(cs.latched_count());
    c.count_latched = static_cast<uint8_t>(cs.count_latched());
    c.status_latched = cs.status_latched();
    c.status = static_cast<uint8_t>(cs.status());
    c.counting = cs.counting();
    c.load_time_ns = cs.load_time_ns();
    c.irqs_delivered = cs.irqs_delivered();
    if (c.OneShot() && c.irqs_delivered > 1) {
      return bad(
          absl::StrFormat("%d interrupts delivered in one-shot mode %d", c.irqs_delivered, c.mode));
    }
  }
  return pit;
}

}  // namespace ftd::vmm
