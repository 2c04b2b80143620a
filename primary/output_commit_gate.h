// Output commit (DESIGN.md): every output the primary's guest produces is tagged with the
// seq of the last log entry written when it was produced, and leaves only once the backup
// has acknowledged that seq. The guest keeps running; only the outputs wait. A release
// thread follows the backup's acks and releases outputs in the order they were held.
//
// Invariants:
// - An output is released only when acked_seq() >= its tag, or after Unprotect() (this host
//   won the arbiter and runs alone), never after Halt() (this host lost it).
// - Releases run one at a time, in the order Hold() was called.
// - While protected, an output leaves only while Source::in_contact() (or after confirm()).
// The release thread sleeps in wait_for_ack until the ack it needs arrives (the client
// notifies on every ack): there is no polling interval on the output's path.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "vmm/output_gate.h"

namespace ftd::primary {

class OutputCommitGate final : public vmm::OutputGate {
 public:
  struct Source {
    std::function<uint64_t()> current_seq;  // vCPU thread, in Hold(): the tag
    std::function<uint64_t()> acked_seq;
    // Blocks up to `timeout` until acked_seq() >= seq; false when not (timeout, dead peer).
    std::function<bool(uint64_t seq, std::chrono::milliseconds timeout)> wait_for_ack;
    // Whether the backup is in contact now (heard within the peer timeout, and no silence
    // longer than that since the last confirmation). An acknowledged output leaves only while
    // it is: a primary frozen past the peer timeout may have been replaced, and what it still
    // holds must not reach the network after the new primary's announcements. Unset: always.
    std::function<bool()> in_contact;
    // Called on the release thread when not in contact: true once this host confirmed at the
    // arbiter that it still holds its generation (contact counts as restored); false: not
    // now (the gate looks again shortly, or confirm() halted it).
    std::function<bool()> confirm;
  };
  explicit OutputCommitGate(Source source);
  ~OutputCommitGate() override;  // halts: drops what is still held

  void Hold(size_t bytes, std::function<void()> release) override;
  // No backup any more and this host won the arbiter: release everything held now, and let
  // later outputs leave at once.
  void Unprotect();
  // A backup joined: outputs wait for its acks again. Only from the unprotected state, and
  // only once nothing is held (what was held unprotected leaves first, within `timeout`):
  // the tags of the new log start again from 1. False (nothing changed) otherwise.
  bool Reprotect(std::chrono::milliseconds timeout);
  // This host lost the arbiter: drop everything held and never release again. Returns the
  // number of outputs dropped. After it returns no release runs.
  size_t Halt();

  // Blocks up to `timeout` until nothing is held (or the gate halted); true when empty.
  bool WaitUntilDrained(std::chrono::milliseconds timeout);

  uint64_t held_count() const;
  uint64_t held_bytes() const;
  uint64_t released_count() const;

 private:
  struct Held {
    uint64_t tag;
    size_t bytes;
    std::function<void()> release;
  };
  void Loop();
  // Protected and out of contact: asks confirm(); false (after a short wait) when the batch
  // must not leave now.
  bool MayRelease();

  const Source source_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  std::deque<Held> held_;
  uint64_t held_bytes_ = 0;
  uint64_t released_ = 0;
  size_t in_flight_ = 0;  // taken from held_, being released
  bool unprotected_ = false;
  bool halted_ = false;
  std::mutex release_mu_;  // one release batch at a time, in order; Halt() waits for it
  std::thread thread_;
};

}  // namespace ftd::primary
