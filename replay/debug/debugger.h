// The replay under a debugger: forward execution is the replay itself (epoch hashes keep
// being verified), reverse execution is a checkpoint restored and the replay run forward
// again (rr's model, on a whole VM). docs/debug.md has the model and its costs.
//
// Positions. A point (an exit the guest caused, counted from boot) is where a replay can
// stop by itself. Between points the debugger names a state as
//   (N, T, m) + s: after point N, the m-th time trigger T fired, then s single steps,
// where a trigger is one of the hardware breakpoints/watchpoints the debugger has been
// given. Every trigger the debugger knows stays armed (gdb removes and re-inserts its
// breakpoints at every stop; the counts must not depend on that), and every arrival at an
// execution breakpoint fires exactly once (a step that would start at an armed address
// fires there first), so the m-th firing is the same state in every replay of the interval.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replay/replay_session.h"
#include "vmm/guest_debug.h"

namespace ftd::replay::debug {

// Breakpoints and watchpoints are software (trap bytes, compared bytes: debugger.cc), so the
// bound is the cost of checking them at every point, not the four debug registers.
inline constexpr size_t kMaxTriggers = 64;

struct DebuggerOptions {
  // A checkpoint at the first quiet point (no disk request in flight) after every this many
  // points; doubled whenever the checkpoints outgrow checkpoint_memory (every other one is
  // dropped, the first always kept).
  uint64_t checkpoint_every = 2000;
  size_t checkpoint_memory = 256u << 20;
  // A reverse step single-steps forward from the last point: bounded.
  uint64_t max_steps = 2'000'000;
  // This KVM cannot trap in guest ring 3 (PVM): stop at points only; breakpoints and
  // watchpoints are checked at points.
  bool point_granularity = false;
};

// Whether this host's KVM can single-step and break in guest ring 3 (PVM cannot:
// ../shared/platform-probe/FACTS.md). FTD_DEBUG_POINTS=1 forces the point-granularity mode.
bool KvmTrapsRing3();

struct Position {
  uint64_t exit_index = 0;
  std::optional<vmm::HwBreakpoint> trigger;  // none: counted from the point itself
  uint64_t hits = 0;
  uint64_t steps = 0;
  bool operator==(const Position&) const = default;
};
std::string Describe(const Position& p);

struct Stop {
  enum class Kind {
    kStep,         // a step finished
    kBreakpoint,   // an execution breakpoint (addr)
    kWatchpoint,   // a watchpoint (addr: the watched address)
    kPoint,        // reached a requested point
    kBegin,        // reverse execution reached the start of the recording
    kEnd,          // the recording ends here (the log, the guest's exit)
    kInterrupted,  // Interrupt()
  };
  Kind kind = Kind::kStep;
  uint64_t addr = 0;
  std::string note;  // for kEnd: how it ended
};

class Debugger {
 public:
  // Takes the session where it stands (its first checkpoint).
  static absl::StatusOr<std::unique_ptr<Debugger>> Create(std::unique_ptr<ReplaySession> session,
                                                          DebuggerOptions options);
  ~Debugger();

  absl::StatusOr<Stop> Continue();
  absl::StatusOr<Stop> Step();
  absl::StatusOr<Stop> ReverseContinue();
  absl::StatusOr<Stop> ReverseStep();
  // Forward to point `exit_index` (`ftd replay --gdb --until N`).
  absl::StatusOr<Stop> RunToPoint(uint64_t exit_index);
  // Forward one point (asserts checked at every point).
  absl::StatusOr<Stop> NextPoint();

  absl::Status AddTrigger(const vmm::HwBreakpoint& t);
  absl::Status RemoveTrigger(const vmm::HwBreakpoint& t);
  // Thread-safe: the running Continue() stops at the next point (kInterrupted).
  void Interrupt();

  absl::StatusOr<kvm_regs> Regs();
  absl::StatusOr<kvm_sregs> Sregs();
  absl::StatusOr<kvm_fpu> Fpu();
  // Guest-virtual addresses, through the guest's page tables.
  absl::Status ReadMemory(uint64_t vaddr, std::span<uint8_t> out);

  const Position& position() const { return pos_; }
  bool at_end() const { return end_.has_value(); }
  ReplaySession& session() { return *session_; }
  const DebuggerOptions& options() const { return options_; }
  size_t checkpoints() const { return ckpts_.size(); }
  size_t checkpoint_bytes() const;
  // Checkpoints restored so far (what reverse execution cost).
  uint64_t restores() const { return restores_; }

 private:
  struct Event {
    enum class Kind { kHit, kStepped, kPoint, kEnd, kInterrupted } kind = Kind::kStepped;
    size_t trigger = 0;  // kHit: index into known_
    std::string note;    // kEnd
  };
  struct Known {
    vmm::HwBreakpoint bp;
    bool active = true;          // gdb has it inserted (else it only keeps counting)
    uint64_t added_in = 0;       // the interval it was added in, mid-interval (counts unknown)
    bool added_mid = false;
  };
  struct Hit {
    Position pos;
    size_t trigger;
    // A watchpoint: the watched bytes changed between `pos` (a point) and point `to`.
    bool watch = false;
    uint64_t to = 0;
  };

  Debugger(std::unique_ptr<ReplaySession> session, DebuggerOptions options);
  vmm::Machine& machine() { return session_->machine(); }

  // One run of the machine: a step (to the next instruction or point) or a continue (to a
  // trigger, `stop_at`, the end, an interrupt). Counts firings and moves pos_.
  absl::StatusOr<Event> Next(bool step, std::optional<uint64_t> stop_at, bool arm = true);
  // Point granularity: to the next point, checking triggers there.
  absl::StatusOr<Event> NextPointChecked();
  // Point granularity: the watched bytes now, to compare at the next point.
  void PrimeWatched();
  // Forward to point `n` (no traps before its interval), taking checkpoints on the way;
  // with `hits`, triggers are armed from `arm_from` and active ones' firings are noted.
  absl::StatusOr<std::optional<Event>> Advance(uint64_t n, uint64_t arm_from,
                                               std::vector<Hit>* hits);
  // From a point forward to `target` in its interval (hits before it noted when asked).
  absl::Status Within(const Position& target, std::vector<Hit>* hits);
  // Restores the latest checkpoint at or before point `n`.
  absl::Status RestoreBefore(uint64_t n);
  absl::Status GoTo(const Position& target);
  void OnPoint();
  // Watchpoints are software: the watched bytes compared at every point, and the interval
  // where they changed single-stepped to find the instruction (hardware watchpoints do not
  // fire in the nested-KVM test VM, nor in ring 3 on PVM).
  bool Watching() const;
  std::vector<std::vector<uint8_t>> WatchBytes();
  // From `from`, the first step after which the watched bytes differ from `before`.
  absl::StatusOr<Stop> RefineFirst(const Position& from,
                                   const std::vector<std::vector<uint8_t>>& before);
  // The last step between point `from` and point `to` that changed the watched bytes.
  absl::StatusOr<Stop> RefineLast(const Hit& h);
  void MaybeCheckpoint();
  void ThinCheckpoints();
  std::optional<size_t> ActiveMatch(uint64_t rip) const;
  Stop StopFor(size_t trigger) const;
  absl::StatusOr<Stop> EndStop(const Event& e);
  void SetRunning(bool on);

  std::unique_ptr<ReplaySession> session_;
  DebuggerOptions options_;
  std::vector<std::unique_ptr<ReplayCheckpoint>> ckpts_;  // ascending exit index
  uint64_t next_ckpt_ = 0;
  uint64_t restores_ = 0;
  std::vector<Known> known_;
  // Firings per known trigger in interval counts_interval_.
  uint64_t counts_interval_ = 0;
  std::vector<uint64_t> counts_;
  Position pos_;
  std::optional<size_t> fired_here_;  // an exec trigger fired at rip; nothing executed since
  std::optional<std::string> end_;
  // Point granularity: the watched bytes at the last point.
  std::map<size_t, std::vector<uint8_t>> watched_;
  uint64_t high_water_ = 0;  // the furthest point reached (console output muted before it)

  std::mutex mu_;
  bool running_ = false;
  std::atomic<bool> interrupt_{false};
};

}  // namespace ftd::replay::debug
