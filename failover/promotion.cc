#include "failover/promotion.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "failover/announce.h"

namespace ftd::failover {

absl::StatusOr<std::unique_ptr<Promotion>> Promotion::Open(const std::string& arbiter_spec,
                                                           std::string node, std::string role) {
  std::unique_ptr<Arbiter> arbiter;
  if (arbiter_spec.empty()) {
    std::fprintf(
        stderr,
        "ftd: warning: no --arbiter: if the link between the hosts fails while both live, both "
        "may serve the VM (split brain)\n");
  } else {
    auto opened = Arbiter::Open(arbiter_spec);
    if (!opened.ok()) return opened.status();
    arbiter = std::move(*opened);
  }
  return std::unique_ptr<Promotion>(
      new Promotion(std::move(arbiter), std::move(node), std::move(role)));
}

absl::Status Promotion::PrepareNewPrimary() {
  uint64_t gen = 1;
  if (arbiter_) {
    auto next = arbiter_->NextPrimaryGeneration(node_);
    if (!next.ok()) return next.status();
    gen = *next;
  }
  generation_.store(gen);
  claimed_.store(false);
  return absl::OkStatus();
}

absl::Status Promotion::ClaimNewPrimary() {
  if (arbiter_) {
    if (auto s = arbiter_->ClaimPrimaryGeneration(generation_.load(), node_); !s.ok()) return s;
  }
  claimed_.store(true);
  return absl::OkStatus();
}

bool Promotion::TryPromote(std::string* why) {
  const uint64_t next = generation_.load() + 1;
  if (arbiter_) {
    auto won = arbiter_->TryAcquire(next, node_, role_);
    if (!won.ok()) {
      *why = absl::StrFormat("arbiter: %s", won.status().message());
      return false;
    }
    if (!*won) {
      *why = absl::StrFormat("lost the arbiter for generation %u to %s", next, HolderOf(next));
      return false;
    }
  }
  generation_.store(next);
  claimed_.store(true);
  return true;
}

std::string Promotion::CheckNextPrimary(uint64_t generation, const std::string& node) {
  if (!arbiter_) return "";
  auto cur = arbiter_->CurrentGeneration();
  if (!cur.ok()) return std::string(cur.status().message());
  if (generation == *cur + 1) return "";
  if (generation == *cur && *cur > 0 && !node.empty() && CheckClaimed(generation, node).empty())
    return "";
  if (*cur == 0) {
    return absl::StrFormat(
        "the primary offers generation %u but the arbiter has none yet: a primary of another "
        "pair or arbiter directory",
        generation);
  }
  return absl::StrFormat(
      "the primary offers generation %u but the arbiter is at %u (held by %s), so the next is "
      "%u: a stale primary",
      generation, *cur, HolderOf(*cur), *cur + 1);
}

std::string Promotion::CheckClaimed(uint64_t generation, const std::string& node) {
  if (!arbiter_) return "";
  auto cur = arbiter_->CurrentGeneration();
  if (!cur.ok()) return std::string(cur.status().message());
  if (generation == 0 || generation != *cur) {
    return absl::StrFormat(
        "the primary's state is for generation %u but the arbiter is at %u: the primary did "
        "not win its generation",
        generation, *cur);
  }
  auto rec = arbiter_->Read(generation);
  if (!rec.ok()) return std::string(rec.status().message());
  if (rec->role != "primary" || (!node.empty() && rec->node != node)) {
    return absl::StrFormat(
        "generation %u is held by %s, not by the primary on %s that sent this state",
        generation, HolderOf(generation), node.empty() ? "?" : node);
  }
  return "";
}

absl::StatusOr<bool> Promotion::StillHolds() {
  if (!arbiter_) return true;
  auto cur = arbiter_->CurrentGeneration();
  if (!cur.ok()) return cur.status();
  return *cur == generation_.load();
}

std::string Promotion::HolderOf(uint64_t gen) {
  auto rec = arbiter_->Read(gen);
  if (!rec.ok()) return std::string(rec.status().message());
  return absl::StrFormat("%s (%s, pid %d)", rec->node, rec->role, rec->pid);
}

Announcer::Announcer(const std::array<uint8_t, 6>& mac, Send send) {
  thread_ = std::thread([this, frame = RarpAnnounceFrame(mac), send = std::move(send)] {
    const auto t0 = std::chrono::steady_clock::now();
    for (int at : kAnnounceAtMs) {
      const auto when = t0 + std::chrono::milliseconds(at);
      while (!stop_.load() && std::chrono::steady_clock::now() < when) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            when - std::chrono::steady_clock::now(), std::chrono::milliseconds(10)));
      }
      if (stop_.load()) return;
      send(frame);
    }
  });
}

Announcer::~Announcer() {
  if (thread_.joinable()) thread_.join();
}

void Announcer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace ftd::failover
