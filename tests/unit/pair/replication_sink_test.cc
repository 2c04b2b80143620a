// ReplicationSink over the real replication client and server on 127.0.0.1 (plaintext):
// numbering, ordered delivery, the unacknowledged-bytes count, the bound that pauses the
// guest's vCPU thread until the backup acknowledges more, and Unprotect()/a dead backup,
// which must never pause it. The backup's on_entries can be held by a latch the test opens;
// no ack can come while it is closed, so "still blocked" checks need no timing assumption.
#include "primary/replication_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backup/replication_server.h"
#include "primary/replication_client.h"
#include "tests/unit/pair/wait_util.h"

namespace ftd::primary {
namespace {

using namespace std::chrono_literals;
using pair_test::WaitUntil;

proto::LogEntry Entry(uint64_t n) {
  proto::LogEntry e;
  e.set_exit_index(n * 3);
  e.mutable_clock()->set_monotonic_ns(1'000'000 + n);  // same encoded size for small n
  return e;
}

// The encoded size of `e` once the sink has numbered it `seq` (what bytes_total counts).
size_t SizeWithSeq(proto::LogEntry e, uint64_t seq) {
  e.set_seq(seq);
  return e.ByteSizeLong();
}

class ReplicationSinkTest : public testing::Test {
 protected:
  void SetUp() override {
    backup::ReplicationServerOptions so;
    so.insecure = true;
    so.vm_id = "vm1";
    so.heartbeat_interval = 50ms;
    // The server measures the primary's liveness on its reader thread, which the latch
    // blocks: keep that from declaring the primary dead while a test holds it.
    so.peer_timeout = 20s;
    backup::ReplicationCallbacks cb;
    cb.on_entries = [this](const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries) {
      std::unique_lock lock(mu_);
      for (const auto& e : entries) delivered_.push_back(e.seq());
      ++batches_;
      cv_.notify_all();
      cv_.wait_for(lock, 15s, [&] { return open_; });
      return absl::OkStatus();
    };
    auto server = backup::ReplicationServer::Start(so, cb);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);

    ReplicationClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(server_->port());
    o.insecure = true;
    o.vm_id = "vm1";
    o.generation = 1;
    o.connect_timeout = 5s;
    o.heartbeat_interval = 50ms;
    o.peer_timeout = 20s;
    auto client = ReplicationClient::Connect(o);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override {
    Open();
    if (sink_) sink_->Unprotect();  // a test that failed with an Append still blocked
    if (appender_.joinable()) appender_.join();
    if (client_) client_->Close().IgnoreError();
    if (server_) server_->Stop();
  }

  void MakeSink(SinkLimits limits = {}) {
    sink_ = std::make_unique<ReplicationSink>(client_.get(), limits);
  }

  void CloseLatch() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int batches() {
    std::lock_guard lock(mu_);
    return batches_;
  }
  std::vector<uint64_t> Delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

  // Appends entries [first, first + n) on another thread (the vCPU's), counting returns.
  void AppendAsync(uint64_t first, int n) {
    appender_ = std::thread([this, first, n] {
      for (int i = 0; i < n; ++i) {
        proto::LogEntry e = Entry(first + i);
        if (!sink_->Append(e).ok()) append_failed_.store(true);
        returned_.fetch_add(1);
      }
    });
  }
  bool JoinAppender() {
    if (!WaitUntil([&] { return returned_.load() == appender_target_; })) return false;
    appender_.join();
    return true;
  }

  std::unique_ptr<backup::ReplicationServer> server_;
  std::unique_ptr<ReplicationClient> client_;
  std::unique_ptr<ReplicationSink> sink_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int batches_ = 0;
  std::vector<uint64_t> delivered_;

  std::thread appender_;
  std::atomic<int> returned_{0};
  int appender_target_ = 0;
  std::atomic<bool> append_failed_{false};
};

std::vector<uint64_t> Seqs(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

TEST_F(ReplicationSinkTest, AppendNumbersEntriesFromOne) {
  MakeSink();
  EXPECT_EQ(sink_->last_seq(), 0u);
  uint64_t bytes = 0;
  for (uint64_t want = 1; want <= 3; ++want) {
    proto::LogEntry e = Entry(want);
    bytes += SizeWithSeq(e, want);
    ASSERT_TRUE(sink_->Append(e).ok());  // the sink takes it (the stream moves it)
    EXPECT_EQ(sink_->last_seq(), want);
  }
  EXPECT_EQ(sink_->bytes_total(), bytes);
  EXPECT_TRUE(sink_->Flush(true).ok());
  ASSERT_TRUE(client_->WaitForAck(3, 5s)) << client_->status();
  EXPECT_EQ(Delivered(), Seqs(1, 3));
  EXPECT_EQ(sink_->pauses(), 0u);
}

TEST_F(ReplicationSinkTest, EntriesReachTheBackupInOrderAndUnackedBytesReturnToZero) {
  MakeSink();
  constexpr uint64_t kEntries = 300;
  for (uint64_t n = 1; n <= kEntries; ++n) {
    proto::LogEntry e = Entry(n);
    ASSERT_TRUE(sink_->Append(e).ok());
  }
  ASSERT_TRUE(client_->WaitForAck(kEntries, 5s)) << client_->status();
  EXPECT_EQ(Delivered(), Seqs(1, kEntries));
  EXPECT_EQ(server_->received_seq(), kEntries);
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
  EXPECT_GT(sink_->bytes_total(), 0u);
  EXPECT_EQ(sink_->pauses(), 0u);
}

TEST_F(ReplicationSinkTest, UnackedBytesCountExactlyTheUnacknowledgedEntries) {
  MakeSink();
  proto::LogEntry e1 = Entry(1);
  const size_t s1 = SizeWithSeq(e1, 1);
  ASSERT_TRUE(sink_->Append(e1).ok());
  ASSERT_TRUE(client_->WaitForAck(1, 5s)) << client_->status();
  EXPECT_EQ(sink_->unacked_bytes(), 0u);

  CloseLatch();
  proto::LogEntry e2 = Entry(2), e3 = Entry(3);
  const size_t s2 = SizeWithSeq(e2, 2), s3 = SizeWithSeq(e3, 3);
  ASSERT_TRUE(sink_->Append(e2).ok());
  ASSERT_TRUE(sink_->Append(e3).ok());
  ASSERT_TRUE(WaitUntil([&] { return batches() >= 2; }));  // the backup has entry 2, unacked
  EXPECT_EQ(client_->acknowledged_seq(), 1u);
  EXPECT_EQ(sink_->unacked_bytes(), s2 + s3);
  EXPECT_EQ(sink_->bytes_total(), s1 + s2 + s3);

  Open();
  ASSERT_TRUE(client_->WaitForAck(3, 5s)) << client_->status();
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
  EXPECT_EQ(Delivered(), Seqs(1, 3));
}

TEST_F(ReplicationSinkTest, EntryBoundPausesAppendUntilTheBackupAcknowledges) {
  MakeSink({.max_unacked_entries = 4, .max_unacked_bytes = 64u << 20});
  CloseLatch();
  appender_target_ = 5;
  AppendAsync(1, 5);
  // The backup holds the first batch (no ack can come) and the vCPU thread is paused.
  ASSERT_TRUE(WaitUntil([&] { return batches() >= 1 && sink_->pauses() == 1; }))
      << "batches " << batches() << ", pauses " << sink_->pauses() << ", returned "
      << returned_.load();
  // Entries 1-4 fit the bound; entry 5 is the first that does not (so a 6th is never reached).
  EXPECT_EQ(returned_.load(), 4);
  EXPECT_EQ(sink_->last_seq(), 5u);
  EXPECT_FALSE(client_->WaitForAck(1, 200ms));  // nothing acknowledged ...
  EXPECT_EQ(returned_.load(), 4);               // ... so Append is still blocked
  EXPECT_EQ(sink_->pauses(), 1u);

  Open();
  ASSERT_TRUE(JoinAppender()) << "Append did not return after the backup acknowledged";
  EXPECT_FALSE(append_failed_.load());
  EXPECT_EQ(sink_->pauses(), 1u);
  EXPECT_GE(client_->acknowledged_seq(), 1u);

  // With everything acknowledged the next entry is far from the bound: no pause.
  ASSERT_TRUE(client_->WaitForAck(5, 5s)) << client_->status();
  proto::LogEntry e6 = Entry(6);
  ASSERT_TRUE(sink_->Append(e6).ok());
  EXPECT_EQ(sink_->last_seq(), 6u);
  EXPECT_EQ(sink_->pauses(), 1u);
  ASSERT_TRUE(client_->WaitForAck(6, 5s)) << client_->status();
  EXPECT_EQ(Delivered(), Seqs(1, 6));
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
}

TEST_F(ReplicationSinkTest, LagBoundPausesAppendUntilTheBackupReplays) {
  MakeSink(
      {.max_unacked_entries = 1000, .max_unacked_bytes = 64u << 20, .max_unreplayed_entries = 3});
  appender_target_ = 4;
  AppendAsync(1, 4);
  // Entries 1-3 fit; entry 4 makes the backlog 4 > 3: Append waits for the backup's replay,
  // though every entry is acknowledged (held is not enough).
  ASSERT_TRUE(WaitUntil([&] { return sink_->pauses() == 1; })) << "returned " << returned_.load();
  ASSERT_TRUE(client_->WaitForAck(4, 5s)) << client_->status();
  EXPECT_FALSE(client_->WaitForReplayed(1, 200ms));
  EXPECT_EQ(returned_.load(), 3);  // still blocked
  server_->SetReplayedSeq(1);      // the backlog is 3 again
  ASSERT_TRUE(JoinAppender()) << "Append did not return after the backup replayed";
  EXPECT_FALSE(append_failed_.load());
  EXPECT_EQ(client_->replayed_seq(), 1u);
  EXPECT_EQ(sink_->pauses(), 1u);
}

TEST_F(ReplicationSinkTest, ByteBoundPausesAppendUntilTheBackupAcknowledges) {
  proto::LogEntry sample = Entry(1);
  sample.set_seq(1);
  const uint64_t size = sample.ByteSizeLong();
  MakeSink({.max_unacked_entries = 1u << 16, .max_unacked_bytes = 2 * size});
  CloseLatch();
  appender_target_ = 3;
  AppendAsync(1, 3);
  ASSERT_TRUE(WaitUntil([&] { return batches() >= 1 && sink_->pauses() == 1; }))
      << "batches " << batches() << ", pauses " << sink_->pauses() << ", returned "
      << returned_.load();
  EXPECT_EQ(returned_.load(), 2);  // two entries fit 2 * size bytes, the third does not
  EXPECT_EQ(sink_->unacked_bytes(), 3 * size);
  EXPECT_FALSE(client_->WaitForAck(1, 200ms));
  EXPECT_EQ(returned_.load(), 2);

  Open();
  ASSERT_TRUE(JoinAppender()) << "Append did not return after the backup acknowledged";
  EXPECT_FALSE(append_failed_.load());
  EXPECT_EQ(sink_->pauses(), 1u);
  ASSERT_TRUE(client_->WaitForAck(3, 5s)) << client_->status();
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
}

TEST_F(ReplicationSinkTest, UnprotectReleasesABlockedAppend) {
  MakeSink({.max_unacked_entries = 2, .max_unacked_bytes = 64u << 20});
  CloseLatch();
  appender_target_ = 3;
  AppendAsync(1, 3);
  ASSERT_TRUE(WaitUntil([&] { return sink_->pauses() == 1; }));
  EXPECT_EQ(returned_.load(), 2);
  sink_->Unprotect();  // the backup is gone and this host won: stop pausing
  ASSERT_TRUE(JoinAppender()) << "Unprotect() did not release the paused Append";
  EXPECT_FALSE(append_failed_.load());
  EXPECT_EQ(client_->acknowledged_seq(), 0u);  // released without any ack
}

TEST_F(ReplicationSinkTest, AfterUnprotectAppendNeverBlocksAndShipsNothing) {
  MakeSink({.max_unacked_entries = 4, .max_unacked_bytes = 64u << 20});
  CloseLatch();
  for (uint64_t n = 1; n <= 2; ++n) {
    proto::LogEntry e = Entry(n);
    ASSERT_TRUE(sink_->Append(e).ok());
  }
  ASSERT_TRUE(WaitUntil([&] { return batches() >= 1; }));
  EXPECT_EQ(client_->next_seq(), 3u);
  sink_->Unprotect();
  EXPECT_TRUE(sink_->unprotected());
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
  // Far past the bound, with no ack possible: must not pause (on a thread, so a failure
  // does not hang the test; TearDown releases it).
  appender_target_ = 50;
  AppendAsync(3, 50);
  ASSERT_TRUE(JoinAppender()) << "Append blocked after Unprotect()";
  EXPECT_FALSE(append_failed_.load());
  EXPECT_EQ(sink_->last_seq(), 52u);  // numbering goes on
  EXPECT_EQ(sink_->pauses(), 0u);
  EXPECT_EQ(sink_->unacked_bytes(), 0u);
  EXPECT_EQ(client_->next_seq(), 3u);  // nothing after entry 2 was queued for the backup

  Open();
  ASSERT_TRUE(client_->WaitForAck(2, 5s)) << client_->status();
  EXPECT_EQ(server_->received_seq(), 2u);
  EXPECT_EQ(Delivered(), Seqs(1, 2));
}

TEST_F(ReplicationSinkTest, DeadBackupNeverPausesTheGuest) {
  MakeSink({.max_unacked_entries = 2, .max_unacked_bytes = 64u << 20});
  proto::LogEntry e1 = Entry(1);
  ASSERT_TRUE(sink_->Append(e1).ok());
  ASSERT_TRUE(client_->WaitForAck(1, 5s)) << client_->status();
  server_->Stop();  // cancels the stream: the client sees it end
  ASSERT_TRUE(WaitUntil([&] { return client_->peer_dead(); })) << client_->status();
  appender_target_ = 10;
  AppendAsync(2, 10);
  ASSERT_TRUE(JoinAppender()) << "Append paused on a dead backup";
  EXPECT_FALSE(append_failed_.load()) << "a dead stream is failover's business, not an error";
  EXPECT_EQ(sink_->last_seq(), 11u);
  EXPECT_EQ(sink_->pauses(), 0u);
}

}  // namespace
}  // namespace ftd::primary
