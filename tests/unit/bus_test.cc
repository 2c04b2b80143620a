#include "vmm/bus.h"

#include <gtest/gtest.h>

#include <vector>

namespace ftd::vmm {
namespace {

class Recorder final : public Device {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  void Read(uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back(offset);
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void Write(uint64_t offset, std::span<const uint8_t> data) override {
    writes.emplace_back(offset, std::vector<uint8_t>(data.begin(), data.end()));
  }
  std::vector<uint64_t> reads;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> writes;

 private:
  std::string name_;
};

TEST(BusTest, DispatchesWithDeviceRelativeOffsets) {
  Bus bus("pio");
  Recorder a("a"), b("b");
  ASSERT_TRUE(bus.Register(0x3f8, 8, &a).ok());
  ASSERT_TRUE(bus.Register(0x40, 4, &b).ok());
  uint8_t v[1] = {0};
  EXPECT_TRUE(bus.Read(0x3fd, v));
  EXPECT_EQ(v[0], 5);
  EXPECT_EQ(a.reads, std::vector<uint64_t>{5});
  const uint8_t w[2] = {1, 2};
  EXPECT_TRUE(bus.Write(0x42, w));
  ASSERT_EQ(b.writes.size(), 1u);
  EXPECT_EQ(b.writes[0].first, 2u);
  EXPECT_EQ(b.writes[0].second, (std::vector<uint8_t>{1, 2}));
}

TEST(BusTest, UnclaimedAndStraddlingAccessesAreNotDispatched) {
  Bus bus("pio");
  Recorder a("a");
  ASSERT_TRUE(bus.Register(0x100, 4, &a).ok());
  uint8_t v4[4] = {};
  EXPECT_FALSE(bus.Read(0xff, std::span<uint8_t>(v4, 1)));
  EXPECT_FALSE(bus.Read(0x104, std::span<uint8_t>(v4, 1)));
  EXPECT_FALSE(bus.Read(0x102, v4));  // runs past the end of the range
  EXPECT_TRUE(bus.Read(0x100, v4));
  EXPECT_EQ(a.reads.size(), 1u);
}

TEST(BusTest, OverlapsAreRefused) {
  Bus bus("mmio");
  Recorder a("a"), b("b");
  ASSERT_TRUE(bus.Register(0x1000, 0x100, &a).ok());
  EXPECT_EQ(bus.Register(0x10ff, 1, &b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0xf00, 0x101, &b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x1000, 0x100, &b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x900, 0x1000, &b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(bus.Register(0x1100, 0x10, &b).ok());
  EXPECT_TRUE(bus.Register(0xf00, 0x100, &b).ok());
  EXPECT_FALSE(bus.Register(0x2000, 0, &b).ok());
  EXPECT_FALSE(bus.Register(UINT64_MAX - 1, 4, &b).ok());
}

}  // namespace
}  // namespace ftd::vmm
