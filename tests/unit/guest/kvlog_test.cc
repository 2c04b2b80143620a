// Host tests of guest/kv/kvlog.c: record encode/decode, commit, torn/corrupt tail recovery,
// compaction and its crash safety, on an in-memory disk.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "guest_c.h"
#include "mem_disk.h"

namespace {

struct Rec {
  uint16_t type;
  std::string payload;
  bool operator==(const Rec& o) const { return type == o.type && payload == o.payload; }
};

struct Log {
  std::unique_ptr<kvlog> log = std::make_unique<kvlog>();
  std::vector<Rec> replayed;
  int reject_at = -1;  // replay callback rejects the record with this index
  int Open(MemDisk& d) {
    kvlog_disk disk = d.Disk();
    replayed.clear();
    return kvlog_open(log.get(), &disk, &Log::Replay, this);
  }
  static int Replay(void* ctx, uint16_t type, const uint8_t* p, uint32_t len) {
    auto* l = static_cast<Log*>(ctx);
    if (static_cast<int>(l->replayed.size()) == l->reject_at) return -1;
    l->replayed.push_back({type, std::string(p, p + len)});
    return 0;
  }
  int Append(const Rec& r) {
    return kvlog_append(log.get(), r.type, r.payload.data(),
                        static_cast<uint32_t>(r.payload.size()));
  }
};

std::vector<Rec> MakeRecs(int n, int seed = 0, size_t size = 0) {
  std::vector<Rec> v;
  for (int i = 0; i < n; i++) {
    std::string p = "record-" + std::to_string(seed) + "-" + std::to_string(i) + "-";
    p.append(size ? size : static_cast<size_t>(i % 300), static_cast<char>('a' + i % 26));
    v.push_back({static_cast<uint16_t>(1 + i % 3), p});
  }
  return v;
}

TEST(GuestKvLog, FreshDiskIsFormattedAndEmpty) {
  MemDisk d(1024);
  Log l;
  ASSERT_EQ(l.Open(d), KVLOG_OK);
  EXPECT_TRUE(l.replayed.empty());
  EXPECT_EQ(l.log->epoch, 1u);
  EXPECT_EQ(l.log->region_sectors, (1024u - 2) / 2);
  EXPECT_EQ(l.log->stopped_at_bad, 0);
  EXPECT_EQ(memcmp(d.data.data() + 512, "FTDKVSB1", 8), 0);  // epoch 1 -> slot 1
  Log again;
  ASSERT_EQ(again.Open(d), KVLOG_OK);
  EXPECT_EQ(again.log->epoch, 1u);
}

TEST(GuestKvLog, RefusesForeignAndTinyDisks) {
  MemDisk d(1024);
  d.data[3] = 0x42;
  Log l;
  EXPECT_EQ(l.Open(d), KVLOG_EFORMAT);
  MemDisk tiny(KVLOG_MIN_SECTORS - 1);
  EXPECT_EQ(l.Open(tiny), KVLOG_ESMALL);
}

TEST(GuestKvLog, AppendCommitReplay) {
  MemDisk d(4096);
  auto recs = MakeRecs(500);
  {
    Log l;
    ASSERT_EQ(l.Open(d), KVLOG_OK);
    for (size_t i = 0; i < recs.size(); i++) {
      ASSERT_EQ(l.Append(recs[i]), KVLOG_OK);
      if (i % 7 == 6) {
        ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
      }
    }
    ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
    EXPECT_FALSE(kvlog_pending(l.log.get()));
  }
  Log r;
  ASSERT_EQ(r.Open(d), KVLOG_OK);
  EXPECT_EQ(r.replayed, recs);
  EXPECT_EQ(r.log->stopped_at_bad, 0);
  // continue appending after reopen, then replay all
  auto more = MakeRecs(50, 1);
  for (auto& m : more) ASSERT_EQ(r.Append(m), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(r.log.get()), KVLOG_OK);
  Log r2;
  ASSERT_EQ(r2.Open(d), KVLOG_OK);
  recs.insert(recs.end(), more.begin(), more.end());
  EXPECT_EQ(r2.replayed, recs);
}

TEST(GuestKvLog, UncommittedRecordsAreNotDurable) {
  MemDisk d(1024);
  Log l;
  ASSERT_EQ(l.Open(d), KVLOG_OK);
  auto recs = MakeRecs(3);
  ASSERT_EQ(l.Append(recs[0]), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  ASSERT_EQ(l.Append(recs[1]), KVLOG_OK);  // never committed
  Log r;
  ASSERT_EQ(r.Open(d), KVLOG_OK);
  EXPECT_EQ(r.replayed.size(), 1u);
}

// Find the byte offset (in the disk) of record i of region 0 by re-walking the headers.
size_t RecordOffset(const MemDisk& d, int index) {
  size_t off = 2 * 512;
  for (int i = 0; i < index; i++) off += 32 + ftd_rd32le(d.data.data() + off + 4);
  return off;
}

TEST(GuestKvLog, TornOrCorruptTailIsDroppedAndOverwritten) {
  for (int mode = 0; mode < 4; mode++) {
    MemDisk d(2048);
    auto recs = MakeRecs(40, 0, 100);
    {
      Log l;
      ASSERT_EQ(l.Open(d), KVLOG_OK);
      for (auto& r : recs) ASSERT_EQ(l.Append(r), KVLOG_OK);
      ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
    }
    size_t last = RecordOffset(d, 39);
    size_t end = RecordOffset(d, 40);
    switch (mode) {
      case 0:
        d.data[last + 32 + 50] ^= 0x01;
        break;  // payload bit flip
      case 1:
        std::fill(d.data.begin() + static_cast<long>(last + 40),
                  d.data.begin() + static_cast<long>(end), 0);
        break;  // torn: tail zero
      case 2:
        ftd_wr32le(d.data.data() + last + 4, 1u << 20);
        break;  // absurd length
      case 3:
        d.data[last + 8] ^= 0x7;
        break;  // wrong seq
    }
    Log r;
    ASSERT_EQ(r.Open(d), KVLOG_OK) << mode;
    EXPECT_EQ(r.replayed.size(), 39u) << mode;
    EXPECT_EQ(r.log->stopped_at_bad, 1) << mode;
    EXPECT_EQ(r.log->tail, last - 2 * 512) << mode;
    // appends continue right after record 38
    Rec x{1, "after-recovery"};
    ASSERT_EQ(r.Append(x), KVLOG_OK);
    ASSERT_EQ(kvlog_commit(r.log.get()), KVLOG_OK);
    Log r2;
    ASSERT_EQ(r2.Open(d), KVLOG_OK);
    ASSERT_EQ(r2.replayed.size(), 40u) << mode;
    EXPECT_EQ(r2.replayed.back(), x);
  }
}

TEST(GuestKvLog, StaleRecordBeyondARewrittenTailIsNotResurrected) {
  // Records 10 and 11 were written but the write of 10 tore (11 landed).  After recovery a
  // new record 10' of exactly the same length takes 10's place: old 11 must not follow it.
  MemDisk d(2048);
  auto recs = MakeRecs(12, 0, 600);  // ~ one record per 1.3 sectors
  {
    Log l;
    ASSERT_EQ(l.Open(d), KVLOG_OK);
    for (auto& r : recs) ASSERT_EQ(l.Append(r), KVLOG_OK);
    ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  }
  size_t r10 = RecordOffset(d, 10);
  d.data[r10 + 100] ^= 0xff;  // torn record 10
  Log r;
  ASSERT_EQ(r.Open(d), KVLOG_OK);
  ASSERT_EQ(r.replayed.size(), 10u);
  Rec same_len{recs[10].type, std::string(recs[10].payload.size(), 'Z')};
  ASSERT_EQ(r.Append(same_len), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(r.log.get()), KVLOG_OK);
  Log r2;
  ASSERT_EQ(r2.Open(d), KVLOG_OK);
  EXPECT_EQ(r2.replayed.size(), 11u);  // 0..9 and 10', not the stale 11
  EXPECT_EQ(r2.replayed.back(), same_len);
}

TEST(GuestKvLog, ReplayCallbackCanRejectARecord) {
  MemDisk d(1024);
  {
    Log l;
    ASSERT_EQ(l.Open(d), KVLOG_OK);
    for (auto& r : MakeRecs(5)) ASSERT_EQ(l.Append(r), KVLOG_OK);
    ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  }
  Log r;
  r.reject_at = 3;
  ASSERT_EQ(r.Open(d), KVLOG_OK);
  EXPECT_EQ(r.replayed.size(), 3u);
  EXPECT_EQ(r.log->stopped_at_bad, 1);
}

TEST(GuestKvLog, FullRegionAndLargeBatches) {
  MemDisk d(KVLOG_MIN_SECTORS);  // region of 31 sectors = 15872 bytes
  Log l;
  ASSERT_EQ(l.Open(d), KVLOG_OK);
  int n = 0;
  Rec r{1, std::string(200, 'x')};
  while (l.Append(r) == KVLOG_OK) n++;
  EXPECT_EQ(n, 15872 / 232);
  EXPECT_FALSE(kvlog_fits(l.log.get(), 200));
  EXPECT_EQ(l.Append(r), KVLOG_EFULL);
  ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  Log r2;
  ASSERT_EQ(r2.Open(d), KVLOG_OK);
  EXPECT_EQ(static_cast<int>(r2.replayed.size()), n);
  // a batch larger than the write buffer (intermediate writes) replays whole
  MemDisk big(8192);
  Log b;
  ASSERT_EQ(b.Open(big), KVLOG_OK);
  auto recs = MakeRecs(1000, 3, 400);
  for (auto& x : recs) ASSERT_EQ(b.Append(x), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(b.log.get()), KVLOG_OK);
  Log b2;
  ASSERT_EQ(b2.Open(big), KVLOG_OK);
  EXPECT_EQ(b2.replayed, recs);
}

struct Snap {
  std::vector<Rec> recs;
  static int Write(void* ctx, kvlog* log) {
    for (auto& r : static_cast<Snap*>(ctx)->recs) {
      int rc = kvlog_append(log, r.type, r.payload.data(), static_cast<uint32_t>(r.payload.size()));
      if (rc) return rc;
    }
    return 0;
  }
};

TEST(GuestKvLog, CompactionSwitchesRegionsAndSurvivesCrashes) {
  MemDisk d(256);
  Log l;
  ASSERT_EQ(l.Open(d), KVLOG_OK);
  auto old_recs = MakeRecs(100, 0, 50);
  for (auto& r : old_recs) ASSERT_EQ(l.Append(r), KVLOG_OK);
  Snap snap{MakeRecs(10, 9, 20)};
  ASSERT_EQ(kvlog_compact(l.log.get(), &Snap::Write, &snap), KVLOG_OK);
  EXPECT_EQ(l.log->active, 1u);
  EXPECT_EQ(l.log->epoch, 2u);
  Rec after{2, "after-compaction"};
  ASSERT_EQ(l.Append(after), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  {
    Log r;
    ASSERT_EQ(r.Open(d), KVLOG_OK);
    auto want = snap.recs;
    want.push_back(after);
    EXPECT_EQ(r.replayed, want);
    EXPECT_EQ(r.log->epoch, 2u);
  }
  // a second compaction goes back to region 0 (stale epoch-1 records there are ignored)
  Snap snap2{MakeRecs(3, 7, 10)};
  ASSERT_EQ(kvlog_compact(l.log.get(), &Snap::Write, &snap2), KVLOG_OK);
  EXPECT_EQ(l.log->active, 0u);
  {
    Log r;
    ASSERT_EQ(r.Open(d), KVLOG_OK);
    EXPECT_EQ(r.replayed, snap2.recs);
  }
  // crash in the middle of a compaction (writes fail from some point on): the previous log
  // is still the one that opens, whatever the point.
  for (int k = 0; k < 6; k++) {
    MemDisk c = d;
    Log cl;
    ASSERT_EQ(cl.Open(c), KVLOG_OK);
    c.fail_writes_after = k;
    Snap big{MakeRecs(60, 5, 40)};
    int rc = kvlog_compact(cl.log.get(), &Snap::Write, &big);
    c.fail_writes_after = -1;
    Log r;
    ASSERT_EQ(r.Open(c), KVLOG_OK);
    const auto& want = rc == KVLOG_OK ? big.recs : snap2.recs;
    EXPECT_EQ(r.replayed, want) << k;
  }
}

TEST(GuestKvLog, CompactionThatDoesNotFitKeepsTheOldLog) {
  MemDisk d(KVLOG_MIN_SECTORS);
  Log l;
  ASSERT_EQ(l.Open(d), KVLOG_OK);
  auto recs = MakeRecs(5, 0, 30);
  for (auto& r : recs) ASSERT_EQ(l.Append(r), KVLOG_OK);
  Snap huge{MakeRecs(100, 1, 300)};
  EXPECT_EQ(kvlog_compact(l.log.get(), &Snap::Write, &huge), KVLOG_EFULL);
  EXPECT_EQ(l.log->active, 0u);
  Rec more{1, "still-appending"};
  ASSERT_EQ(l.Append(more), KVLOG_OK);
  ASSERT_EQ(kvlog_commit(l.log.get()), KVLOG_OK);
  Log r;
  ASSERT_EQ(r.Open(d), KVLOG_OK);
  recs.push_back(more);
  EXPECT_EQ(r.replayed, recs);
}

}  // namespace
