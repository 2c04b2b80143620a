#include "vmm/devices/cmos_rtc.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kUipWindowNs = 244'000;

constexpr uint8_t kSeconds = 0x00;
constexpr uint8_t kMinutes = 0x02;
constexpr uint8_t kHours = 0x04;
constexpr uint8_t kDayOfWeek = 0x06;
constexpr uint8_t kDayOfMonth = 0x07;
constexpr uint8_t kMonth = 0x08;
constexpr uint8_t kYear = 0x09;
constexpr uint8_t kStatusA = 0x0a;
constexpr uint8_t kStatusB = 0x0b;
constexpr uint8_t kStatusC = 0x0c;
constexpr uint8_t kStatusD = 0x0d;
constexpr uint8_t kCentury = 0x32;

constexpr uint8_t kAUip = 0x80;
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBUie = 0x10;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kB24h = 0x02;
constexpr uint8_t kCIrqf = 0x80;
constexpr uint8_t kCUf = 0x10;
constexpr uint8_t kDVrt = 0x80;

// The range of times the guest may set: what BCD century 19-21 can express.
constexpr int64_t kMinSettableSeconds = -2'208'988'800;  // 1900-01-01T00:00:00Z
constexpr int64_t kMaxSettableSeconds = 7'258'118'399;   // 2199-12-31T23:59:59Z

bool IsTimeRegister(uint8_t index) {
  switch (index) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kDayOfWeek:
    case kDayOfMonth:
    case kMonth:
    case kYear:
    case kCentury:
      return true;
    default:
      return false;
  }
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

int64_t SaturateToInt64(__int128 v) {
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

}  // namespace

CmosRtc::CmosRtc(Clock* clock) : clock_(clock) {
  cmos_[kStatusA] = 0x26;  // 32.768 kHz time base, 1024 Hz rate
  cmos_[kStatusB] = kB24h;
  cmos_[kStatusD] = kDVrt;
}

int64_t CmosRtc::GuestNs() {
  return SaturateToInt64(static_cast<__int128>(clock_->RealtimeNs()) + offset_ns_);
}

bool CmosRtc::Binary() const { return (cmos_[kStatusB] & kBBinary) != 0; }
bool CmosRtc::Hours24() const { return (cmos_[kStatusB] & kB24h) != 0; }

uint8_t CmosRtc::Encode(int value) const {
  if (Binary()) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) % 10) << 4 | (value % 10));
}

int CmosRtc::Decode(uint8_t value) const {
  if (Binary()) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

void CmosRtc::EncodeTime(int64_t guest_ns, std::array<uint8_t, kCmosSize>& regs) const {
  absl::CivilSecond t = absl::ToCivilSecond(absl::FromUnixSeconds(FloorDiv(guest_ns, kNsPerSecond)),
                                            absl::UTCTimeZone());
  regs[kSeconds] = Encode(t.second());
  regs[kMinutes] = Encode(t.minute());
  if (Hours24()) {
    regs[kHours] = Encode(t.hour());
  } else {
    int h12 = t.hour() % 12 == 0 ? 12 : t.hour() % 12;
    regs[kHours] = static_cast<uint8_t>(Encode(h12) | (t.hour() >= 12 ? 0x80 : 0));
  }
  // absl::Weekday counts from Monday = 0; the RTC from Sunday = 1.
  regs[kDayOfWeek] = Encode((static_cast<int>(absl::GetWeekday(t)) + 1) % 7 + 1);
  regs[kDayOfMonth] = Encode(t.day());
  regs[kMonth] = Encode(t.month());
  int64_t year = t.year();
  regs[kYear] = Encode(static_cast<int>(FloorMod(year, 100)));
  regs[kCentury] = Encode(static_cast<int>(FloorMod(FloorDiv(year, 100), 100)));
}

int64_t CmosRtc::DecodeTime(const std::array<uint8_t, kCmosSize>& regs) const {
  int hour;
  if (Hours24()) {
    hour = Decode(regs[kHours]);
  } else {
    bool pm = (regs[kHours] & 0x80) != 0;
    hour = Decode(regs[kHours] & 0x7f) % 12 + (pm ? 12 : 0);
  }
  // Out-of-range fields (month 13, 31 February, bad BCD digits) normalize, as a guest
  // writing them cannot expect anything better.
  absl::CivilSecond t(Decode(regs[kCentury]) * 100 + Decode(regs[kYear]), Decode(regs[kMonth]),
                      Decode(regs[kDayOfMonth]), hour, Decode(regs[kMinutes]),
                      Decode(regs[kSeconds]));
  int64_t seconds = absl::ToUnixSeconds(absl::FromCivil(t, absl::UTCTimeZone()));
  return std::clamp(seconds, kMinSettableSeconds, kMaxSettableSeconds);
}

uint8_t CmosRtc::ReadData() {
  uint8_t set = cmos_[kStatusB] & kBSet;
  if (IsTimeRegister(index_)) {
    if (set) return cmos_[index_];
    std::array<uint8_t, kCmosSize> regs{};
    EncodeTime(GuestNs(), regs);
    return regs[index_];
  }
  switch (index_) {
    case kStatusA: {
      uint8_t a = cmos_[kStatusA];
      if (!set && FloorMod(GuestNs(), kNsPerSecond) >= kNsPerSecond - kUipWindowNs) a |= kAUip;
      return a;
    }
    case kStatusC: {
      int64_t second = FloorDiv(GuestNs(), kNsPerSecond);
      uint8_t c = (!set && second != uf_last_second_) ? kCUf : 0;
      uf_last_second_ = second;
      if (c & cmos_[kStatusB] & 0x70) c |= kCIrqf;
      return c;
    }
    case kStatusD:
      return kDVrt;
    default:
      return cmos_[index_];
  }
}

void CmosRtc::WriteData(uint8_t value) {
  uint8_t old_b = cmos_[kStatusB];
  switch (index_) {
    case kStatusA:
      cmos_[kStatusA] = value & static_cast<uint8_t>(~kAUip);
      return;
    case kStatusB: {
      if (value & kBSet) value &= static_cast<uint8_t>(~kBUie);  // SET clears UIE
      cmos_[kStatusB] = value;
      if (!(old_b & kBSet) && (value & kBSet)) {
        EncodeTime(GuestNs(), cmos_);  // freeze the time registers for the guest to edit
      } else if ((old_b & kBSet) && !(value & kBSet)) {
        // Run from the time the guest set; its next second starts now.
        __int128 target = static_cast<__int128>(DecodeTime(cmos_)) * kNsPerSecond;
        offset_ns_ = SaturateToInt64(target - clock_->RealtimeNs());
      }
      return;
    }
    case kStatusC:
    case kStatusD:
      return;  // read-only
    default:
      break;
  }
  if (IsTimeRegister(index_) && !(old_b & kBSet)) {
    // The RTC is running: change the one field now, keeping the sub-second phase.
    int64_t realtime = clock_->RealtimeNs();
    int64_t guest = SaturateToInt64(static_cast<__int128>(realtime) + offset_ns_);
    std::array<uint8_t, kCmosSize> regs{};
    EncodeTime(guest, regs);
    regs[index_] = value;
    __int128 target =
        static_cast<__int128>(DecodeTime(regs)) * kNsPerSecond + FloorMod(guest, kNsPerSecond);
    offset_ns_ = SaturateToInt64(target - realtime);
    return;
  }
  cmos_[index_] = value;
}

void CmosRtc::Read(uint64_t offset, std::span<uint8_t> data) {
  if (data.size() != 1 || offset != 1) {
    bad_access_.Report(false, offset, data.size(),
                       "the index port is write-only; the data port is 1 byte");
    FillOpenBus(data);
    return;
  }
  data[0] = ReadData();
}

void CmosRtc::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1 || offset >= kSize) {
    bad_access_.Report(true, offset, data.size(), "registers are 2 ports of 1 byte");
    return;
  }
  if (offset == 0) {
    index_ = data[0] & 0x7f;  // bit 7 is the NMI mask on a PC; ignored
  } else {
    WriteData(data[0]);
  }
}

CmosRtc::State CmosRtc::Save() const {
  State s;
  s.set_index(index_);
  s.set_cmos(std::string(cmos_.begin(), cmos_.end()));
  s.set_offset_ns(offset_ns_);
  s.set_uf_last_second(uf_last_second_);
  return s;
}

absl::StatusOr<std::unique_ptr<CmosRtc>> CmosRtc::Restore(Clock* clock, const State& s) {
  if (absl::Status st = CheckNoUnknownFields(s, "cmos_rtc"); !st.ok()) return st;
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrFormat("cmos_rtc state: %s", what));
  };
  if (s.index() >= kCmosSize) return bad(absl::StrFormat("index %d >= 128", s.index()));
  if (s.cmos().size() != kCmosSize) {
    return bad(absl::StrFormat("%d bytes of CMOS, must be 128", s.cmos().size()));
  }
  auto byte = [&s](uint8_t i) { return static_cast<uint8_t>(s.cmos()[i]); };
  if (byte(kStatusA) & kAUip) return bad("status A has the computed UIP bit set");
  if (byte(kStatusC) != 0) return bad("status C is computed and must be stored as 0");
  if (byte(kStatusD) != kDVrt)
    return bad(absl::StrFormat("status D %#x, must be 0x80", byte(kStatusD)));
  auto rtc = std::make_unique<CmosRtc>(clock);
  rtc->index_ = static_cast<uint8_t>(s.index());
  std::copy(s.cmos().begin(), s.cmos().end(), rtc->cmos_.begin());
  rtc->offset_ns_ = s.offset_ns();
  rtc->uf_last_second_ = s.uf_last_second();
  return rtc;
}

}  // namespace ftd::vmm
