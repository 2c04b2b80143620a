#include "vmm/devices/cmos_rtc.h"

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"
#include "vmm/clock.h"

namespace ftd::vmm {
namespace {

using testing::In8;
using testing::Out8;

constexpr int64_t kNs = 1'000'000'000;
// 2024-02-29 13:45:56 UTC, a Thursday.
constexpr int64_t kLeapDay = 1'709'214'356;

class RtcTest : public ::testing::Test {
 protected:
  uint8_t Reg(uint8_t index) {
    Out8(rtc_, 0, index);
    return In8(rtc_, 1);
  }
  void SetReg(uint8_t index, uint8_t value) {
    Out8(rtc_, 0, index);
    Out8(rtc_, 1, value);
  }

  // Guest time starts at 7 s; realtime = kLeapDay + 250 ms at that point.
  ManualClock clock_{7 * kNs, kLeapDay* kNs + 250'000'000 - 7 * kNs};
  CmosRtc rtc_{&clock_};
};

TEST_F(RtcTest, BcdDecodeOfKnownTime) {
  EXPECT_EQ(Reg(0x0b), 0x02) << "24h, BCD by default";
  EXPECT_EQ(Reg(0x00), 0x56);
  EXPECT_EQ(Reg(0x02), 0x45);
  EXPECT_EQ(Reg(0x04), 0x13);
  EXPECT_EQ(Reg(0x06), 5) << "Thursday, Sunday = 1";
  EXPECT_EQ(Reg(0x07), 0x29);
  EXPECT_EQ(Reg(0x08), 0x02);
  EXPECT_EQ(Reg(0x09), 0x24);
  EXPECT_EQ(Reg(0x32), 0x20);
  EXPECT_EQ(Reg(0x0d), 0x80);
}

TEST_F(RtcTest, BinaryDecodeOfKnownTime) {
  SetReg(0x0b, 0x06);  // binary, 24h
  EXPECT_EQ(Reg(0x00), 56);
  EXPECT_EQ(Reg(0x02), 45);
  EXPECT_EQ(Reg(0x04), 13);
  EXPECT_EQ(Reg(0x07), 29);
  EXPECT_EQ(Reg(0x08), 2);
  EXPECT_EQ(Reg(0x09), 24);
  EXPECT_EQ(Reg(0x32), 20);
}

TEST_F(RtcTest, TwelveHourMode) {
  SetReg(0x0b, 0x00);  // BCD, 12h
  EXPECT_EQ(Reg(0x04), 0x81) << "1 PM";
  SetReg(0x0b, 0x04);  // binary, 12h
  EXPECT_EQ(Reg(0x04), 0x81);
  // Midnight is 12 AM, noon is 12 PM.
  clock_.Advance((10 * 3600 + 14 * 60 + 4) * kNs);  // 2024-03-01 00:00:00
  EXPECT_EQ(Reg(0x04), 12);
  EXPECT_EQ(Reg(0x07), 1);
  EXPECT_EQ(Reg(0x08), 3);
  clock_.Advance(12 * 3600 * kNs);
  EXPECT_EQ(Reg(0x04), 0x80 | 12);
}

TEST_F(RtcTest, TimeFollowsClock) {
  clock_.Advance(4 * kNs);
  EXPECT_EQ(Reg(0x00), 0x00);
  EXPECT_EQ(Reg(0x02), 0x46);
}

TEST_F(RtcTest, UpdateInProgressInLast244us) {
  // The time is at .250 s: move to just before the UIP window, then into it.
  clock_.Advance(750'000'000 - 244'001);
  EXPECT_EQ(Reg(0x0a) & 0x80, 0);
  clock_.Advance(1);
  EXPECT_EQ(Reg(0x0a) & 0x80, 0x80);
  clock_.Advance(244'000 - 1);
  EXPECT_EQ(Reg(0x0a) & 0x80, 0x80);
  EXPECT_EQ(Reg(0x00), 0x56);
  clock_.Advance(1);
  EXPECT_EQ(Reg(0x0a) & 0x80, 0);
  EXPECT_EQ(Reg(0x00), 0x57);
  EXPECT_EQ(Reg(0x0a), 0x26) << "divider bits as reset";
}

TEST_F(RtcTest, SetBitFreezesAndGuestSetsTime) {
  SetReg(0x0b, 0x82);  // SET
  clock_.Advance(5 * kNs);
  EXPECT_EQ(Reg(0x00), 0x56) << "frozen while SET";
  EXPECT_EQ(Reg(0x0a) & 0x80, 0);
  // Set 1999-12-31 23:59:59.
  SetReg(0x00, 0x59);
  SetReg(0x02, 0x59);
  SetReg(0x04, 0x23);
  SetReg(0x07, 0x31);
  SetReg(0x08, 0x12);
  SetReg(0x09, 0x99);
  SetReg(0x32, 0x19);
  EXPECT_EQ(Reg(0x09), 0x99);
  SetReg(0x0b, 0x02);  // run
  EXPECT_EQ(Reg(0x00), 0x59);
  clock_.Advance(1 * kNs);
  EXPECT_EQ(Reg(0x00), 0x00);
  EXPECT_EQ(Reg(0x09), 0x00);
  EXPECT_EQ(Reg(0x32), 0x20);
  EXPECT_EQ(Reg(0x08), 0x01);
  EXPECT_EQ(Reg(0x06), 7) << "2000-01-01 was a Saturday";
}

TEST_F(RtcTest, WriteWhileRunningMovesTime) {
  SetReg(0x09, 0x30);  // year 2030
  EXPECT_EQ(Reg(0x09), 0x30);
  EXPECT_EQ(Reg(0x00), 0x56);
  EXPECT_EQ(Reg(0x07), 0x01) << "29 February 2030 does not exist: normalized to 1 March";
  EXPECT_EQ(Reg(0x08), 0x03);
}

TEST_F(RtcTest, StatusCUpdateFlagClearsOnRead) {
  Reg(0x0c);
  EXPECT_EQ(Reg(0x0c), 0x00);
  clock_.Advance(kNs);
  EXPECT_EQ(Reg(0x0c), 0x10);
  EXPECT_EQ(Reg(0x0c), 0x00);
  SetReg(0x0b, 0x12);  // UIE
  clock_.Advance(kNs);
  EXPECT_EQ(Reg(0x0c), 0x90);
}

TEST_F(RtcTest, CmosRamIsStorageAndNmiBitIgnored) {
  SetReg(0x40, 0x5a);
  SetReg(0x7f, 0xa5);
  SetReg(0x01, 0x33);  // alarm seconds: storage
  EXPECT_EQ(Reg(0x40), 0x5a);
  EXPECT_EQ(Reg(0x7f), 0xa5);
  EXPECT_EQ(Reg(0x01), 0x33);
  Out8(rtc_, 0, 0x80 | 0x40);
  EXPECT_EQ(In8(rtc_, 1), 0x5a);
  SetReg(0x0d, 0x00);
  EXPECT_EQ(Reg(0x0d), 0x80) << "D is read-only";
  EXPECT_EQ(In8(rtc_, 0), 0xff) << "the index port is write-only";
}

}  // namespace
}  // namespace ftd::vmm
