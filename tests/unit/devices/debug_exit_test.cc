#include "vmm/devices/debug_exit.h"

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"

namespace ftd::vmm {
namespace {

using testing::In32;
using testing::In8;
using testing::Out32;
using testing::Out8;

TEST(DebugExitTest, NoStatusUntilWritten) {
  DebugExit dev;
  EXPECT_EQ(dev.exit_status(), std::nullopt);
  EXPECT_EQ(In8(dev, 0), 0xff);
  EXPECT_EQ(In32(dev, 0), 0xffffffffu);
  EXPECT_EQ(dev.exit_status(), std::nullopt);
}

TEST(DebugExitTest, ByteWriteRecordsStatus) {
  DebugExit dev;
  Out8(dev, 0, 42);
  EXPECT_EQ(dev.exit_status(), 42u);
}

TEST(DebugExitTest, WordAndDwordWritesRecordTheValue) {
  DebugExit dev;
  uint8_t w[2] = {0x34, 0x12};
  dev.Write(0, w);
  EXPECT_EQ(dev.exit_status(), 0x1234u);
  Out32(dev, 0, 0xdeadbeef);
  EXPECT_EQ(dev.exit_status(), 0xdeadbeefu);
  Out8(dev, 3, 0);  // any offset of the 4-port window
  EXPECT_EQ(dev.exit_status(), 0u);
}

TEST(DebugExitTest, OddSizesAreIgnored) {
  DebugExit dev;
  uint8_t three[3] = {1, 2, 3};
  dev.Write(0, three);
  uint8_t eight[8] = {};
  dev.Write(0, eight);
  EXPECT_EQ(dev.exit_status(), std::nullopt);
}

}  // namespace
}  // namespace ftd::vmm
