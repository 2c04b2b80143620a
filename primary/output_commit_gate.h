// Output commit (DESIGN.md): every output the primary's guest produces is tagged with the
// seq of the last log entry written when it was produced, and leaves only once the backup
// has acknowledged that seq. The guest keeps running; only the outputs wait. A release
// thread follows the backup's acks and releases outputs in the order they were held.
//
// Invariants:
// - An output is released only when acked_seq() >= its tag, or after Unprotect() (this host
//   won the arbiter and runs alone), never after Halt() (this host lost it).
// - Releases run one at a time, in the order Hold() was called.
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
  };
  explicit OutputCommitGate(Source source);
  ~OutputCommitGate() override;  // halts: drops what is still held

  void Hold(size_t bytes, std::function<void()> release) override;
  // No backup any more and this host won the arbiter: release everything held now, and let
  // later outputs leave at once.
  void Unprotect();
  // This host lost the arbiter: drop everything held and never release again. Returns the
  // number of outputs dropped. After it returns no release runs.
  size_t Halt();

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

  const Source source_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> held_;
  uint64_t held_bytes_ = 0;
  uint64_t released_ = 0;
  bool unprotected_ = false;
  bool halted_ = false;
  std::mutex release_mu_;  // one release batch at a time, in order; Halt() waits for it
  std::thread thread_;
};

}  // namespace ftd::primary
