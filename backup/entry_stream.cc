#include "backup/entry_stream.h"

#include <chrono>

#include "proto/replication_protocol.h"

namespace ftd::backup {

void EntryStream::Push(const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries) {
  const int64_t now = repl::SteadyNowNs();
  std::lock_guard lock(mu_);
  if (ended_) return;
  for (const proto::LogEntry& e : entries) {
    if (e.has_end()) saw_log_end_.store(true);
    queue_.push_back({e, now});
  }
  received_.fetch_add(entries.size());
  cv_.notify_all();
}

void EntryStream::End(std::string why) {
  std::lock_guard lock(mu_);
  if (ended_) return;
  ended_ = true;
  end_reason_ = std::move(why);
  cv_.notify_all();
}

absl::StatusOr<std::optional<proto::LogEntry>> EntryStream::Next() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      proto::LogEntry e = std::move(queue_.front().entry);
      queue_.pop_front();
      return std::optional<proto::LogEntry>(std::move(e));
    }
    if (ended_) return std::optional<proto::LogEntry>();
    if (stop_.load()) {
      ended_ = true;
      end_reason_ = "stopped by a signal";
      return std::optional<proto::LogEntry>();
    }
    // Bounded waits: a signal sets stop_ without being able to notify.
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
}

bool EntryStream::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

std::string EntryStream::end_reason() const {
  std::lock_guard lock(mu_);
  return end_reason_;
}

double EntryStream::lag_ms() const {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return 0;
  return static_cast<double>(repl::SteadyNowNs() - queue_.front().arrived_ns) / 1e6;
}

uint64_t EntryStream::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace ftd::backup
