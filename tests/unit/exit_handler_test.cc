#include "vmm/exit_handler.h"

#include <gtest/gtest.h>

#include <vector>

namespace ftd::vmm {
namespace {

class Port final : public Device {
 public:
  std::string_view Name() const override { return "port"; }
  void Read(uint64_t offset, std::span<uint8_t> data) override {
    for (auto& b : data) b = static_cast<uint8_t>(0x40 + offset + reads++);
  }
  void Write(uint64_t, std::span<const uint8_t> data) override {
    written.insert(written.end(), data.begin(), data.end());
  }
  int reads = 0;
  std::vector<uint8_t> written;
};

class ExitHandlerTest : public ::testing::Test {
 protected:
  ExitHandlerTest() : msrs(&clock) {
    EXPECT_TRUE(pio.Register(0x3f8, 8, &port).ok());
    EXPECT_TRUE(mmio.Register(0xd0000000, 0x200, &port).ok());
  }
  Bus pio{"pio"}, mmio{"mmio"};
  Port port;
  ManualClock clock{5000};
  TimeMsrs msrs;
  UnclaimedAccessLog unclaimed;
  ExitContext ctx{&pio, &mmio, &msrs, &unclaimed};
};

TEST_F(ExitHandlerTest, RepOutsDeliversEveryByte) {
  uint8_t buf[5] = {'h', 'e', 'l', 'l', 'o'};
  IoExit io{0x3f8, 1, true, 5, std::span<uint8_t>(buf)};
  EXPECT_EQ(HandleExit(VcpuExit{io}, ctx).action, ExitAction::kContinue);
  EXPECT_EQ(std::string(port.written.begin(), port.written.end()), "hello");
}

TEST_F(ExitHandlerTest, InFromDeviceAndFromNowhere) {
  uint8_t buf[2] = {0, 0};
  IoExit in{0x3f9, 1, false, 1, std::span<uint8_t>(buf, 1)};
  HandleExit(VcpuExit{in}, ctx);
  EXPECT_EQ(buf[0], 0x41);
  IoExit nowhere{0x1234, 2, false, 1, std::span<uint8_t>(buf, 2)};
  EXPECT_EQ(HandleExit(VcpuExit{nowhere}, ctx).action, ExitAction::kContinue);
  EXPECT_EQ(buf[0], 0xff);
  EXPECT_EQ(buf[1], 0xff);
  EXPECT_FALSE(unclaimed.FirstTime('p', 0x1234)) << "reported once already";
}

TEST_F(ExitHandlerTest, MalformedIoIsAnErrorNotACrash) {
  uint8_t buf[4] = {};
  IoExit bad{0x3f8, 3, true, 1, std::span<uint8_t>(buf, 3)};
  EXPECT_EQ(HandleExit(VcpuExit{bad}, ctx).action, ExitAction::kError);
  IoExit mismatch{0x3f8, 2, true, 2, std::span<uint8_t>(buf, 3)};
  EXPECT_EQ(HandleExit(VcpuExit{mismatch}, ctx).action, ExitAction::kError);
}

TEST_F(ExitHandlerTest, MmioReadAndUnclaimedWrite) {
  uint8_t d[4] = {};
  MmioExit r{0xd0000010, false, std::span<uint8_t>(d)};
  HandleExit(VcpuExit{r}, ctx);
  EXPECT_EQ(d[0], 0x50);
  MmioExit w{0xe0000000, true, std::span<uint8_t>(d)};
  EXPECT_EQ(HandleExit(VcpuExit{w}, ctx).action, ExitAction::kContinue);
}

TEST_F(ExitHandlerTest, TimeMsrsComeFromTheClock) {
  uint64_t v = 0;
  uint8_t err = 9;
  MsrReadExit rd{0x10, &v, &err};
  HandleExit(VcpuExit{rd}, ctx);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(v, 5000u);
  clock.Advance(100);
  HandleExit(VcpuExit{rd}, ctx);
  EXPECT_EQ(v, 5100u);
  MsrReadExit kvmclock{0x4b564d01, &v, &err};
  HandleExit(VcpuExit{kvmclock}, ctx);
  EXPECT_EQ(err, 1) << "kvmclock is hidden: #GP";
  MsrWriteExit wr{0x10, 0, &err};
  HandleExit(VcpuExit{wr}, ctx);
  EXPECT_EQ(err, 0) << "TSC writes are accepted and ignored";
  HandleExit(VcpuExit{rd}, ctx);
  EXPECT_EQ(v, 5100u);
}

TEST_F(ExitHandlerTest, ActionsForControlExits) {
  EXPECT_EQ(HandleExit(VcpuExit{HltExit{}}, ctx).action, ExitAction::kHalt);
  EXPECT_EQ(HandleExit(VcpuExit{IrqWindowExit{}}, ctx).action, ExitAction::kIrqWindow);
  EXPECT_EQ(HandleExit(VcpuExit{InterruptedExit{}}, ctx).action, ExitAction::kInterrupted);
  EXPECT_EQ(HandleExit(VcpuExit{ShutdownExit{}}, ctx).action, ExitAction::kShutdown);
  auto r = HandleExit(VcpuExit{InternalErrorExit{1}}, ctx);
  EXPECT_EQ(r.action, ExitAction::kError);
  EXPECT_NE(r.error.find("internal error"), std::string::npos);
  EXPECT_TRUE(IsPoint(VcpuExit{HltExit{}}));
  EXPECT_FALSE(IsPoint(VcpuExit{InterruptedExit{}}));
}

}  // namespace
}  // namespace ftd::vmm
