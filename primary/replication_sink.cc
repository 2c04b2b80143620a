#include "primary/replication_sink.h"

#include <algorithm>
#include <chrono>

namespace ftd::primary {

absl::Status ReplicationSink::Append(proto::LogEntry& entry) {
  const uint64_t seq = seq_.load() + 1;
  entry.set_seq(seq);
  const size_t size = entry.ByteSizeLong();  // once: the client reuses it
  const uint64_t total = bytes_.load() + size;
  seq_.store(seq, std::memory_order_release);
  bytes_.store(total);
  // Unprotected, or the backup is gone and failover decides: nothing more to ship or track.
  if (unprotected_.load() || client_->peer_dead()) return absl::OkStatus();
  {
    std::lock_guard lock(mu_);
    sent_.emplace_back(seq, total);
  }
  if (absl::Status s = client_->Enqueue(std::move(entry), size); !s.ok()) {
    // A dead stream is failover's business (the arbiter decides whether this host goes
    // on alone); meanwhile outputs stay held and the guest runs on.
    if (client_->peer_dead()) return absl::OkStatus();
    return s;
  }
  // The bound: pause the guest (this thread is the vCPU's) until the backup catches up.
  bool paused = false;
  while (!unprotected_.load() && !client_->peer_dead()) {
    const uint64_t acked = client_->acknowledged_seq();
    const bool over_entries = seq - acked > limits_.max_unacked_entries;
    const bool over_bytes =
        limits_.max_unacked_bytes != 0 && unacked_bytes() > limits_.max_unacked_bytes;
    const uint64_t replayed = std::min(seq, client_->replayed_seq());
    const bool over_lag =
        limits_.max_unreplayed_entries != 0 && seq - replayed > limits_.max_unreplayed_entries;
    if (!over_entries && !over_bytes && !over_lag) break;
    if (!paused) pauses_.fetch_add(1);
    paused = true;
    if (over_entries || over_bytes) {
      client_->WaitForAck(over_entries ? seq - limits_.max_unacked_entries : acked + 1,
                          std::chrono::milliseconds(50));
    } else {
      client_->WaitForReplayed(seq - limits_.max_unreplayed_entries, std::chrono::milliseconds(50));
    }
  }
  return absl::OkStatus();
}

uint64_t ReplicationSink::unacked_bytes() const {
  if (unprotected_.load()) return 0;
  std::lock_guard lock(mu_);
  // Entries leave the front as they are acknowledged: O(1) amortized on the vCPU's path.
  const uint64_t acked = client_->acknowledged_seq();
  while (!sent_.empty() && sent_.front().first <= acked) {
    acked_base_ = sent_.front().second;
    sent_.pop_front();
  }
  return bytes_.load() - acked_base_;
}

}  // namespace ftd::primary
