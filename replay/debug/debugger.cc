#include "replay/debug/debugger.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "vmm/page_walk.h"

namespace ftd::replay::debug {
namespace {
using Kind = vmm::HwBreakpoint::Kind;

bool IsExec(const vmm::HwBreakpoint& b) { return b.kind == Kind::kExec; }
Position PointPos(uint64_t n) { return Position{n, std::nullopt, 0, 0}; }
Stop StopOf(Stop::Kind k) { return Stop{k, 0, {}}; }
}  // namespace

bool KvmTrapsRing3() {
  const char* force = getenv("FTD_DEBUG_POINTS");
  if (force != nullptr && force[0] == '1') return false;
  return access("/sys/module/kvm_pvm", F_OK) != 0;
}

std::string Describe(const Position& p) {
  std::string s = absl::StrFormat("point %u", p.exit_index);
  if (p.trigger) {
    s += absl::StrFormat(", %s %#x firing %u", IsExec(*p.trigger) ? "breakpoint" : "watchpoint",
                         p.trigger->addr, p.hits);
  }
  if (p.steps != 0) s += absl::StrFormat(", +%u steps", p.steps);
  return s;
}

Debugger::Debugger(std::unique_ptr<ReplaySession> session, DebuggerOptions options)
    : session_(std::move(session)), options_(options) {}
Debugger::~Debugger() = default;

absl::StatusOr<std::unique_ptr<Debugger>> Debugger::Create(std::unique_ptr<ReplaySession> session,
                                                           DebuggerOptions options) {
  if (options.checkpoint_every == 0) options.checkpoint_every = 1;
  std::unique_ptr<Debugger> d(new Debugger(std::move(session), options));
  Debugger* self = d.get();
  d->session_->set_console_muted(
      [self] { return self->machine().exit_index() < self->high_water_; });
  if (!d->machine().at_point()) {
    return absl::FailedPreconditionError("the debugger starts at a point");
  }
  auto ck = d->session_->TakeCheckpoint();
  if (!ck.ok()) return ck.status();
  d->pos_ = PointPos(d->machine().exit_index());
  d->counts_interval_ = d->pos_.exit_index;
  d->high_water_ = d->pos_.exit_index;
  d->next_ckpt_ = (*ck)->exit_index + options.checkpoint_every;
  d->ckpts_.push_back(std::move(*ck));
  return d;
}

size_t Debugger::checkpoint_bytes() const {
  size_t n = 0;
  for (const auto& c : ckpts_) n += c->bytes;
  return n;
}

void Debugger::SetRunning(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  running_ = on;
  if (on && interrupt_.load()) machine().RequestStopAtPoint();
}

void Debugger::Interrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  interrupt_.store(true);
  if (running_) machine().RequestStopAtPoint();
}

void Debugger::OnPoint() {
  const uint64_t n = machine().exit_index();
  pos_ = PointPos(n);
  counts_interval_ = n;
  std::fill(counts_.begin(), counts_.end(), 0);
  high_water_ = std::max(high_water_, n);
}

void Debugger::ThinCheckpoints() {
  while (checkpoint_bytes() > options_.checkpoint_memory && ckpts_.size() > 2) {
    std::vector<std::unique_ptr<ReplayCheckpoint>> kept;
    for (size_t i = 0; i < ckpts_.size(); ++i) {
      if (i == 0 || i % 2 == 0 || i + 1 == ckpts_.size()) kept.push_back(std::move(ckpts_[i]));
    }
    ckpts_ = std::move(kept);
    options_.checkpoint_every *= 2;
  }
}

void Debugger::MaybeCheckpoint() {
  const uint64_t n = machine().exit_index();
  if (n < next_ckpt_ || n <= ckpts_.back()->exit_index) return;
  auto ck = session_->TakeCheckpoint();
  if (!ck.ok()) {
    next_ckpt_ = n + 1;  // not quiet here (a disk request in flight): the next point
    return;
  }
  ckpts_.push_back(std::move(*ck));
  next_ckpt_ = n + options_.checkpoint_every;
  ThinCheckpoints();
}

std::optional<size_t> Debugger::ActiveMatch(uint64_t rip) const {
  for (size_t i = 0; i < known_.size(); ++i) {
    if (known_[i].active && IsExec(known_[i].bp) && known_[i].bp.addr == rip) return i;
  }
  return std::nullopt;
}

Stop Debugger::StopFor(size_t trigger) const {
  const vmm::HwBreakpoint& b = known_[trigger].bp;
  return Stop{IsExec(b) ? Stop::Kind::kBreakpoint : Stop::Kind::kWatchpoint, b.addr, {}};
}

absl::StatusOr<Debugger::Event> Debugger::Next(bool step, std::optional<uint64_t> stop_at,
                                               bool arm) {
  if (end_) return Event{Event::Kind::kEnd, 0, *end_};
  bool step_over = fired_here_.has_value();
  for (;;) {
    vmm::Machine& m = machine();
    const uint64_t exit = m.exit_index();
    vmm::DebugRequest req;
    req.step = step || step_over;
    if (arm) {
      auto sregs = m.vcpu().GetSregs();
      if (!sregs.ok()) return sregs.status();
      for (size_t i = 0; i < known_.size(); ++i) {
        if (!IsExec(known_[i].bp)) continue;     // watchpoints: checked at points (Watching)
        if (step_over && fired_here_ == i) continue;  // its instruction runs this time
        auto gpa = vmm::TranslateVirtual(m.memory(), *sregs, known_[i].bp.addr);
        if (gpa.ok()) req.sw_breakpoints.push_back({known_[i].bp.addr, *gpa});
      }
    }
    if (auto s = m.SetDebug(req); !s.ok()) return s;
    vmm::RunLimits limits;
    // A step never passes a point: it stops there, as a replay of it would.
    limits.stop_at_exit_index = req.step ? std::optional<uint64_t>(exit + 1) : stop_at;
    SetRunning(true);
    auto out = session_->Run(limits);
    SetRunning(false);
    (void)m.SetDebug({});
    if (!out.ok()) return out.status();
    fired_here_.reset();
    switch (out->kind) {
      case vmm::RunOutcome::Kind::kDebugTrap: {
        std::optional<size_t> hit;
        if (out->sw_breakpoint) {
          for (size_t i = 0; i < known_.size() && !hit; ++i) {
            if (IsExec(known_[i].bp) && known_[i].bp.addr == *out->sw_breakpoint) hit = i;
          }
        }
        if (hit) {
          if (m.exit_index() != counts_interval_) {
            counts_interval_ = m.exit_index();
            std::fill(counts_.begin(), counts_.end(), 0);
          }
          ++counts_[*hit];
          pos_ = Position{m.exit_index(), known_[*hit].bp, counts_[*hit], 0};
          // Fired before its instruction ran: that instruction runs next, without the trap byte.
          fired_here_ = *hit;
          if (known_[*hit].active && !step) return Event{Event::Kind::kHit, *hit, {}};
          step_over = true;
          continue;
        }
        ++pos_.steps;  // a single step, or the breakpoint on a handler a step delivered to
        if (step) return Event{Event::Kind::kStepped, 0, {}};
        step_over = false;
        continue;
      }
      case vmm::RunOutcome::Kind::kStoppedAtPoint:
        OnPoint();
        if (interrupt_.exchange(false)) return Event{Event::Kind::kInterrupted, 0, {}};
        if (step || (stop_at && m.exit_index() >= *stop_at)) return Debugger::Event{Event::Kind::kPoint, 0, {}};
        step_over = false;
        continue;
      case vmm::RunOutcome::Kind::kStopRequested:
        return Event{Event::Kind::kInterrupted, 0, {}};
      default: {
        if (auto s = session_->CheckFinalEpoch(*out); !s.ok()) return s;
        std::string note;
        switch (out->kind) {
          case vmm::RunOutcome::Kind::kGuestExit:
            note = absl::StrFormat("the guest exited with status %u", out->status);
            break;
          case vmm::RunOutcome::Kind::kShutdown:
            note = "the guest triple-faulted";
            break;
          default:
            note = "the recording ends here";
        }
        high_water_ = std::max(high_water_, m.exit_index());
        end_ = note;
        return Event{Event::Kind::kEnd, 0, note};
      }
    }
  }
}

absl::StatusOr<Debugger::Event> Debugger::NextPointChecked() {
  if (end_) return Event{Event::Kind::kEnd, 0, *end_};
  vmm::Machine& m = machine();
  if (auto s = m.SetDebug({}); !s.ok()) return s;
  SetRunning(true);
  auto out = session_->Run({m.exit_index() + 1});
  SetRunning(false);
  if (!out.ok()) return out.status();
  if (out->kind != vmm::RunOutcome::Kind::kStoppedAtPoint) {
    if (out->kind == vmm::RunOutcome::Kind::kStopRequested) return Debugger::Event{Event::Kind::kInterrupted, 0, {}};
    if (auto s = session_->CheckFinalEpoch(*out); !s.ok()) return s;
    end_ = out->kind == vmm::RunOutcome::Kind::kGuestExit
               ? absl::StrFormat("the guest exited with status %u", out->status)
               : std::string("the recording ends here");
    return Event{Event::Kind::kEnd, 0, *end_};
  }
  OnPoint();
  MaybeCheckpoint();
  auto regs = Regs();
  if (!regs.ok()) return regs.status();
  std::optional<size_t> hit;
  for (size_t i = 0; i < known_.size(); ++i) {
    const vmm::HwBreakpoint& b = known_[i].bp;
    if (IsExec(b)) {
      if (known_[i].active && regs->rip == b.addr && !hit) hit = i;
      continue;
    }
    std::vector<uint8_t> now(b.len);
    if (!ReadMemory(b.addr, now).ok()) now.clear();
    auto it = watched_.find(i);
    if (it != watched_.end() && it->second != now && known_[i].active && !hit) hit = i;
    watched_[i] = std::move(now);
  }
  if (interrupt_.exchange(false)) return Debugger::Event{Event::Kind::kInterrupted, 0, {}};
  if (hit) return Event{Event::Kind::kHit, *hit, {}};
  return Debugger::Event{Event::Kind::kPoint, 0, {}};
}

void Debugger::PrimeWatched() {
  watched_.clear();
  for (size_t i = 0; i < known_.size(); ++i) {
    if (IsExec(known_[i].bp)) continue;
    std::vector<uint8_t> now(known_[i].bp.len);
    if (!ReadMemory(known_[i].bp.addr, now).ok()) now.clear();
    watched_[i] = std::move(now);
  }
}

absl::Status Debugger::RestoreBefore(uint64_t n) {
  size_t ci = 0;
  for (size_t i = 0; i < ckpts_.size(); ++i) {
    if (ckpts_[i]->exit_index <= n) ci = i;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);  // Interrupt() must not see the old machine go
    if (auto s = session_->RestoreCheckpoint(*ckpts_[ci]); !s.ok()) return s;
  }
  ++restores_;
  end_.reset();
  fired_here_.reset();
  watched_.clear();
  OnPoint();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Debugger::Event>> Debugger::Advance(uint64_t n, uint64_t arm_from,
                                                                 std::vector<Hit>* hits) {
  const bool watch = hits != nullptr && Watching() && !options_.point_granularity;
  std::vector<std::vector<uint8_t>> sample;
  Position sampled = pos_;
  if (watch) sample = WatchBytes();
  while (machine().exit_index() < n) {
    const uint64_t exit = machine().exit_index();
    absl::StatusOr<Event> e;
    if (options_.point_granularity) {
      e = NextPointChecked();
    } else {
      uint64_t target = n;
      if (next_ckpt_ > exit) target = std::min(target, next_ckpt_);
      if (watch) target = std::min(target, exit + 1);
      const bool arm = hits != nullptr && exit >= arm_from;
      if (!arm && hits != nullptr) target = std::min(target, std::max(arm_from, exit + 1));
      e = Next(false, target, arm);
    }
    if (!e.ok()) return e.status();
    switch (e->kind) {
      case Event::Kind::kHit:
        if (hits != nullptr && machine().exit_index() >= arm_from) hits->push_back({pos_, e->trigger});
        break;
      case Event::Kind::kPoint:
        if (watch) {
          auto now = WatchBytes();
          if (now != sample && machine().exit_index() > arm_from) {
            size_t w = 0;
            for (size_t i = 0, a = 0; i < known_.size(); ++i) {
              if (!known_[i].active || IsExec(known_[i].bp)) continue;
              if (now[a] != sample[a]) w = i;
              ++a;
            }
            hits->push_back({sampled, w, true, machine().exit_index()});
          }
          sample = std::move(now);
          sampled = pos_;
        }
        MaybeCheckpoint();
        break;
      case Event::Kind::kStepped:
        break;
      case Event::Kind::kEnd:
      case Event::Kind::kInterrupted:
        return std::optional<Event>(*e);
    }
  }
  return std::optional<Event>();
}

absl::Status Debugger::Within(const Position& target, std::vector<Hit>* hits) {
  const uint64_t n = target.exit_index;
  if (target.trigger) {
    auto it = std::find_if(known_.begin(), known_.end(),
                           [&](const Known& k) { return k.bp == *target.trigger; });
    if (it == known_.end()) {
      known_.push_back({*target.trigger, false});
      counts_.push_back(0);
      it = known_.end() - 1;
    }
    const size_t ti = static_cast<size_t>(it - known_.begin());
    const bool was_active = known_[ti].active;
    known_[ti].active = true;  // stop at its firings, found or not
    absl::Status st;
    while (!(counts_interval_ == n && counts_[ti] >= target.hits)) {
      auto e = Next(false, n + 1);
      if (!e.ok()) {
        st = e.status();
        break;
      }
      if (e->kind != Event::Kind::kHit) {
        st = absl::InternalError(absl::StrFormat(
            "reverse execution: %s was not found again (the replay of its interval differed)",
            Describe(target)));
        break;
      }
      if (e->trigger == ti && counts_[ti] >= target.hits) break;
      if (hits != nullptr && (e->trigger != ti || was_active)) hits->push_back({pos_, e->trigger});
    }
    known_[ti].active = was_active;
    if (!st.ok()) return st;
  }
  for (uint64_t s = 0; s < target.steps; ++s) {
    auto e = Next(true, std::nullopt);
    if (!e.ok()) return e.status();
    if (e->kind == Event::Kind::kHit && hits != nullptr && s + 1 < target.steps) {
      hits->push_back({pos_, e->trigger});
    } else if (e->kind != Event::Kind::kStepped && e->kind != Event::Kind::kHit) {
      return absl::InternalError(absl::StrFormat(
          "reverse execution: %s was not found again (a step reached a point)", Describe(target)));
    }
  }
  pos_ = target;
  return absl::OkStatus();
}

absl::Status Debugger::GoTo(const Position& target) {
  if (auto s = RestoreBefore(target.exit_index); !s.ok()) return s;
  auto e = Advance(target.exit_index, target.exit_index, nullptr);
  if (!e.ok()) return e.status();
  if (e->has_value()) {
    return absl::InternalError(
        absl::StrFormat("reverse execution: the replay ended before %s", Describe(target)));
  }
  return Within(target, nullptr);
}

absl::StatusOr<Stop> Debugger::EndStop(const Event& e) {
  switch (e.kind) {
    case Event::Kind::kHit:
      return StopFor(e.trigger);
    case Event::Kind::kEnd:
      return Stop{Stop::Kind::kEnd, 0, e.note};
    case Event::Kind::kInterrupted:
      return StopOf(Stop::Kind::kInterrupted);
    case Event::Kind::kPoint:
      return StopOf(Stop::Kind::kPoint);
    case Event::Kind::kStepped:
      return StopOf(Stop::Kind::kStep);
  }
  return Stop{};
}

bool Debugger::Watching() const {
  for (const Known& k : known_) {
    if (k.active && !IsExec(k.bp)) return true;
  }
  return false;
}

std::vector<std::vector<uint8_t>> Debugger::WatchBytes() {
  std::vector<std::vector<uint8_t>> out;
  for (const Known& k : known_) {
    if (!k.active || IsExec(k.bp)) continue;
    std::vector<uint8_t> b(k.bp.len);
    if (!ReadMemory(k.bp.addr, b).ok()) b.clear();
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<Stop> Debugger::RefineFirst(const Position& from,
                                           const std::vector<std::vector<uint8_t>>& before) {
  if (auto s = GoTo(from); !s.ok()) return s;
  for (uint64_t k = 0; k <= options_.max_steps; ++k) {
    auto e = Next(true, std::nullopt);
    if (!e.ok()) return e.status();
    auto now = WatchBytes();
    if (now != before) {
      for (size_t i = 0, a = 0; i < known_.size(); ++i) {
        if (!known_[i].active || IsExec(known_[i].bp)) continue;
        if (now[a] != before[a]) return StopFor(i);
        ++a;
      }
    }
    if (e->kind == Event::Kind::kEnd) return EndStop(*e);
  }
  return absl::ResourceExhaustedError("watchpoint: the write was not found within the step bound");
}

absl::StatusOr<Stop> Debugger::RefineLast(const Hit& h) {
  if (auto s = GoTo(h.pos); !s.ok()) return s;
  std::optional<Position> last;
  auto prev = WatchBytes();
  for (uint64_t k = 0; k <= options_.max_steps; ++k) {
    auto e = Next(true, std::nullopt);
    if (!e.ok()) return e.status();
    auto now = WatchBytes();
    if (now != prev) last = pos_;
    prev = std::move(now);
    if (e->kind == Event::Kind::kPoint && machine().exit_index() >= h.to) break;
    if (e->kind == Event::Kind::kEnd) break;
  }
  if (!last) return absl::InternalError("watchpoint: the write was not found again");
  if (auto s = GoTo(*last); !s.ok()) return s;
  return StopFor(h.trigger);
}

absl::StatusOr<Stop> Debugger::Continue() {
  interrupt_.store(false);
  if (Watching() && !options_.point_granularity) {
    Position start = pos_;
    auto sample = WatchBytes();
    for (;;) {
      auto e = Next(false, machine().exit_index() + 1);
      if (!e.ok()) return e.status();
      if (WatchBytes() != sample) return RefineFirst(start, sample);
      if (e->kind != Event::Kind::kPoint) return EndStop(*e);
      MaybeCheckpoint();
      start = pos_;
    }
  }
  for (;;) {
    absl::StatusOr<Event> e;
    if (options_.point_granularity) {
      e = NextPointChecked();
    } else {
      const uint64_t exit = machine().exit_index();
      e = Next(false, next_ckpt_ > exit ? next_ckpt_ : exit + 1);
    }
    if (!e.ok()) return e.status();
    if (e->kind == Event::Kind::kPoint) {
      MaybeCheckpoint();
      continue;
    }
    return EndStop(*e);
  }
}

absl::StatusOr<Stop> Debugger::Step() {
  auto e = options_.point_granularity ? NextPointChecked() : Next(true, std::nullopt);
  if (!e.ok()) return e.status();
  if (e->kind == Event::Kind::kPoint) {
    MaybeCheckpoint();
    return StopOf(Stop::Kind::kStep);
  }
  return EndStop(*e);
}

absl::StatusOr<Stop> Debugger::NextPoint() {
  const uint64_t target = machine().exit_index() + 1;
  return RunToPoint(target);
}

absl::StatusOr<Stop> Debugger::RunToPoint(uint64_t exit_index) {
  const bool between = pos_.trigger.has_value() || pos_.steps != 0;
  if (exit_index < machine().exit_index() || (exit_index == machine().exit_index() && between)) {
    if (auto s = GoTo(PointPos(exit_index)); !s.ok()) return s;
    return StopOf(Stop::Kind::kPoint);
  }
  auto e = Advance(exit_index, exit_index, nullptr);
  if (!e.ok()) return e.status();
  if (e->has_value()) return EndStop(**e);
  return StopOf(Stop::Kind::kPoint);
}

absl::StatusOr<Stop> Debugger::ReverseContinue() {
  const Position p = pos_;
  std::optional<Position> window_target = p;
  uint64_t window_end = p.exit_index;
  size_t ci = 0;
  for (size_t i = 0; i < ckpts_.size(); ++i) {
    if (ckpts_[i]->exit_index <= p.exit_index) ci = i;
  }
  for (;;) {
    const uint64_t start = ckpts_[ci]->exit_index;
    std::vector<Hit> hits;
    if (auto s = RestoreBefore(start); !s.ok()) return s;
    if (options_.point_granularity) PrimeWatched();
    auto e = Advance(window_end, start, &hits);
    if (!e.ok()) return e.status();
    if (window_target && !options_.point_granularity) {
      if (auto s = Within(*window_target, &hits); !s.ok()) return s;
    }
    if (window_target && options_.point_granularity) {
      // The scan's last point is where we are: its firing is the stop we leave, not one before.
      std::erase_if(hits, [&](const Hit& h) { return h.pos.exit_index >= p.exit_index; });
    }
    if (!hits.empty()) {
      const Hit h = hits.back();
      if (h.watch) return RefineLast(h);
      if (auto s = GoTo(h.pos); !s.ok()) return s;
      return StopFor(h.trigger);
    }
    if (ci == 0) break;
    window_end = start;
    window_target.reset();
    --ci;
  }
  if (auto s = GoTo(PointPos(ckpts_[0]->exit_index)); !s.ok()) return s;
  return StopOf(Stop::Kind::kBegin);
}

absl::StatusOr<Stop> Debugger::ReverseStep() {
  const Position p = pos_;
  const uint64_t first = ckpts_[0]->exit_index;
  if (options_.point_granularity) {
    if (p.exit_index <= first) return StopOf(Stop::Kind::kBegin);
    if (auto s = GoTo(PointPos(p.exit_index - 1)); !s.ok()) return s;
    return StopOf(Stop::Kind::kStep);
  }
  if (p.steps > 0) {
    Position t = p;
    --t.steps;
    if (auto s = GoTo(t); !s.ok()) return s;
    return StopOf(Stop::Kind::kStep);
  }
  auto too_far = [&](uint64_t from) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "reverse-stepi: more than %u instructions since point %u (a reverse step single-steps "
        "forward from the last point); reverse-continue to a breakpoint instead",
        options_.max_steps, from));
  };
  if (p.trigger && p.hits > 0) {
    if (auto s = GoTo(PointPos(p.exit_index)); !s.ok()) return s;
    size_t ti = 0;
    while (!(known_[ti].bp == *p.trigger)) ++ti;
    std::optional<uint64_t> prev;
    for (uint64_t k = 0; k <= options_.max_steps; ++k) {
      auto e = Next(true, std::nullopt);
      if (!e.ok()) return e.status();
      if (counts_interval_ == p.exit_index && counts_[ti] >= p.hits) {
        if (IsExec(*p.trigger)) {
          if (k > 0) prev = k - 1;
        } else {
          prev = k;
        }
        break;
      }
      if (e->kind != Event::Kind::kStepped && e->kind != Event::Kind::kHit) break;
      if (k == options_.max_steps) return too_far(p.exit_index);
    }
    if (prev) {
      if (auto s = GoTo(Position{p.exit_index, std::nullopt, 0, *prev}); !s.ok()) return s;
      return StopOf(Stop::Kind::kStep);
    }
    // The firing was the point's own state: the instruction before is the point's.
  }
  if (p.exit_index <= first) {
    if (auto s = GoTo(PointPos(first)); !s.ok()) return s;
    return StopOf(Stop::Kind::kBegin);
  }
  const uint64_t from = p.exit_index - 1;
  if (auto s = GoTo(PointPos(from)); !s.ok()) return s;
  uint64_t k = 0;
  for (;; ++k) {
    if (k > options_.max_steps) return too_far(from);
    auto e = Next(true, std::nullopt);
    if (!e.ok()) return e.status();
    if (e->kind == Event::Kind::kPoint) break;
    if (e->kind != Event::Kind::kStepped && e->kind != Event::Kind::kHit) {
      return absl::InternalError("reverse-stepi: the replay ended before the current point");
    }
  }
  if (auto s = GoTo(Position{from, std::nullopt, 0, k}); !s.ok()) return s;
  return StopOf(Stop::Kind::kStep);
}

absl::Status Debugger::AddTrigger(const vmm::HwBreakpoint& t) {
  for (Known& k : known_) {
    if (k.bp == t) {
      k.active = true;
      return absl::OkStatus();
    }
  }
  if (t.kind != Kind::kExec && (t.len == 0 || t.len > 8 || (t.len & (t.len - 1)) != 0 ||
                                t.addr % t.len != 0)) {
    return absl::InvalidArgumentError(
        "a watchpoint covers 1, 2, 4 or 8 bytes aligned to its size");
  }
  size_t active = 0;
  for (const Known& k : known_) active += k.active ? 1 : 0;
  if (active >= kMaxTriggers) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("at most %u breakpoints and watchpoints at once", kMaxTriggers));
  }
  // An inactive one gives up its place (its counts with it).
  if (known_.size() >= kMaxTriggers) {
    for (size_t i = 0; i < known_.size(); ++i) {
      if (!known_[i].active) {
        known_.erase(known_.begin() + static_cast<long>(i));
        counts_.erase(counts_.begin() + static_cast<long>(i));
        break;
      }
    }
  }
  known_.push_back({t, true});
  counts_.push_back(0);
  if (options_.point_granularity) PrimeWatched();
  // Added between points: its firings since the point are unknown; replaying the
  // interval to the current position counts them (once per new trigger).
  if (!options_.point_granularity && (pos_.trigger || pos_.steps != 0)) return GoTo(pos_);
  return absl::OkStatus();
}

absl::Status Debugger::RemoveTrigger(const vmm::HwBreakpoint& t) {
  for (Known& k : known_) {
    if (k.bp == t) {
      k.active = false;  // keeps counting: a re-insert finds its counts right
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError("no such breakpoint");
}

absl::StatusOr<kvm_regs> Debugger::Regs() { return machine().vcpu().GetRegs(); }
absl::StatusOr<kvm_sregs> Debugger::Sregs() { return machine().vcpu().GetSregs(); }
absl::StatusOr<kvm_fpu> Debugger::Fpu() {
  kvm_fpu fpu{};
  if (auto s = machine().vcpu().Ioctl(KVM_GET_FPU, &fpu, "KVM_GET_FPU"); !s.ok()) return s;
  return fpu;
}

absl::Status Debugger::ReadMemory(uint64_t vaddr, std::span<uint8_t> out) {
  auto sregs = Sregs();
  if (!sregs.ok()) return sregs.status();
  return vmm::ReadVirtual(machine().memory(), *sregs, vaddr, out);
}

}  // namespace ftd::replay::debug
