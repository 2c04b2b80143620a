// Promotion (DESIGN.md "Failover"): how a host comes to serve a VM alone. Both roles go
// through it: a primary that starts, or goes on without its backup, and a backup that goes
// live each win the next generation at the arbiter first (the test-and-set), and the host
// that went live tells the network where the guest's MAC is now (the announce schedule).
// Without an arbiter every promotion wins (with a warning at Open: a partition may split).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "failover/arbiter.h"

namespace ftd::failover {

class Promotion {
 public:
  // `arbiter_spec`: "file:DIR", or empty for none. `node`: this host's name, `role` the one
  // it has now ("primary" or "backup").
  static absl::StatusOr<std::unique_ptr<Promotion>> Open(const std::string& arbiter_spec,
                                                         std::string node, std::string role);

  // A primary starting, step 1: the start rule (Arbiter::NextPrimaryGeneration), which takes
  // nothing. generation() is then the tentative generation (1 without an arbiter), the one
  // the primary offers its backup. FailedPrecondition: this host must not start a primary.
  absl::Status PrepareNewPrimary();
  // Step 2, once the backup has accepted the primary at generation(): win it
  // (Arbiter::ClaimPrimaryGeneration; nothing to win without an arbiter). FailedPrecondition:
  // the rule refuses now, or another host took a generation since step 1.
  absl::Status ClaimNewPrimary();
  // Whether generation() is won (a backup's or a promoted primary's always is).
  bool claimed() const { return claimed_.load(); }
  // The peer is lost: win generation `current + 1`. On success generation() is that one;
  // on a loss `*why` says who holds it (or what failed).
  bool TryPromote(std::string* why);
  // A backup admitting a primary (its Hello): empty when `generation` is the arbiter's next
  // one (current + 1: the primary claims it only once accepted), else why the primary is
  // stale.
  // Also accepted: the current generation itself when its record names `node` as its
  // primary (a backup joining the primary that serves it: a join takes no generation).
  std::string CheckNextPrimary(uint64_t generation, const std::string& node = "");
  // A backup taking the primary's initial state: empty when `generation` is the arbiter's
  // current one and was won by a primary on `node` (empty `node`: any), else why not.
  std::string CheckClaimed(uint64_t generation, const std::string& node);
  // Whether generation() is still the arbiter's newest (true without an arbiter); an error
  // when the arbiter cannot be read.
  absl::StatusOr<bool> StillHolds();

  uint64_t generation() const { return generation_.load(); }
  void set_generation(uint64_t g) {
    generation_.store(g);
    claimed_.store(true);
  }
  const std::string& node() const { return node_; }
  bool has_arbiter() const { return arbiter_ != nullptr; }

 private:
  Promotion(std::unique_ptr<Arbiter> arbiter, std::string node, std::string role)
      : arbiter_(std::move(arbiter)), node_(std::move(node)), role_(std::move(role)) {}
  std::string HolderOf(uint64_t gen);

  std::unique_ptr<Arbiter> arbiter_;  // nullptr: none
  const std::string node_;
  const std::string role_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> claimed_{false};
};

// Sends the guest's MAC announcement (RarpAnnounceFrame) at kAnnounceAtMs after go-live, on
// its own thread; the destructor waits for the last round (or stops early at Stop()).
class Announcer {
 public:
  using Send = std::function<void(const std::vector<uint8_t>& frame)>;
  Announcer(const std::array<uint8_t, 6>& mac, Send send);
  ~Announcer();
  void Stop();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ftd::failover
