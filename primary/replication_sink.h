// The primary's log sink: the Recorder's entries go to the replication stream instead of a
// file, numbered from 1 after the state transfer. The unacknowledged log is bounded: at the
// bound Append() blocks the vCPU thread (the guest pauses) until the backup acknowledges
// more; nothing is dropped. Once the backup is gone and this host runs alone
// (Unprotect()), entries are counted and no longer shipped. The backup's replay backlog can be
// bounded the same way (SinkLimits::max_unreplayed_entries).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include "primary/replication_client.h"
#include "replay/log_file.h"

namespace ftd::primary {

struct SinkLimits {
  uint64_t max_unacked_entries = 1u << 16;
  uint64_t max_unacked_bytes = 64u << 20;
  // Entries the backup may hold without having replayed them (0: no bound). A failover first
  // replays this backlog, so it bounds the failover time; at the bound the guest pauses.
  uint64_t max_unreplayed_entries = 0;
};

class ReplicationSink final : public replay::LogSink {
 public:
  // `client` is not owned and must outlive the sink.
  ReplicationSink(ReplicationClient* client, SinkLimits limits)
      : client_(client), limits_(limits) {}

  absl::Status Append(proto::LogEntry& entry) override;
  absl::Status Flush(bool) override { return absl::OkStatus(); }  // entries leave as they come
  uint64_t last_seq() const override { return seq_.load(std::memory_order_acquire); }

  // The backup is gone and this host won the arbiter: stop shipping (and stop pausing).
  void Unprotect() { unprotected_.store(true); }
  bool unprotected() const { return unprotected_.load(); }

  uint64_t bytes_total() const { return bytes_.load(); }
  // Encoded bytes of the entries the backup has not acknowledged.
  uint64_t unacked_bytes() const;
  // How often the bound paused the guest.
  uint64_t pauses() const { return pauses_.load(); }

 private:
  ReplicationClient* client_;
  const SinkLimits limits_;
  std::atomic<uint64_t> seq_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> pauses_{0};
  std::atomic<bool> unprotected_{false};
  mutable std::mutex mu_;
  // (seq, bytes_total after it) of the entries not known to be acknowledged, trimmed by
  // unacked_bytes(); acked_base_ is bytes_total after the last entry trimmed.
  mutable std::deque<std::pair<uint64_t, uint64_t>> sent_;
  mutable uint64_t acked_base_ = 0;
};

}  // namespace ftd::primary
