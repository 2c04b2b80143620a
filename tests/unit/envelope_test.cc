#include "vmm/envelope.h"

#include <gtest/gtest.h>

#include <string>

#include "vmm/snapshot.h"

namespace ftd::vmm {
namespace {

constexpr EnvelopeKind kTest{{"FTDTEST\0", 8}, 3, 1024};

std::vector<uint8_t> Payload(size_t n) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 7);
  return p;
}

TEST(EnvelopeTest, RoundTrip) {
  auto file = WrapEnvelope(kTest, Payload(100));
  auto p = UnwrapEnvelope(kTest, file, "t");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(std::vector<uint8_t>(p->begin(), p->end()), Payload(100));
}

TEST(EnvelopeTest, EveryTruncationIsRefused) {
  auto file = WrapEnvelope(kTest, Payload(50));
  for (size_t n = 0; n < file.size(); ++n) {
    auto p = UnwrapEnvelope(kTest, std::span<const uint8_t>(file.data(), n), "t");
    EXPECT_FALSE(p.ok()) << n;
  }
}

TEST(EnvelopeTest, EverySingleBitFlipIsRefused) {
  auto file = WrapEnvelope(kTest, Payload(40));
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = file;
      copy[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(UnwrapEnvelope(kTest, copy, "t").ok()) << i << ":" << bit;
    }
  }
}

TEST(EnvelopeTest, ClearErrorsForVersionMagicAndSize) {
  auto other_version = WrapEnvelope({{"FTDTEST\0", 8}, 4, 1024}, Payload(10));
  auto v = UnwrapEnvelope(kTest, other_version, "x.snap");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(v.status().message()).find("version 4"), std::string::npos);
  auto other_magic = WrapEnvelope({{"FTDLOG\0\0", 8}, 3, 1024}, Payload(10));
  EXPECT_NE(std::string(UnwrapEnvelope(kTest, other_magic, "x").status().message()).find("magic"),
            std::string::npos);
  auto big = WrapEnvelope({{"FTDTEST\0", 8}, 3, 1 << 20}, Payload(2000));
  EXPECT_EQ(UnwrapEnvelope(kTest, big, "x").status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(SnapshotFileTest, GarbageAndHollowSnapshotsAreRefused) {
  std::vector<uint8_t> garbage(200, 0x5a);
  EXPECT_FALSE(DecodeSnapshot(garbage, "g").ok());
  proto::Snapshot hollow;
  hollow.set_exit_index(3);
  auto s = DecodeSnapshot(EncodeSnapshot(hollow), "h");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("lacks"), std::string::npos);
  std::string junk = "\x0a\xff\xff\xff\xff\x0f";  // a length-delimited field longer than the data
  auto file =
      WrapEnvelope(kSnapshotFile, {reinterpret_cast<const uint8_t*>(junk.data()), junk.size()});
  EXPECT_FALSE(DecodeSnapshot(file, "j").ok());
}

TEST(SnapshotFileTest, FileRoundTrip) {
  proto::Snapshot snap;
  snap.mutable_config()->set_mem_size(64 << 20);
  snap.mutable_config()->set_cmdline("x=1");
  snap.mutable_vcpu()->set_regs("r");
  snap.mutable_devices();
  snap.set_exit_index(42);
  std::string path = ::testing::TempDir() + "/rt.snap";
  ASSERT_TRUE(WriteSnapshotFile(path, snap).ok());
  auto back = ReadSnapshotFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->exit_index(), 42u);
  EXPECT_EQ(back->config().cmdline(), "x=1");
  EXPECT_EQ(ReadSnapshotFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftd::vmm
