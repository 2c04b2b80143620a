#include "vmm/devices/pit8254.h"

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"
#include "vmm/clock.h"

namespace ftd::vmm {
namespace {

using testing::FakeIrq;
using testing::In8;
using testing::Out8;

constexpr uint64_t kCh0 = 0, kCh2 = 2, kControl = 3;
constexpr uint64_t kMs = 1'000'000;

// Guest time at which `ticks` input-clock ticks have elapsed: ceil(ticks * 1e9 / f).
uint64_t TicksToNs(uint64_t ticks) {
  return (ticks * 1'000'000'000 + Pit8254::kFrequencyHz - 1) / Pit8254::kFrequencyHz;
}

class PitTest : public ::testing::Test {
 protected:
  void Program(uint64_t channel, uint8_t control, uint16_t count) {
    Out8(pit_, kControl, control);
    Out8(pit_, channel, static_cast<uint8_t>(count));
    Out8(pit_, channel, static_cast<uint8_t>(count >> 8));
  }
  uint16_t ReadWord(uint64_t channel) {
    uint16_t lo = In8(pit_, channel);
    return static_cast<uint16_t>(lo | In8(pit_, channel) << 8);
  }
  int Irqs() const { return irq_.rising[0]; }

  ManualClock clock_{5 * kMs};  // not zero: loads happen at a non-trivial guest time
  FakeIrq irq_;
  Pit8254 pit_{&clock_, &irq_};
};

TEST_F(PitTest, NothingScheduledAfterReset) {
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt);
  pit_.Advance(10'000 * kMs);
  EXPECT_EQ(Irqs(), 0);
}

TEST_F(PitTest, Mode2At100HzTicksEvery10ms) {
  const uint16_t reload = 11932;  // 1193182 / 100, rounded
  uint64_t t0 = clock_.MonotonicNs();
  Program(kCh0, 0x34, reload);  // channel 0, lo/hi, mode 2
  for (uint64_t k = 1; k <= 20; ++k) {
    uint64_t due = t0 + TicksToNs(k * reload);
    ASSERT_EQ(pit_.NextDeadlineNs(), due) << "period " << k;
    EXPECT_NEAR(static_cast<double>(due - t0), k * 10.0 * kMs, k * 0.0002 * kMs);
    clock_.Set(due - 1);
    pit_.Advance(due - 1);
    EXPECT_EQ(Irqs(), static_cast<int>(k - 1)) << "no interrupt before the boundary";
    clock_.Set(due);
    pit_.Advance(due);
    EXPECT_EQ(Irqs(), static_cast<int>(k));
    EXPECT_FALSE(irq_.levels[0]) << "the interrupt is a pulse";
  }
}

TEST_F(PitTest, MissedPeriodsRaiseOneInterruptAndKeepPhase) {
  const uint16_t reload = 11932;
  uint64_t t0 = clock_.MonotonicNs();
  Program(kCh0, 0x34, reload);
  uint64_t late = t0 + TicksToNs(5 * reload) + 3 * kMs;  // 5 boundaries passed
  clock_.Set(late);
  pit_.Advance(late);
  EXPECT_EQ(Irqs(), 1);
  EXPECT_EQ(pit_.NextDeadlineNs(), t0 + TicksToNs(6 * reload));
  pit_.Advance(late);
  EXPECT_EQ(Irqs(), 1) << "Advance to the same time raises nothing";
}

TEST_F(PitTest, SquareWaveMode3IsPeriodicToo) {
  uint64_t t0 = clock_.MonotonicNs();
  Program(kCh0, 0x36, 1193);  // mode 3, ~1 kHz
  EXPECT_EQ(pit_.NextDeadlineNs(), t0 + TicksToNs(1193));
  pit_.Advance(t0 + TicksToNs(1193));
  pit_.Advance(t0 + TicksToNs(2 * 1193));
  EXPECT_EQ(Irqs(), 2);
}

TEST_F(PitTest, OneShotMode0) {
  uint64_t t0 = clock_.MonotonicNs();
  Program(kCh0, 0x30, 1193);  // mode 0: ~1 ms
  ASSERT_EQ(pit_.NextDeadlineNs(), t0 + TicksToNs(1193));
  Out8(pit_, kControl, 0xe2);  // read-back status of channel 0
  EXPECT_EQ(In8(pit_, kCh0), 0x30) << "OUT low, count loaded, lo/hi, mode 0, binary";
  clock_.Set(t0 + TicksToNs(1193));
  pit_.Advance(clock_.MonotonicNs());
  EXPECT_EQ(Irqs(), 1);
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt);
  clock_.Advance(100 * kMs);
  pit_.Advance(clock_.MonotonicNs());
  EXPECT_EQ(Irqs(), 1) << "one-shot";
  Out8(pit_, kControl, 0xe2);
  EXPECT_EQ(In8(pit_, kCh0), 0xb0) << "OUT high after terminal count";
  // Rewriting the count re-arms it.
  Out8(pit_, kCh0, 0x10);
  Out8(pit_, kCh0, 0x00);
  EXPECT_EQ(pit_.NextDeadlineNs(), clock_.MonotonicNs() + TicksToNs(16));
}

TEST_F(PitTest, CounterLatchFreezesValue) {
  Program(kCh0, 0x34, 10000);
  clock_.Advance(1 * kMs);     // 1193.182 ticks -> 1193
  Out8(pit_, kControl, 0x00);  // latch channel 0
  clock_.Advance(3 * kMs);
  EXPECT_EQ(ReadWord(kCh0), 10000 - 1193);
  // Unlatched, the counter moves with the clock.
  EXPECT_EQ(ReadWord(kCh0), 10000 - (4 * 1193182 / 1000) % 10000);
}

TEST_F(PitTest, ReadBackLatchesSeveralChannels) {
  Program(kCh0, 0x34, 10000);                // ch0 mode 2
  Program(kCh2, 0xb1, 0x9999);               // ch2 lo/hi mode 0, BCD flag
  clock_.Advance(2 * kMs);                   // 2386 ticks
  Out8(pit_, kControl, 0xc0 | 0x02 | 0x08);  // latch count and status of 0 and 2
  clock_.Advance(7 * kMs);
  EXPECT_EQ(In8(pit_, kCh0), 0xb4) << "status first: OUT high, lo/hi, mode 2";
  EXPECT_EQ(ReadWord(kCh0), 10000 - 2386);
  EXPECT_EQ(In8(pit_, kCh2), 0x31) << "status: OUT low, lo/hi, mode 0, BCD";
  EXPECT_EQ(ReadWord(kCh2), 0x9999 - 2386);
  // A status-only read-back leaves the count alone.
  Out8(pit_, kControl, 0xc0 | 0x20 | 0x02);
  EXPECT_EQ(In8(pit_, kCh0), 0xb4);
}

TEST_F(PitTest, NullCountUntilCountWritten) {
  Out8(pit_, kControl, 0x34);
  Out8(pit_, kControl, 0xe2);
  EXPECT_EQ(In8(pit_, kCh0) & 0x40, 0x40);
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt);
  Out8(pit_, kCh0, 0x00);
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt) << "half a word is not a count";
  Out8(pit_, kCh0, 0x00);
  EXPECT_EQ(pit_.NextDeadlineNs(), clock_.MonotonicNs() + TicksToNs(65536))
      << "reload 0 means 65536";
}

TEST_F(PitTest, LobyteAndHibyteAccessModes) {
  Out8(pit_, kControl, 0x14);  // ch0 LSB only, mode 2
  Out8(pit_, kCh0, 100);
  EXPECT_EQ(pit_.NextDeadlineNs(), clock_.MonotonicNs() + TicksToNs(100));
  EXPECT_EQ(In8(pit_, kCh0), 100);
  EXPECT_EQ(In8(pit_, kCh0), 100) << "LSB mode reads the low byte every time";
  Out8(pit_, kControl, 0x24);  // ch0 MSB only
  Out8(pit_, kCh0, 0x02);
  EXPECT_EQ(pit_.NextDeadlineNs(), clock_.MonotonicNs() + TicksToNs(0x200));
  EXPECT_EQ(In8(pit_, kCh0), 0x02);
}

TEST_F(PitTest, Channel2CountsDown) {
  Program(kCh2, 0xb0, 0xffff);
  clock_.Advance(10 * kMs);  // 11931 ticks
  EXPECT_EQ(ReadWord(kCh2), 0xffff - 11931);
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt) << "only channel 0 interrupts";
}

TEST_F(PitTest, ReprogrammingDeliversDueInterrupt) {
  uint64_t t0 = clock_.MonotonicNs();
  Program(kCh0, 0x34, 1000);
  clock_.Set(t0 + TicksToNs(1000) + 10);
  Out8(pit_, kControl, 0x34);  // before the machine called Advance
  EXPECT_EQ(Irqs(), 1);
}

TEST_F(PitTest, BadAccesses) {
  EXPECT_EQ(In8(pit_, kControl), 0xff);
  uint8_t two[2] = {0x34, 0x00};
  pit_.Write(kControl, two);
  Out8(pit_, kCh0, 0x10);
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt) << "the 2-byte control write was ignored";
}

}  // namespace
}  // namespace ftd::vmm
