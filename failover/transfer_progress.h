// Progress of one long transfer (a state transfer to or from the peer): bytes done of a total,
// the rate, a terminal line at most once a second, and the status report's transfer fields.
// Thread-safe: one thread adds, any thread reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "status.pb.h"

namespace ftd::failover {

class TransferProgress {
 public:
  // A new transfer of `total` bytes (0: not known yet) starts now.
  void Start(uint64_t total);
  void SetTotal(uint64_t total) { total_.store(total); }
  // `done` bytes have been moved in all (monotonic within one transfer).
  void Set(uint64_t done) { done_.store(done); }
  void Finish() { finished_.store(true); }

  uint64_t done() const { return done_.load(); }
  uint64_t total() const { return total_.load(); }
  double rate_bps() const;  // since the start
  // "VERB: 12.3 of 45.6 MB (27 %), 4.1 MB/s" once a second while the transfer runs (the
  // first after a second: short transfers print nothing); nullopt otherwise.
  std::optional<std::string> LineDue(const char* verb);
  // transfer_bytes_done/total/rate_bps of `r` (zeros before any transfer).
  void Fill(proto::StatusReport& r) const;

 private:
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<int64_t> start_ns_{0};
  std::atomic<bool> finished_{false};
  std::mutex mu_;
  int64_t next_line_ns_ = 0;
};

}  // namespace ftd::failover
