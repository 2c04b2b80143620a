// DirtyBlockMap (vmm/block/dirty_map.h): the file survives a reopen exactly, a damaged or
// foreign one is refused with a message that says so, generations unite as documented, the
// history's limits are enforced, and the rejoin delta makes two diverged replicas equal again
// (checked on random histories too). The ordering of a tracked write against the map's own
// I/O is in tracked_write_test.cc.
#include "vmm/block/dirty_map.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/unit/failover/temp_dir.h"
#include "vmm/envelope.h"

namespace ftd::vmm {
namespace {

using Blocks = std::vector<uint64_t>;
constexpr uint64_t kB = DirtyBlockMap::kBlockSize;

class DirtyMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::err);
    dir_ = tmp_.path();
    image_ = tmp_.Sub("disk.img");
  }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }
  std::unique_ptr<DirtyBlockMap> Make(uint64_t size = 64ull << 20) {
    auto m = DirtyBlockMap::OpenOrCreate(image_, size);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::vector<uint8_t> MapFile() {
    auto f = ReadWholeFile(DirtyBlockMap::PathFor(image_), 1ull << 30);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : std::vector<uint8_t>{};
  }
  void WriteMapFile(const std::vector<uint8_t>& bytes) {
    ASSERT_TRUE(WriteFileAtomically(DirtyBlockMap::PathFor(image_), bytes).ok());
  }
  static Blocks Of(const DirtyBlockMap& m, uint64_t g) {
    auto b = m.BlocksOf(g);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : Blocks{~0ull};
  }
  static Blocks Since(const DirtyBlockMap& m, uint64_t g) {
    auto b = m.BlocksSince(g);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : Blocks{~0ull};
  }

  failover::TempDir tmp_;
  std::string dir_;
  std::string image_;
};

TEST_F(DirtyMapTest, MarkSyncReopenRoundTrip) {
  DirtyBlockMap::LineageId lineage;
  {
    auto m = Make();
    ASSERT_NE(m, nullptr);
    lineage = m->lineage_id();
    EXPECT_EQ(m->path(), image_ + ".ftd-dirty");
    ASSERT_TRUE(m->BeginGeneration(3).ok());
    ASSERT_TRUE(m->MarkWrite(0, 512).ok());                // block 0
    ASSERT_TRUE(m->MarkWrite(5 * kB + 512, 3 * kB).ok());  // blocks 5..8
    ASSERT_TRUE(m->MarkWrite(5 * kB, kB).ok());            // already set: no change
    EXPECT_EQ(Of(*m, 3), (Blocks{0, 5, 6, 7, 8}));
  }
  auto m = DirtyBlockMap::Open(image_, 64ull << 20);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->lineage_id(), lineage);
  EXPECT_EQ((*m)->current_generation(), 3u);
  EXPECT_EQ((*m)->first_generation(), 3u);
  EXPECT_EQ(Of(**m, 3), (Blocks{0, 5, 6, 7, 8}));
  // Marks after the reopen land in the same file.
  ASSERT_TRUE((*m)->MarkWrite(100 * kB, 1).ok());
  m->reset();
  auto again = DirtyBlockMap::Open(image_, 64ull << 20);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Of(**again, 3), (Blocks{0, 5, 6, 7, 8, 100}));
}

TEST_F(DirtyMapTest, ANewMapHasANewLineageAndNoHistory) {
  auto a = Make();
  ASSERT_NE(a, nullptr);
  const auto first = a->lineage_id();
  EXPECT_NE(first, DirtyBlockMap::LineageId{});
  // Nothing began: no query can vouch for anything, and a write has nowhere to go.
  EXPECT_EQ(a->BlocksSince(0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->MarkWrite(0, 512).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->BeginGeneration(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(HistoryOf(*a).ok());
  a.reset();
  ASSERT_TRUE(DirtyBlockMap::Discard(image_).ok());
  ASSERT_TRUE(DirtyBlockMap::Discard(image_).ok());  // none is fine
  EXPECT_EQ(DirtyBlockMap::Open(image_, 64ull << 20).status().code(), absl::StatusCode::kNotFound);
  auto b = Make();
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b->lineage_id(), first);
  // Create with a given lineage replaces whatever was there.
  ASSERT_TRUE(b->BeginGeneration(2).ok());
  ASSERT_TRUE(b->MarkWrite(0, kB).ok());
  b.reset();
  auto c = DirtyBlockMap::Create(image_, 64ull << 20, first);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->lineage_id(), first);
  EXPECT_EQ((*c)->current_generation(), 0u);
  EXPECT_EQ((*c)->first_generation(), 0u);
}

// Damaged, truncated, foreign and wrong-version files are refused, never trusted, and the
// message names the file and says what the replica needs.
TEST_F(DirtyMapTest, DamagedFilesAreRefusedWithAClearMessage) {
  {
    auto m = Make();
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(m->BeginGeneration(1).ok());
    ASSERT_TRUE(m->MarkWrite(7 * kB, kB).ok());
  }
  const std::vector<uint8_t> good = MapFile();
  ASSERT_EQ(good.size() % 4096, 0u);
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    absl::StatusCode code;
    const char* says;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}, absl::StatusCode::kDataLoss, "truncated"});
  cases.push_back({"short header", std::vector<uint8_t>(good.begin(), good.begin() + 100),
                   absl::StatusCode::kDataLoss, "truncated"});
  cases.push_back({"torn tail", std::vector<uint8_t>(good.begin(), good.end() - 4096),
                   absl::StatusCode::kDataLoss, "truncated"});
  auto flip = [&good](size_t at) {
    std::vector<uint8_t> b = good;
    b[at] ^= 0x10;
    return b;
  };
  cases.push_back({"magic", flip(0), absl::StatusCode::kInvalidArgument, "wrong magic"});
  cases.push_back({"header bit", flip(20), absl::StatusCode::kDataLoss, "header is corrupted"});
  cases.push_back({"slot page", flip(4096 + 3), absl::StatusCode::kDataLoss, "slot 0"});
  // Slot 0 holds generation 1; its first chunk page follows the slot page.
  cases.push_back({"chunk bit", flip(2 * 4096), absl::StatusCode::kDataLoss, "chunk 0"});
  std::vector<uint8_t> v2 = good;
  Put32(&v2[8], 2);
  Put32(&v2[56], Crc32({v2.data(), 56}));
  cases.push_back({"version", v2, absl::StatusCode::kFailedPrecondition, "format version 2"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    WriteMapFile(c.bytes);
    for (bool create : {false, true}) {
      auto m = create ? DirtyBlockMap::OpenOrCreate(image_, 64ull << 20)
                      : DirtyBlockMap::Open(image_, 64ull << 20);
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().code(), c.code) << m.status();
      EXPECT_NE(m.status().message().find(c.says), std::string::npos) << m.status();
      EXPECT_NE(m.status().message().find(DirtyBlockMap::PathFor(image_)), std::string::npos);
      EXPECT_NE(m.status().message().find("needs a full copy"), std::string::npos);
    }
  }
  // The intact file for another image size (the image was resized) is not this image's map.
  WriteMapFile(good);
  auto other = DirtyBlockMap::Open(image_, 32ull << 20);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_NE(other.status().message().find("made for an image of 67108864 bytes"),
            std::string::npos);
  EXPECT_TRUE(DirtyBlockMap::Open(image_, 64ull << 20).ok());
}

TEST_F(DirtyMapTest, GenerationsUnite) {
  auto m = Make();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->BeginGeneration(1).ok());
  ASSERT_TRUE(m->MarkWrite(1 * kB, kB).ok());
  ASSERT_TRUE(m->MarkWrite(2 * kB, kB).ok());
  ASSERT_TRUE(m->BeginGeneration(2).ok());
  ASSERT_TRUE(m->MarkWrite(2 * kB, kB).ok());  // again in a later generation
  ASSERT_TRUE(m->MarkWrite(3 * kB, kB).ok());
  ASSERT_TRUE(m->BeginGeneration(2).ok());  // the same: nothing changes
  ASSERT_TRUE(m->BeginGeneration(4).ok());  // generation 3 ran elsewhere: no writes here
  ASSERT_TRUE(m->MarkWrite(9 * kB, kB).ok());
  auto check = [](const DirtyBlockMap& map) {
    EXPECT_EQ(map.current_generation(), 4u);
    EXPECT_EQ(Of(map, 1), (Blocks{1, 2}));
    EXPECT_EQ(Of(map, 2), (Blocks{2, 3}));
    EXPECT_EQ(Of(map, 3), Blocks{});
    EXPECT_EQ(Of(map, 4), Blocks{9});
    EXPECT_EQ(Of(map, 5), Blocks{});
    EXPECT_EQ(Since(map, 0), (Blocks{1, 2, 3, 9}));
    EXPECT_EQ(Since(map, 1), (Blocks{2, 3, 9}));
    EXPECT_EQ(Since(map, 2), Blocks{9});
    EXPECT_EQ(Since(map, 3), Blocks{9});
    EXPECT_EQ(Since(map, 4), Blocks{});
  };
  check(*m);
  m.reset();
  auto reopened = DirtyBlockMap::Open(image_, 64ull << 20);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  check(**reopened);
}

TEST_F(DirtyMapTest, PruneAndFullSlotsBoundTheHistory) {
  {
    auto m = DirtyBlockMap::Create(image_, 64ull << 20, DirtyBlockMap::NewLineage(), 3);
    ASSERT_TRUE(m.ok()) << m.status();
    for (uint64_t g = 1; g <= 3; ++g) {
      ASSERT_TRUE((*m)->BeginGeneration(g).ok());
      ASSERT_TRUE((*m)->MarkWrite(g * kB, kB).ok());
    }
    EXPECT_EQ((*m)->first_generation(), 1u);
    // A fourth generation in three slots: the oldest goes, and the history says so.
    ASSERT_TRUE((*m)->BeginGeneration(4).ok());
    ASSERT_TRUE((*m)->MarkWrite(4 * kB, kB).ok());
    EXPECT_EQ((*m)->first_generation(), 2u);
    EXPECT_EQ((*m)->BlocksSince(0).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ((*m)->BlocksOf(1).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Since(**m, 1), (Blocks{2, 3, 4}));
    // Pruning is refused past the current generation, and raises the history's start.
    EXPECT_EQ((*m)->Prune(5).code(), absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE((*m)->Prune(3).ok());
    ASSERT_TRUE((*m)->Prune(2).ok());  // below the start: nothing to do
    EXPECT_EQ((*m)->first_generation(), 3u);
  }
  auto m = DirtyBlockMap::Open(image_, 64ull << 20);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->first_generation(), 3u);
  EXPECT_EQ((*m)->BlocksSince(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE((*m)->BlocksSince(1).status().message().find("complete from generation 3"),
            std::string::npos);
  EXPECT_EQ(Since(**m, 2), (Blocks{3, 4}));
}

// Generation numbers that go back belong to a new arbiter history: the map starts over.
TEST_F(DirtyMapTest, ASmallerGenerationStartsANewHistory) {
  auto m = Make();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->BeginGeneration(5).ok());
  ASSERT_TRUE(m->MarkWrite(5 * kB, kB).ok());
  ASSERT_TRUE(m->BeginGeneration(2).ok());
  ASSERT_TRUE(m->MarkWrite(2 * kB, kB).ok());
  EXPECT_EQ(m->current_generation(), 2u);
  EXPECT_EQ(m->first_generation(), 2u);
  EXPECT_EQ(Since(*m, 1), Blocks{2});
  EXPECT_FALSE(m->BlocksSince(0).ok());
}

TEST_F(DirtyMapTest, Bounds) {
  // 10 MiB and one sector: the last block is partial.
  const uint64_t size = (10ull << 20) + 512;
  auto m = Make(size);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->block_count(), 2561u);
  ASSERT_TRUE(m->BeginGeneration(1).ok());
  EXPECT_TRUE(m->MarkWrite(size - 512, 512).ok());   // the partial block
  EXPECT_TRUE(m->MarkWrite(size - 4096, 512).ok());  // the last whole one
  EXPECT_TRUE(m->MarkWrite(size, 0).ok());           // empty, at the end
  EXPECT_EQ(m->MarkWrite(size, 512).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(m->MarkWrite(size - 512, 1024).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(m->MarkWrite(~0ull - 10, 512).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(m->MarkWrite(512, ~0ull).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Of(*m, 1), (Blocks{2559, 2560}));
  m.reset();
  auto reopened = DirtyBlockMap::Open(image_, size);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(Of(**reopened, 1), (Blocks{2559, 2560}));
}

// 256 MiB: two chunks of 32640 blocks each; one write across their boundary.
TEST_F(DirtyMapTest, AWriteAcrossAChunkBoundary) {
  const uint64_t size = 256ull << 20;
  auto m = Make(size);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->BeginGeneration(1).ok());
  ASSERT_TRUE(m->MarkWrite(32639 * kB + 2048, 4096).ok());
  ASSERT_TRUE(m->MarkWrite(size - kB, kB).ok());
  m.reset();
  auto reopened = DirtyBlockMap::Open(image_, size);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(Of(**reopened, 1), (Blocks{32639, 32640, 65535}));
}

// ---------------------------------------------------------------- rejoin

class RejoinTest : public DirtyMapTest {
 protected:
  static constexpr uint64_t kSize = 1ull << 20;  // 256 blocks
  void SetUp() override {
    DirtyMapTest::SetUp();
    auto p = DirtyBlockMap::OpenOrCreate(dir_ + "/p.img", kSize);
    ASSERT_TRUE(p.ok()) << p.status();
    p_ = std::move(*p);
    // R's replica is a full copy of P's image: its map continues P's lineage.
    auto r = DirtyBlockMap::Create(dir_ + "/r.img", kSize, p_->lineage_id());
    ASSERT_TRUE(r.ok()) << r.status();
    r_ = std::move(*r);
  }
  static void Write(DirtyBlockMap& m, std::initializer_list<uint64_t> blocks) {
    for (uint64_t b : blocks) ASSERT_TRUE(m.MarkWrite(b * kB, kB).ok());
  }
  Blocks Delta(const DirtyBlockMap& primary, const DirtyBlockMap& rejoiner) {
    auto h = HistoryOf(rejoiner);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return {~0ull};
    auto d = RejoinDelta(primary, *h);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Blocks{~0ull};
  }
  std::unique_ptr<DirtyBlockMap> p_, r_;
};

// P primary at 1, R its backup replaying a prefix of P's writes; P dies, R goes live at 2.
// P rejoins R: R's writes at 2 and P's own writes of 1 that R never received.
TEST_F(RejoinTest, TheOldPrimaryRejoins) {
  ASSERT_TRUE(p_->BeginGeneration(1).ok());
  ASSERT_TRUE(r_->BeginGeneration(1).ok());
  Write(*p_, {1, 2, 3});
  Write(*r_, {1, 2});  // the log R held
  ASSERT_TRUE(r_->BeginGeneration(2).ok());
  Write(*r_, {7, 1});
  EXPECT_EQ(Delta(*r_, *p_), (Blocks{1, 2, 3, 7}));
}

// P primary at 1, R its backup; R dies, P wins 2 and writes on, some of it before its map
// began 2. R rejoins P: every write of P's since 1 began, with those of 1 R never received
// (P.BlocksSince(gR) ∪ R.BlocksOf(gR) alone would miss blocks 3 and 4).
TEST_F(RejoinTest, TheOldBackupRejoins) {
  ASSERT_TRUE(p_->BeginGeneration(1).ok());
  ASSERT_TRUE(r_->BeginGeneration(1).ok());
  Write(*p_, {1, 2, 3});
  Write(*r_, {1, 2});
  Write(*p_, {4});  // P won 2, its map not yet told
  ASSERT_TRUE(p_->BeginGeneration(2).ok());
  Write(*p_, {5});
  EXPECT_EQ(Delta(*p_, *r_), (Blocks{1, 2, 3, 4, 5}));
}

TEST_F(RejoinTest, OnlyAFullCopyIsSafe) {
  ASSERT_TRUE(p_->BeginGeneration(3).ok());
  ASSERT_TRUE(r_->BeginGeneration(3).ok());
  auto h = HistoryOf(*r_);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(RejoinDelta(*p_, *h).ok());
  auto refused = [this](ReplicaHistory bad, const char* says) {
    auto d = RejoinDelta(*p_, bad);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find(says), std::string::npos) << d.status();
  };
  ReplicaHistory other = *h;
  other.lineage[0] ^= 1;
  refused(other, "another lineage");
  ReplicaHistory resized = *h;
  resized.image_size = kSize / 2;
  refused(resized, "the replica has 524288 bytes");
  ReplicaHistory newer = *h;
  newer.generation = 4;
  refused(newer, "newer than the primary's 3");
  ReplicaHistory none = *h;
  none.generation = 0;
  refused(none, "no generation");
  ReplicaHistory beyond = *h;
  beyond.blocks = {256};
  EXPECT_EQ(RejoinDelta(*p_, beyond).status().code(), absl::StatusCode::kInvalidArgument);
  // The primary's history does not reach back to the replica's generation.
  ASSERT_TRUE(p_->BeginGeneration(5).ok());
  ASSERT_TRUE(p_->Prune(5).ok());
  refused(*h, "complete from generation 5");
  EXPECT_NE(RejoinDelta(*p_, *h).status().message().find("full copy"), std::string::npos);
}

// Random histories of a two-node pair: writes, backups that hold a prefix of the log, deaths
// of either node, go-lives and promotions (some writes before the map hears of the new
// generation), restarts (maps reopened from their files) and rejoins by delta. After each
// rejoin the replica must equal the primary's image block for block.
TEST_F(RejoinTest, RandomHistoriesConverge) {
  constexpr uint64_t kBlocks = kSize / kB;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    auto pick = [&rng](uint64_t n) {
      return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
    };
    const std::string paths[2] = {dir_ + "/a.img", dir_ + "/b.img"};
    std::unique_ptr<DirtyBlockMap> map[2];
    std::vector<uint64_t> image[2] = {std::vector<uint64_t>(kBlocks, 0),
                                      std::vector<uint64_t>(kBlocks, 0)};
    uint64_t version = 0;
    uint64_t generation = 1;
    int primary = 0;
    {  // the first transfer: a full copy
      auto a = DirtyBlockMap::Create(paths[0], kSize, DirtyBlockMap::NewLineage());
      ASSERT_TRUE(a.ok());
      map[0] = std::move(*a);
      auto b = DirtyBlockMap::Create(paths[1], kSize, map[0]->lineage_id());
      ASSERT_TRUE(b.ok());
      map[1] = std::move(*b);
      ASSERT_TRUE(map[0]->BeginGeneration(generation).ok());
      ASSERT_TRUE(map[1]->BeginGeneration(generation).ok());
    }
    auto write = [&](int node, uint64_t block, uint64_t value) {
      ASSERT_TRUE(map[node]->MarkWrite(block * kB + pick(8) * 512, 512).ok());
      image[node][block] = value;
    };
    for (int round = 0; round < 6; ++round) {
      const int backup = 1 - primary;
      // Protected: the backup replays a prefix of the primary's writes.
      std::vector<std::pair<uint64_t, uint64_t>> log;
      const uint64_t n = 1 + pick(30);
      for (uint64_t i = 0; i < n; ++i) {
        log.push_back({pick(kBlocks), ++version});
        write(primary, log.back().first, log.back().second);
      }
      const uint64_t held = pick(n + 1);
      for (uint64_t i = 0; i < held; ++i) write(backup, log[i].first, log[i].second);
      // One of them dies; the survivor takes the next generation and runs on alone.
      const int survivor = pick(2) == 0 ? primary : backup;
      const int lost = 1 - survivor;
      ++generation;
      for (uint64_t i = pick(4); i > 0; --i) write(survivor, pick(kBlocks), ++version);
      ASSERT_TRUE(map[survivor]->BeginGeneration(generation).ok());
      for (uint64_t i = pick(10); i > 0; --i) write(survivor, pick(kBlocks), ++version);
      // Restarts: both maps come back from their files.
      for (int node : {0, 1}) {
        map[node].reset();
        auto m = DirtyBlockMap::Open(paths[node], kSize);
        ASSERT_TRUE(m.ok()) << m.status();
        map[node] = std::move(*m);
      }
      // The lost node rejoins the survivor: the delta, then they are one image again.
      auto h = HistoryOf(*map[lost]);
      ASSERT_TRUE(h.ok()) << h.status();
      auto delta = RejoinDelta(*map[survivor], *h);
      ASSERT_TRUE(delta.ok()) << delta.status();
      for (uint64_t b : *delta) image[lost][b] = image[survivor][b];
      ASSERT_EQ(image[lost], image[survivor]) << "round " << round;
      // Paired again at the survivor's generation; neither needs older history now.
      ASSERT_TRUE(map[lost]->BeginGeneration(generation).ok());
      if (pick(2) == 0) {
        ASSERT_TRUE(map[survivor]->Prune(generation).ok());
        ASSERT_TRUE(map[lost]->Prune(generation).ok());
      }
      primary = survivor;
    }
  }
}

}  // namespace
}  // namespace ftd::vmm
