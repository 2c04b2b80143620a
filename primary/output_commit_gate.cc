#include "primary/output_commit_gate.h"

#include <utility>
#include <vector>

namespace ftd::primary {

OutputCommitGate::OutputCommitGate(Source source) : source_(std::move(source)) {
  thread_ = std::thread([this] { Loop(); });
}

OutputCommitGate::~OutputCommitGate() {
  Halt();
  thread_.join();
}

void OutputCommitGate::Hold(size_t bytes, std::function<void()> release) {
  std::unique_lock lock(mu_);
  if (halted_) return;
  if (unprotected_ && held_.empty()) {
    // Nothing ahead of it: leave now, on this thread, still in order with the releaser.
    lock.unlock();
    std::lock_guard rl(release_mu_);
    std::lock_guard relock(mu_);
    if (halted_) return;
    if (held_.empty()) {
      release();
      ++released_;
      return;
    }
    held_.push_back({0, bytes, std::move(release)});
    held_bytes_ += bytes;
    cv_.notify_all();
    return;
  }
  held_.push_back({source_.current_seq(), bytes, std::move(release)});
  held_bytes_ += bytes;
  cv_.notify_all();
}

void OutputCommitGate::Loop() {
  for (;;) {
    uint64_t tag = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return halted_ || !held_.empty(); });
      if (halted_) return;
      tag = held_.front().tag;
      if (unprotected_) tag = 0;
    }
    if (tag != 0) {
      constexpr auto kWait = std::chrono::milliseconds(20);
      const auto t0 = std::chrono::steady_clock::now();
      if (!source_.wait_for_ack(tag, kWait)) {
        // A dead stream answers at once: wait out the rest here (Unprotect/Halt end it), so
        // held outputs do not spin this thread until failover decides.
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, t0 + kWait, [&] { return halted_ || unprotected_; });
        continue;
      }
    }
    if (tag != 0 && !MayRelease()) continue;
    std::lock_guard rl(release_mu_);
    std::vector<Held> batch;
    {
      std::lock_guard lock(mu_);
      if (halted_) return;
      const uint64_t acked = unprotected_ ? UINT64_MAX : source_.acked_seq();
      while (!held_.empty() && held_.front().tag <= acked) {
        held_bytes_ -= held_.front().bytes;
        batch.push_back(std::move(held_.front()));
        held_.pop_front();
      }
      in_flight_ = batch.size();
    }
    for (Held& h : batch) h.release();
    std::lock_guard lock(mu_);
    released_ += batch.size();
    in_flight_ = 0;
    if (held_.empty()) drained_cv_.notify_all();
  }
}

bool OutputCommitGate::MayRelease() {
  if (!source_.in_contact || source_.in_contact()) return true;
  if (source_.confirm && source_.confirm()) return true;
  // Not now: the client hears from the backup again, declares it dead (failover then decides:
  // Unprotect or Halt), or confirm() succeeds on the next look.
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(5), [&] { return halted_ || unprotected_; });
  return false;
}

bool OutputCommitGate::WaitUntilDrained(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto drained = [&] { return held_.empty() && in_flight_ == 0; };
  return drained_cv_.wait_for(lock, timeout, [&] { return halted_ || drained(); }) && drained();
}

void OutputCommitGate::Unprotect() {
  std::lock_guard lock(mu_);
  unprotected_ = true;
  cv_.notify_all();
}

bool OutputCommitGate::Reprotect(std::chrono::milliseconds timeout) {
  if (!WaitUntilDrained(timeout)) return false;
  std::lock_guard lock(mu_);
  if (halted_ || !unprotected_ || !held_.empty() || in_flight_ != 0) return false;
  unprotected_ = false;
  return true;
}

size_t OutputCommitGate::Halt() {
  std::lock_guard rl(release_mu_);  // a batch being released finishes first
  std::lock_guard lock(mu_);
  halted_ = true;
  size_t dropped = held_.size();
  held_.clear();
  held_bytes_ = 0;
  cv_.notify_all();
  drained_cv_.notify_all();
  return dropped;
}

uint64_t OutputCommitGate::held_count() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

uint64_t OutputCommitGate::held_bytes() const {
  std::lock_guard lock(mu_);
  return held_bytes_;
}

uint64_t OutputCommitGate::released_count() const {
  std::lock_guard lock(mu_);
  return released_;
}

}  // namespace ftd::primary
