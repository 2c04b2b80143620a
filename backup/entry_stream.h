// The backup's log as the Replayer sees it: entries arrive from the replication stream
// (Push, on the gRPC thread) and are taken in order by the replaying vCPU thread (Next),
// which waits while none is there: near lockstep, the backup runs exactly as far as the
// log it holds. End() closes the log (the primary is gone or ended it): Next() then hands
// out what is left and reports the end, so the machine replays everything received.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "google/protobuf/repeated_ptr_field.h"
#include "replay/log_file.h"

namespace ftd::backup {

class EntryStream final : public replay::EntrySource {
 public:
  void Push(const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries);
  // No more entries will come; `why` says why (for the report).
  void End(std::string why);
  // Async-signal-safe: Next() stops waiting and reports the end soon (SIGTERM).
  void RequestStop() { stop_.store(true); }

  absl::StatusOr<std::optional<proto::LogEntry>> Next() override;

  bool ended() const;
  std::string end_reason() const;
  bool saw_log_end() const { return saw_log_end_.load(); }
  uint64_t received() const { return received_.load(); }
  // Milliseconds the oldest entry not yet taken has waited (0 when none waits): the lag.
  double lag_ms() const;
  uint64_t queued() const;

 private:
  struct Item {
    proto::LogEntry entry;
    int64_t arrived_ns;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool ended_ = false;
  std::string end_reason_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> saw_log_end_{false};
  std::atomic<uint64_t> received_{0};
};

}  // namespace ftd::backup
