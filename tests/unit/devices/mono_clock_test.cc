#include "vmm/devices/mono_clock.h"

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"
#include "vmm/clock.h"

namespace ftd::vmm {
namespace {

using testing::In16;
using testing::In32;
using testing::In8;
using testing::Out32;

TEST(MonoClockTest, SixtyFourBitReadInTwoHalvesIsConsistent) {
  ManualClock clock(0x0000'0001'ffff'fff0);
  MonoClock dev(&clock);
  uint32_t lo = In32(dev, 0);
  clock.Advance(0x20);  // the high half moves on: 0x2'0000'0010
  uint32_t hi = In32(dev, 4);
  EXPECT_EQ((static_cast<uint64_t>(hi) << 32) | lo, 0x0000'0001'ffff'fff0u)
      << "the high half is the one latched with the low half";
  lo = In32(dev, 0);
  hi = In32(dev, 4);
  EXPECT_EQ((static_cast<uint64_t>(hi) << 32) | lo, 0x0000'0002'0000'0010u);
}

TEST(MonoClockTest, Magic) {
  ManualClock clock;
  MonoClock dev(&clock);
  EXPECT_EQ(In32(dev, 8), 0x43445446u);
  uint8_t b[4];
  dev.Read(8, b);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 4), "FTDC");
}

TEST(MonoClockTest, BadAccessesReadOnesAndDoNotLatch) {
  ManualClock clock(0x1234'5678'9abc'def0);
  MonoClock dev(&clock);
  EXPECT_EQ(In8(dev, 0), 0xff);
  EXPECT_EQ(In16(dev, 0), 0xffff);
  EXPECT_EQ(In32(dev, 12), 0xffffffffu);
  EXPECT_EQ(In32(dev, 2), 0xffffffffu);
  EXPECT_EQ(In32(dev, 4), 0u) << "nothing latched by bad reads";
  Out32(dev, 4, 0x77);
  EXPECT_EQ(In32(dev, 4), 0u) << "writes are ignored";
  uint8_t eight[8];
  dev.Read(0, eight);
  EXPECT_EQ(eight[7], 0xff);
}

}  // namespace
}  // namespace ftd::vmm
