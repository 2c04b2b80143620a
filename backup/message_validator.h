// The backup's check of every message a primary sends (proto/replication.proto invariants):
// a pure state machine over one stream, no I/O, so it is unit-tested and fuzzed directly.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "proto/replication_protocol.h"
#include "replication.pb.h"

namespace ftd::backup {

class MessageValidator {
 public:
  // `received_seq`: the last seq the backup already holds (0: none); the stream's first
  // LogBatch must start right after it.
  MessageValidator(const repl::Limits& limits, uint64_t received_seq)
      : limits_(limits), next_seq_(received_seq + 1) {}

  // OK when `msg` may come next on the stream; the state then advances past it. An error
  // (FAILED_PRECONDITION out of order, INVALID_ARGUMENT malformed, RESOURCE_EXHAUSTED over a
  // limit) says what was wrong; the stream must then end with it.
  absl::Status Check(const proto::PrimaryMessage& msg);

  bool hello_seen() const { return hello_seen_; }
  // The seq the next LogBatch must start with.
  uint64_t next_seq() const { return next_seq_; }

 private:
  absl::Status CheckHello(const proto::Hello& hello);
  absl::Status CheckState(const proto::StateChunk& chunk);
  absl::Status CheckBatch(const proto::LogBatch& batch);

  repl::Limits limits_;
  bool hello_seen_ = false;
  bool batch_seen_ = false;
  bool state_started_ = false;
  bool state_done_ = false;
  uint64_t state_offset_ = 0;
  uint64_t next_seq_;
  uint64_t last_exit_index_ = 0;
};

}  // namespace ftd::backup
