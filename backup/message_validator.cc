#include "backup/message_validator.h"

#include "absl/strings/str_cat.h"

namespace ftd::backup {

absl::Status MessageValidator::Check(const proto::PrimaryMessage& msg) {
  if (msg.msg_case() == proto::PrimaryMessage::MSG_NOT_SET) {
    return absl::InvalidArgumentError("message carries no content (empty oneof)");
  }
  if (!hello_seen_) {
    if (msg.msg_case() != proto::PrimaryMessage::kHello) {
      return absl::FailedPreconditionError(
          absl::StrCat("the first message must be a Hello, got case ", msg.msg_case()));
    }
    return CheckHello(msg.hello());
  }
  switch (msg.msg_case()) {
    case proto::PrimaryMessage::kHello:
      return absl::FailedPreconditionError("a second Hello on the same stream");
    case proto::PrimaryMessage::kState:
      return CheckState(msg.state());
    case proto::PrimaryMessage::kBatch:
      return CheckBatch(msg.batch());
    case proto::PrimaryMessage::kHeartbeat:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown message case ", msg.msg_case()));
  }
}

absl::Status MessageValidator::CheckHello(const proto::Hello& hello) {
  if (hello.vm_id().empty()) return absl::InvalidArgumentError("Hello without a vm_id");
  if (hello.vm_id().size() > limits_.max_vm_id) {
    return absl::InvalidArgumentError(absl::StrCat("Hello vm_id of ", hello.vm_id().size(),
                                                   " bytes (limit ", limits_.max_vm_id, ")"));
  }
  if (hello.node().size() > limits_.max_vm_id ||
      hello.node().find_first_of(std::string("\n\r\0", 3)) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Hello node name of ", hello.node().size(), " bytes, or with a line break or NUL"));
  }
  hello_seen_ = true;
  return absl::OkStatus();
}

absl::Status MessageValidator::CheckState(const proto::StateChunk& chunk) {
  if (batch_seen_) {
    return absl::FailedPreconditionError("StateChunk after a LogBatch on the same stream");
  }
  if (state_done_) return absl::FailedPreconditionError("StateChunk after the last one");
  if (chunk.data().size() > limits_.max_state_chunk) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "StateChunk of ", chunk.data().size(), " bytes (limit ", limits_.max_state_chunk, ")"));
  }
  if (chunk.offset() != state_offset_) {
    return absl::InvalidArgumentError(
        absl::StrCat("StateChunk at offset ", chunk.offset(), ", expected ", state_offset_));
  }
  state_started_ = true;
  state_offset_ += chunk.data().size();
  if (chunk.last()) {
    state_done_ = true;
    // The log after a state transfer counts from the transferred state (log.proto).
    next_seq_ = 1;
    last_exit_index_ = 0;
  }
  return absl::OkStatus();
}

absl::Status MessageValidator::CheckBatch(const proto::LogBatch& batch) {
  if (state_started_ && !state_done_) {
    return absl::FailedPreconditionError(
        absl::StrCat("LogBatch in the middle of a state transfer (at byte ", state_offset_, ")"));
  }
  const int n = batch.entries_size();
  if (n == 0) return absl::InvalidArgumentError("empty LogBatch");
  if (static_cast<size_t>(n) > limits_.max_batch_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("LogBatch of ", n, " entries (limit ", limits_.max_batch_entries, ")"));
  }
  if (batch.first_seq() != next_seq_) {
    return absl::InvalidArgumentError(absl::StrCat("LogBatch starts at seq ", batch.first_seq(),
                                                   ", expected ", next_seq_,
                                                   " (a gap or a replay)"));
  }
  size_t bytes = 0;
  uint64_t exit_index = last_exit_index_;
  for (int i = 0; i < n; ++i) {
    const proto::LogEntry& e = batch.entries(i);
    const uint64_t want = batch.first_seq() + static_cast<uint64_t>(i);
    if (e.seq() != want) {
      return absl::InvalidArgumentError(
          absl::StrCat("LogBatch entry ", i, " has seq ", e.seq(), ", expected ", want));
    }
    if (e.event_case() == proto::LogEntry::EVENT_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat("log entry seq ", want, " has no event"));
    }
    if (e.exit_index() < exit_index) {
      return absl::InvalidArgumentError(absl::StrCat("log entry seq ", want, " exit index ",
                                                     e.exit_index(), " < previous ", exit_index));
    }
    exit_index = e.exit_index();
    bytes += e.ByteSizeLong();
    if (bytes > limits_.max_batch_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("LogBatch over ", limits_.max_batch_bytes, " bytes at entry ", i));
    }
  }
  batch_seen_ = true;
  next_seq_ += static_cast<uint64_t>(n);
  last_exit_index_ = exit_index;
  return absl::OkStatus();
}

}  // namespace ftd::backup
