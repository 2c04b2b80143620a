// GatedBlockBackend with a recording back end and a gate whose releases the test runs by
// hand: reads with nothing held go straight through, writes and flushes wait for the gate,
// and a read behind a held request waits its turn so it cannot overtake it.
#include "vmm/block/gated_backend.h"

#include <gtest/gtest.h>

#include <functional>
#include <utility>
#include <vector>

namespace ftd::vmm {
namespace {

class RecordingBackend final : public BlockBackend {
 public:
  void Submit(BlockRequest request) override { submitted.push_back(std::move(request)); }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& r : submitted) out.push_back(r.id);
    return out;
  }
  std::vector<BlockRequest> submitted;
};

class ManualGate final : public OutputGate {
 public:
  void Hold(size_t bytes, std::function<void()> release) override {
    held.push_back({bytes, std::move(release)});
  }
  // Runs the oldest release not yet run.
  void ReleaseNext() {
    ASSERT_LT(next, held.size());
    held[next++].release();
  }
  size_t pending() const { return held.size() - next; }
  struct Held {
    size_t bytes;
    std::function<void()> release;
  };
  std::vector<Held> held;
  size_t next = 0;
};

BlockRequest Read(uint64_t id, uint64_t offset = 0, uint32_t length = 512) {
  BlockRequest r;
  r.id = id;
  r.kind = BlockRequest::Kind::kRead;
  r.offset = offset;
  r.length = length;
  return r;
}

BlockRequest Write(uint64_t id, uint64_t offset, std::vector<uint8_t> data) {
  BlockRequest r;
  r.id = id;
  r.kind = BlockRequest::Kind::kWrite;
  r.offset = offset;
  r.data = std::move(data);
  return r;
}

BlockRequest Flush(uint64_t id) {
  BlockRequest r;
  r.id = id;
  r.kind = BlockRequest::Kind::kFlush;
  return r;
}

class GatedBackendTest : public testing::Test {
 protected:
  RecordingBackend real_;
  ManualGate gate_;
  GatedBlockBackend backend_{&real_, &gate_};
};

TEST_F(GatedBackendTest, ReadWithNothingHeldGoesStraightToTheRealBackend) {
  backend_.Submit(Read(1, 4096, 1024));
  ASSERT_EQ(real_.submitted.size(), 1u);
  EXPECT_EQ(real_.submitted[0].id, 1u);
  EXPECT_EQ(real_.submitted[0].kind, BlockRequest::Kind::kRead);
  EXPECT_EQ(real_.submitted[0].offset, 4096u);
  EXPECT_EQ(real_.submitted[0].length, 1024u);
  EXPECT_TRUE(gate_.held.empty());
  EXPECT_EQ(backend_.held(), 0u);
}

TEST_F(GatedBackendTest, WriteWaitsForTheGateAndArrivesIntact) {
  std::vector<uint8_t> data(1024);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  backend_.Submit(Write(2, 8192, data));
  EXPECT_TRUE(real_.submitted.empty());
  ASSERT_EQ(gate_.held.size(), 1u);
  EXPECT_EQ(gate_.held[0].bytes, 1024u);
  EXPECT_EQ(backend_.held(), 1u);

  gate_.ReleaseNext();
  ASSERT_EQ(real_.submitted.size(), 1u);
  const BlockRequest& r = real_.submitted[0];
  EXPECT_EQ(r.id, 2u);
  EXPECT_EQ(r.kind, BlockRequest::Kind::kWrite);
  EXPECT_EQ(r.offset, 8192u);
  EXPECT_EQ(r.data, data);
  EXPECT_EQ(backend_.held(), 0u);
}

TEST_F(GatedBackendTest, FlushWaitsForTheGate) {
  backend_.Submit(Flush(3));
  EXPECT_TRUE(real_.submitted.empty());
  ASSERT_EQ(gate_.held.size(), 1u);
  EXPECT_EQ(backend_.held(), 1u);
  gate_.ReleaseNext();
  ASSERT_EQ(real_.submitted.size(), 1u);
  EXPECT_EQ(real_.submitted[0].kind, BlockRequest::Kind::kFlush);
  EXPECT_EQ(backend_.held(), 0u);
}

TEST_F(GatedBackendTest, ReadBehindAHeldWriteCannotOvertakeIt) {
  backend_.Submit(Write(1, 0, std::vector<uint8_t>(512, 0xab)));
  backend_.Submit(Read(2, 0, 512));  // reads the block the held write changes
  EXPECT_TRUE(real_.submitted.empty()) << "the read overtook the held write";
  ASSERT_EQ(gate_.held.size(), 2u);
  EXPECT_EQ(backend_.held(), 2u);

  gate_.ReleaseNext();
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(backend_.held(), 1u);
  // Still one ahead in the gate: a new read queues behind it as well.
  backend_.Submit(Read(3));
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1}));
  ASSERT_EQ(gate_.pending(), 2u);

  gate_.ReleaseNext();
  gate_.ReleaseNext();
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(real_.submitted[1].kind, BlockRequest::Kind::kRead);
  EXPECT_EQ(backend_.held(), 0u);
}

TEST_F(GatedBackendTest, ReadsGoStraightAgainOnceEverythingIsReleased) {
  backend_.Submit(Write(1, 0, std::vector<uint8_t>(512, 1)));
  backend_.Submit(Flush(2));
  gate_.ReleaseNext();
  gate_.ReleaseNext();
  ASSERT_EQ(backend_.held(), 0u);
  backend_.Submit(Read(3));
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(gate_.held.size(), 2u);  // the read never went to the gate
}

TEST_F(GatedBackendTest, MixedStreamReachesTheRealBackendInSubmissionOrder) {
  backend_.Submit(Read(1));                                 // straight
  backend_.Submit(Write(2, 0, std::vector<uint8_t>(512)));  // held
  backend_.Submit(Read(3));                                 // behind 2
  backend_.Submit(Flush(4));                                // held
  backend_.Submit(Write(5, 512, std::vector<uint8_t>(1024)));
  backend_.Submit(Read(6));
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(backend_.held(), 5u);
  while (gate_.pending() > 0) gate_.ReleaseNext();
  EXPECT_EQ(real_.ids(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(backend_.held(), 0u);
}

}  // namespace
}  // namespace ftd::vmm
