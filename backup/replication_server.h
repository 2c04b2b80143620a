// The backup's end of the replication stream (docs/replication.md): a gRPC service that
// takes one primary at a time, checks every message (MessageValidator), hands accepted log
// entries to the replayer through a callback, acknowledges them, and sends heartbeats.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "proto/replication_protocol.h"
#include "replication.grpc.pb.h"

namespace ftd::backup {

struct ReplicationServerOptions {
  std::string listen_address = "127.0.0.1:0";  // port 0: the kernel picks (see port())
  repl::TlsFiles tls;     // CA, this host's cert and key; the client's cert is required
  bool insecure = false;  // plaintext, no authentication: tests and trusted labs only
  std::string vm_id;      // when set, a Hello for another VM is refused
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds peer_timeout{1000};  // nothing heard for this long: peer dead
  repl::Limits limits;
};

struct ReplicationCallbacks {
  // Accepted entries, in seq order, each exactly once. An error ends the stream with it
  // (the entries are then not acknowledged).
  std::function<absl::Status(const google::protobuf::RepeatedPtrField<proto::LogEntry>&)>
      on_entries;
  // Accepted state-transfer bytes at `offset`; `last` ends the transfer.
  // `total`: the whole transfer's size as the primary announced it (0: not announced).
  std::function<absl::Status(uint64_t offset, const std::string& data, bool last, uint64_t total)>
      on_state;
  // The current primary went silent for the peer timeout (failover decides what next).
  std::function<void()> on_peer_dead;
  // A stream whose Hello was accepted ended, for whatever reason (`why`): a primary that
  // was killed closes its connection long before the peer timeout.
  std::function<void(const std::string& why)> on_stream_end;
  // Extra admission check of a Hello the protocol accepts: a non-empty answer refuses the
  // primary with that reason (e.g. a stale generation, a backup already following one).
  std::function<std::string(const proto::Hello&)> check_hello;
};

class ReplicationServer final : public proto::Replication::Service {
 public:
  static absl::StatusOr<std::unique_ptr<ReplicationServer>> Start(ReplicationServerOptions options,
                                                                  ReplicationCallbacks callbacks);
  ~ReplicationServer() override;

  // Cancels the active stream and stops listening; returns within about a second.
  void Stop();
  int port() const { return port_; }

  // The replayer reports progress; the next Ack carries it.
  void SetReplayedSeq(uint64_t seq);

  uint64_t received_seq() const { return received_seq_.load(); }
  // Streams that got past the TLS handshake (tests: a refused client must not count).
  uint64_t streams_started() const { return streams_started_.load(); }

  grpc::Status Stream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream) override;

 private:
  struct Session;
  ReplicationServer(ReplicationServerOptions options, ReplicationCallbacks callbacks)
      : options_(std::move(options)), callbacks_(std::move(callbacks)) {}
  grpc::Status ReadLoop(
      grpc::ServerContext* context, Session& session,
      grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream);
  void WriteLoop(grpc::ServerContext* context, Session& session,
                 grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream);

  const ReplicationServerOptions options_;
  const ReplicationCallbacks callbacks_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<uint64_t> received_seq_{0};
  std::atomic<uint64_t> replayed_seq_{0};
  std::atomic<uint64_t> streams_started_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mu_;  // guards active_
  std::condition_variable active_ended_;
  Session* active_ = nullptr;  // the one primary being served
};

}  // namespace ftd::backup
