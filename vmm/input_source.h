// Where the machine's inputs from outside come from. The machine asks its InputSource
// for the clock, for the host events to apply at a point, and for how to wait while the
// guest is halted; it never knows whether it is running free, recording or replaying
// (DESIGN.md: only replay/ decides where an input comes from; the session that builds the
// machine also sets MachineConfig::input_timing and ::backends to match its source). LiveInput,
// here, is the host itself; replay/ supplies the Recorder and the Replayer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshot.pb.h"
#include "vmm/clock.h"
#include "vmm/host_events.h"

namespace ftd::vmm {

// The machine's state at a point, for epoch hashes (determinism contract, rule 5).
struct EpochState {
  uint64_t exit_index = 0;
  std::string regs;  // struct kvm_regs followed by struct kvm_sregs, raw
  proto::DeviceStates devices;
  proto::InterruptState interrupts;  // what decides interrupt delivery at this point
  // Pages written since the previous epoch (KVM's dirty log plus the VMM's own writes),
  // ascending, each with the XXH3-64 hash of its content now.
  std::vector<std::pair<uint64_t, uint64_t>> pages;
};

class InputSource {
 public:
  virtual ~InputSource() = default;

  // The clock every guest-visible time source reads.
  virtual Clock& clock() = 0;
  // Guest time now, for a snapshot: not an input the guest observes, so never logged.
  virtual uint64_t GuestTimeNs() = 0;

  // The machine reached point `exit_index` (right after the exit that makes it, before
  // the exit is handled): later clock reads and events belong to this point.
  virtual absl::Status AtPoint(uint64_t exit_index) = 0;
  // The host events to apply now; `host` holds what the host delivered since the last call.
  virtual absl::StatusOr<std::vector<HostEvent>> Events(std::vector<HostEvent> host) = 0;
  // The guest is halted: wait until guest time `deadline_ns` or until `wake_fd` is readable.
  virtual absl::Status WaitForHost(std::optional<uint64_t> deadline_ns, int wake_fd) = 0;
  // A device timer's next deadline is `deadline_ns` (guest time): whether guest time has
  // reached it at the current point, and then guest time now (an input: the Recorder logs it,
  // the Replayer takes it from the log). nullopt: not yet, and nothing is logged, so a guest
  // that only waits for its timer costs one entry per expiry, not one per point.
  virtual std::optional<uint64_t> TimerDue(uint64_t deadline_ns) {
    const uint64_t now = clock().MonotonicNs();
    if (now < deadline_ns) return std::nullopt;
    return now;
  }
  // Whether an epoch hash is due at the current point; then Epoch() gets the state.
  virtual bool EpochDue() { return false; }
  // Pages the epoch must hash besides those written since the last one (a replay asks
  // for every page the recording hashed, to compare them).
  virtual std::vector<uint64_t> EpochPages() { return {}; }
  virtual absl::Status Epoch(const EpochState&) { return absl::OkStatus(); }
  // Errors that arose where none can be returned (inside a Clock read): a divergence or
  // an exhausted log. The machine checks it after every step.
  virtual absl::Status status() const { return absl::OkStatus(); }
  // Replay: the log has nothing more for the current point or beyond.
  virtual bool AtEnd() const { return false; }
};

// The host as it is: real time, real I/O.
class LiveInput final : public InputSource {
 public:
  explicit LiveInput(uint64_t start_ns = 0) : clock_(start_ns) {}
  Clock& clock() override { return clock_; }
  uint64_t GuestTimeNs() override { return clock_.MonotonicNs(); }
  absl::Status AtPoint(uint64_t) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<HostEvent>> Events(std::vector<HostEvent> host) override {
    return host;
  }
  absl::Status WaitForHost(std::optional<uint64_t> deadline_ns, int wake_fd) override {
    return WaitForHostUsing(clock_, deadline_ns, wake_fd);
  }
  // Shared with the Recorder, which sleeps the same way but logs what it then reads.
  static absl::Status WaitForHostUsing(HostClock& clock, std::optional<uint64_t> deadline_ns,
                                       int wake_fd);

 private:
  HostClock clock_;
};

// A Clock that forwards to whichever source is current; devices keep a pointer to it,
// so the machine can go live (switch from the log to the host) without rebuilding them.
class ForwardingClock final : public Clock {
 public:
  void set_target(Clock* c) { target_ = c; }
  uint64_t MonotonicNs() override { return target_->MonotonicNs(); }
  int64_t RealtimeNs() override { return target_->RealtimeNs(); }

 private:
  Clock* target_ = nullptr;
};

}  // namespace ftd::vmm
