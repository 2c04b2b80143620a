// The primary's end of the replication stream (docs/replication.md): connects to the backup
// over mutual TLS, says Hello, ships log batches from a queue, and turns the backup's acks
// into acknowledged_seq(), the value output commit waits on. A backup that stays silent for
// the peer timeout is declared dead (failover decides what next).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "proto/replication_protocol.h"
#include "replication.grpc.pb.h"

namespace ftd::primary {

struct ReplicationClientOptions {
  std::string target;     // the backup, "host:port"; the host must be in its certificate
  repl::TlsFiles tls;     // CA, this host's cert and key (the backup requires a client cert)
  bool insecure = false;  // plaintext, no authentication: tests and trusted labs only
  std::string vm_id;
  uint64_t generation = 0;  // Hello.generation: the one the primary claims once accepted
  std::string node;         // Hello.node: the primary's node name at the arbiter
  uint32_t protocol_version = repl::kProtocolVersion;  // other values: tests only
  std::chrono::milliseconds connect_timeout{2000};     // connect, handshake and HelloReply
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds peer_timeout{1000};  // nothing heard for this long: backup dead
  size_t max_batch_entries = 1024;               // keep under the backup's repl::Limits
  size_t max_batch_bytes = 4u << 20;
  // Called from the stream's reader thread; keep them short.
  std::function<void(const absl::Status& why)> on_peer_dead;
};

class ReplicationClient {
 public:
  // Returns once the backup accepted our Hello. A refusal is FAILED_PRECONDITION with the
  // backup's reason; a failed connection or TLS handshake is UNAVAILABLE.
  static absl::StatusOr<std::unique_ptr<ReplicationClient>> Connect(
      ReplicationClientOptions options);
  ~ReplicationClient();
  ReplicationClient(const ReplicationClient&) = delete;
  ReplicationClient& operator=(const ReplicationClient&) = delete;

  // Queues one entry; it must have seq == next_seq() (the backup's received_seq + 1 at
  // connect, then one more per entry). Entries queued together travel in one batch.
  // `encoded_size`: entry.ByteSizeLong() when the caller knows it (0: computed here).
  absl::Status Enqueue(proto::LogEntry&& entry, size_t encoded_size = 0);
  // Queues a piece of a state transfer; it must come before any entry on this stream.
  absl::Status EnqueueStateChunk(uint64_t offset, std::string data, bool last,
                                 uint64_t total = 0);
  // Bytes of state chunks written to the stream so far (progress of a transfer).
  uint64_t state_bytes_sent() const { return state_bytes_sent_.load(); }

  uint64_t next_seq() const;
  // Every entry up to here is held by the backup: outputs tagged with it may be released.
  uint64_t acknowledged_seq() const { return acked_seq_.load(std::memory_order_acquire); }
  uint64_t replayed_seq() const { return replayed_seq_.load(std::memory_order_acquire); }
  // True once acknowledged_seq() >= seq; false on timeout or when the stream is dead.
  bool WaitForAck(uint64_t seq, std::chrono::milliseconds timeout);

  // True once replayed_seq() >= seq; false on timeout or when the stream is dead.
  bool WaitForReplayed(uint64_t seq, std::chrono::milliseconds timeout);
  // True once the backup acknowledged the completed state transfer (its Ack {0, 0});
  // false on timeout or when the stream is dead.
  bool WaitForStateAck(std::chrono::milliseconds timeout);

  bool peer_dead() const { return dead_.load(); }
  // The backup was heard within the peer timeout, and nothing since the last ClearSilence()
  // came after a silence longer than that (a frozen or cut-off primary reading a backlog).
  bool in_contact() const;
  bool silence_noticed() const { return silence_.load(); }
  // The caller confirmed at the arbiter that this host still holds its generation.
  void ClearSilence() { silence_.store(false); }
  // OK while the stream is healthy; otherwise why it is not.
  absl::Status status() const;
  const proto::HelloReply& hello_reply() const { return hello_reply_; }

  // Sends what is queued, then WritesDone() and Finish(); returns the stream's final status.
  absl::Status Close();

 private:
  explicit ReplicationClient(ReplicationClientOptions options) : options_(std::move(options)) {}
  void ReadLoop();
  void WriteLoop();
  void MarkDead(absl::Status why);

  const ReplicationClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<proto::Replication::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<proto::PrimaryMessage, proto::BackupMessage>> stream_;
  proto::HelloReply hello_reply_;

  mutable std::mutex mu_;
  std::condition_variable cv_;         // acks, hello reply, death, reader end
  std::condition_variable writer_cv_;  // the writer's: queue, stop, death
  std::deque<proto::PrimaryMessage> queue_;
  uint64_t next_seq_ = 1;
  uint64_t sent_seq_ = 0;  // the last seq written to the stream
  bool batch_queued_ = false;
  size_t back_batch_bytes_ = 0;  // encoded size of the entries in queue_.back()'s batch
  bool state_reset_pending_ = false;
  std::atomic<uint64_t> state_bytes_sent_{0};
  bool hello_done_ = false;
  bool stop_writer_ = false;
  bool reader_done_ = false;
  bool closed_ = false;
  absl::Status status_;

  std::atomic<uint64_t> acked_seq_{0};
  std::atomic<uint64_t> replayed_seq_{0};
  std::atomic<bool> dead_{false};
  std::atomic<int64_t> last_heard_ns_{0};
  std::atomic<bool> silence_{false};
  std::thread reader_;
  std::thread writer_;
};

}  // namespace ftd::primary
