// The RARP frame announcing a guest's MAC after go-live, field by field (QEMU's layout),
// and the announce schedule.
#include "failover/announce.h"

#include "gtest/gtest.h"

namespace ftd::failover {
namespace {

uint16_t Be16(const std::vector<uint8_t>& f, size_t off) {
  return static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
}

TEST(AnnounceTest, RarpFrameFields) {
  const std::array<uint8_t, 6> mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const std::vector<uint8_t> f = RarpAnnounceFrame(mac);
  ASSERT_EQ(f.size(), 60u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(f[i], 0xff) << "destination byte " << i;
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(f[6 + i], mac[i]) << "source byte " << i;
  EXPECT_EQ(Be16(f, 12), 0x8035);  // ethertype RARP
  EXPECT_EQ(Be16(f, 14), 1);       // hardware type Ethernet
  EXPECT_EQ(Be16(f, 16), 0x0800);  // protocol type IPv4
  EXPECT_EQ(f[18], 6);             // hardware address length
  EXPECT_EQ(f[19], 4);             // protocol address length
  EXPECT_EQ(Be16(f, 20), 3);       // reverse request
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(f[22 + i], mac[i]) << "sender hw byte " << i;
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(f[28 + i], 0) << "sender ip byte " << i;
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(f[32 + i], mac[i]) << "target hw byte " << i;
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(f[38 + i], 0) << "target ip byte " << i;
  for (size_t i = 42; i < 60; ++i) EXPECT_EQ(f[i], 0) << "padding byte " << i;
}

TEST(AnnounceTest, FrameFollowsTheMac) {
  const std::array<uint8_t, 6> mac = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
  const std::vector<uint8_t> f = RarpAnnounceFrame(mac);
  const std::vector<uint8_t> expected = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,  // Ethernet
      0x80, 0x35, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x03,              // RARP header
      0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00, 0x00, 0x00,              // sender
      0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x00, 0x00, 0x00, 0x00,              // target
  };
  ASSERT_EQ(f.size(), 60u);
  EXPECT_EQ(std::vector<uint8_t>(f.begin(), f.begin() + 42), expected);
}

TEST(AnnounceTest, ScheduleIsQemusDefault) {
  // initial 50 ms, step 100 ms, 5 rounds: waits 0, 50, 150, 250, 350 between rounds.
  ASSERT_EQ(kAnnounceRounds, 5);
  const int delays[] = {0, 50, 150, 250, 350};
  const int at[] = {0, 50, 200, 450, 800};
  for (int i = 0; i < kAnnounceRounds; ++i) {
    EXPECT_EQ(kAnnounceDelaysMs[i], delays[i]) << i;
    EXPECT_EQ(kAnnounceAtMs[i], at[i]) << i;
  }
}

}  // namespace
}  // namespace ftd::failover
