// EntryStream, the backup's log as the Replayer reads it: order, blocking Next(), End()
// draining what is queued, RequestStop(), the log-end flag, counts and lag. Waits for
// another thread are bounded (5 s).
#include "backup/entry_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "tests/unit/pair/wait_util.h"

namespace ftd::backup {
namespace {

using namespace std::chrono_literals;
using pair_test::WaitUntil;
using Entries = google::protobuf::RepeatedPtrField<proto::LogEntry>;

proto::LogEntry Entry(uint64_t seq) {
  proto::LogEntry e;
  e.set_seq(seq);
  e.set_exit_index(seq * 10);
  e.mutable_clock()->set_monotonic_ns(seq * 1000);
  return e;
}

Entries Batch(uint64_t first, int n) {
  Entries out;
  for (int i = 0; i < n; ++i) *out.Add() = Entry(first + i);
  return out;
}

// Next() on another thread; the result is awaited for at most 5 s.
std::future<absl::StatusOr<std::optional<proto::LogEntry>>> NextAsync(EntryStream& s) {
  return std::async(std::launch::async, [&s] { return s.Next(); });
}

// Declared after the future it guards (so it runs first): a Next() that failed to return
// is ended, so the future's destructor cannot hang the test binary.
auto Unblock(EntryStream& s) {
  return absl::Cleanup([&s] {
    s.RequestStop();
    s.End("test cleanup");
  });
}

// Next() must return an entry with this seq.
void ExpectNextSeq(EntryStream& s, uint64_t seq) {
  auto e = s.Next();
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(e->has_value()) << "end instead of seq " << seq;
  EXPECT_EQ((*e)->seq(), seq);
}

void ExpectNextEnd(EntryStream& s) {
  auto e = s.Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->has_value()) << "seq " << (*e)->seq() << " instead of the end";
}

TEST(EntryStreamTest, NextReturnsPushedEntriesInOrder) {
  EntryStream s;
  s.Push(Batch(1, 3));
  s.Push(Batch(4, 2));
  EXPECT_EQ(s.received(), 5u);
  EXPECT_EQ(s.queued(), 5u);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    ExpectNextSeq(s, seq);
    EXPECT_EQ(s.queued(), 5 - seq);
  }
  EXPECT_EQ(s.received(), 5u);
  EXPECT_FALSE(s.ended());
}

TEST(EntryStreamTest, NextPreservesEntryContent) {
  EntryStream s;
  Entries b;
  *b.Add() = Entry(9);
  b.Mutable(0)->mutable_serial();  // another event kind
  b.Mutable(0)->set_exit_index(12345);
  s.Push(b);
  auto e = s.Next();
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(e->has_value());
  EXPECT_EQ((*e)->seq(), 9u);
  EXPECT_EQ((*e)->exit_index(), 12345u);
  EXPECT_TRUE((*e)->has_serial());
}

TEST(EntryStreamTest, NextBlocksUntilAnEntryIsPushed) {
  EntryStream s;
  auto next = NextAsync(s);
  auto unblock = Unblock(s);
  // Coverage only: give Next() time to start waiting. Were it not to wait, it would return
  // something other than entry 7 (the end), and the check below fails.
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(s.queued(), 0u);
  s.Push(Batch(7, 1));
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready) << "Next() did not wake on Push()";
  auto e = next.get();
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(e->has_value());
  EXPECT_EQ((*e)->seq(), 7u);
}

TEST(EntryStreamTest, ConsumerThreadSeesEveryEntryOnceInOrder) {
  EntryStream s;
  constexpr int kEntries = 2000;
  std::vector<uint64_t> got;
  auto consumer = std::async(std::launch::async, [&] {
    for (;;) {
      auto e = s.Next();
      if (!e.ok() || !e->has_value()) return;
      got.push_back((*e)->seq());
    }
  });
  auto unblock = Unblock(s);
  for (int i = 0; i < kEntries; i += 10) s.Push(Batch(i + 1, 10));
  s.End("primary ended the stream");
  ASSERT_EQ(consumer.wait_for(5s), std::future_status::ready);
  consumer.get();
  ASSERT_EQ(got.size(), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) ASSERT_EQ(got[i], static_cast<uint64_t>(i + 1)) << i;
}

TEST(EntryStreamTest, EndDrainsWhatIsQueuedThenReportsTheEnd) {
  EntryStream s;
  s.Push(Batch(1, 2));
  s.End("the primary is gone");
  EXPECT_TRUE(s.ended());
  EXPECT_EQ(s.end_reason(), "the primary is gone");
  ExpectNextSeq(s, 1);
  ExpectNextSeq(s, 2);
  ExpectNextEnd(s);
  ExpectNextEnd(s);  // and stays ended
  s.End("a second reason");
  EXPECT_EQ(s.end_reason(), "the primary is gone");  // the first reason stays
}

TEST(EntryStreamTest, PushAfterEndIsIgnored) {
  EntryStream s;
  s.Push(Batch(1, 1));
  s.End("done");
  s.Push(Batch(2, 3));
  EXPECT_EQ(s.received(), 1u);
  EXPECT_EQ(s.queued(), 1u);
  ExpectNextSeq(s, 1);
  ExpectNextEnd(s);
  Entries end;
  end.Add()->mutable_end();
  s.Push(end);
  EXPECT_FALSE(s.saw_log_end());
}

TEST(EntryStreamTest, EndWakesABlockedNext) {
  EntryStream s;
  auto next = NextAsync(s);
  auto unblock = Unblock(s);
  std::this_thread::sleep_for(20ms);  // coverage only
  s.End("stream lost");
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
  auto e = next.get();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->has_value());
}

TEST(EntryStreamTest, RequestStopEndsABlockedNext) {
  EntryStream s;
  auto next = NextAsync(s);
  auto unblock = Unblock(s);
  std::this_thread::sleep_for(20ms);  // coverage only
  s.RequestStop();                    // no notify: as from a signal handler
  ASSERT_EQ(next.wait_for(5s), std::future_status::ready) << "Next() did not notice the stop";
  auto e = next.get();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->has_value());
  EXPECT_TRUE(s.ended());
  EXPECT_FALSE(s.end_reason().empty());
  ExpectNextEnd(s);
}

TEST(EntryStreamTest, SawLogEndOnlyOnceAnEndEntryArrived) {
  EntryStream s;
  s.Push(Batch(1, 3));
  EXPECT_FALSE(s.saw_log_end());
  Entries b = Batch(4, 1);
  proto::LogEntry* end = b.Add();
  end->set_seq(5);
  end->mutable_end()->set_guest_exited(true);
  s.Push(b);
  EXPECT_TRUE(s.saw_log_end());
  EXPECT_EQ(s.received(), 5u);
  for (uint64_t seq = 1; seq <= 4; ++seq) ExpectNextSeq(s, seq);
  auto e = s.Next();
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(e->has_value());
  EXPECT_TRUE((*e)->has_end());
  EXPECT_TRUE((*e)->end().guest_exited());
}

TEST(EntryStreamTest, LagIsPositiveWhileAnEntryWaitsAndZeroWhenEmpty) {
  EntryStream s;
  EXPECT_EQ(s.lag_ms(), 0.0);
  s.Push(Batch(1, 2));
  EXPECT_GE(s.lag_ms(), 0.0);
  ASSERT_TRUE(WaitUntil([&] { return s.lag_ms() > 0.0; }));
  const double first = s.lag_ms();
  ASSERT_TRUE(WaitUntil([&] { return s.lag_ms() > first; }));  // it grows while it waits
  ExpectNextSeq(s, 1);
  EXPECT_GT(s.lag_ms(), 0.0);  // entry 2 still waits
  ExpectNextSeq(s, 2);
  EXPECT_EQ(s.lag_ms(), 0.0);
}

TEST(EntryStreamTest, LagMeasuresTheOldestWaitingEntry) {
  EntryStream s;
  s.Push(Batch(1, 1));
  // Entry 1 has waited at least 20 ms before entry 2 arrives.
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return std::chrono::steady_clock::now() - t0 >= 20ms; }));
  s.Push(Batch(2, 1));
  EXPECT_GE(s.lag_ms(), 20.0);
  ExpectNextSeq(s, 1);
  ExpectNextSeq(s, 2);
  EXPECT_EQ(s.lag_ms(), 0.0);
}

}  // namespace
}  // namespace ftd::backup
