#include "primary/replication_client.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace ftd::primary {
namespace {

using Clock = std::chrono::steady_clock;
using repl::SteadyNowNs;
using repl::UnixNowNs;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicationClient>> ReplicationClient::Connect(
    ReplicationClientOptions options) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    auto tls = repl::LoadTlsMaterial(options.tls);
    if (!tls.ok()) return tls.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls->ca_cert;
    ssl.pem_private_key = tls->key;
    ssl.pem_cert_chain = tls->cert;
    creds = grpc::SslCredentials(ssl);
  }
  std::unique_ptr<ReplicationClient> self(new ReplicationClient(std::move(options)));
  const ReplicationClientOptions& o = self->options_;
  const auto deadline = Clock::now() + o.connect_timeout;
  const auto grpc_deadline = std::chrono::system_clock::now() + o.connect_timeout;  // gRPC's clock

  // A fresh channel of our own: a backup that refuses us must not be retried behind our back.
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  self->channel_ = grpc::CreateCustomChannel(o.target, creds, args);
  // Wait for READY; TRANSIENT_FAILURE (refused, TLS handshake failed) ends the wait early.
  for (auto st = self->channel_->GetState(true); st != GRPC_CHANNEL_READY;
       st = self->channel_->GetState(true)) {
    if (st == GRPC_CHANNEL_TRANSIENT_FAILURE || st == GRPC_CHANNEL_SHUTDOWN) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to backup ", o.target,
          ": connection refused or TLS handshake failed (check the address and that both "
          "certificates come from the same CA)"));
    }
    if (!self->channel_->WaitForStateChange(st, grpc_deadline)) {
      return absl::UnavailableError(absl::StrCat("cannot connect to backup ", o.target, " within ",
                                                 o.connect_timeout.count(), " ms"));
    }
  }

  self->stub_ = proto::Replication::NewStub(self->channel_);
  self->stream_ = self->stub_->Stream(&self->context_);
  proto::PrimaryMessage hello;
  hello.mutable_hello()->set_protocol_version(o.protocol_version);
  hello.mutable_hello()->set_vm_id(o.vm_id);
  hello.mutable_hello()->set_generation(o.generation);
  hello.mutable_hello()->set_node(o.node);
  self->last_heard_ns_.store(SteadyNowNs());
  if (!self->stream_->Write(hello)) {
    return FromGrpc(self->stream_->Finish());
  }
  self->reader_ = std::thread([p = self.get()] { p->ReadLoop(); });

  std::unique_lock lock(self->mu_);
  if (!self->cv_.wait_until(lock, deadline,
                            [&] { return self->hello_done_ || self->reader_done_; })) {
    lock.unlock();
    self->context_.TryCancel();
    self->reader_.join();
    self->stream_->Finish();
    return absl::DeadlineExceededError(absl::StrCat(
        "backup ", o.target, " sent no HelloReply within ", o.connect_timeout.count(), " ms"));
  }
  if (!self->hello_done_ || !self->hello_reply_.accepted()) {
    const std::string reason = self->hello_reply_.reason();
    lock.unlock();
    self->reader_.join();
    grpc::Status fin = self->stream_->Finish();
    if (!reason.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("backup ", o.target, " refused: ", reason));
    }
    return FromGrpc(fin.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended") : fin);
  }
  lock.unlock();
  self->writer_ = std::thread([p = self.get()] { p->WriteLoop(); });
  return self;
}

ReplicationClient::~ReplicationClient() {
  if (writer_.joinable() || reader_.joinable()) Close().IgnoreError();
}

uint64_t ReplicationClient::next_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_;
}

absl::Status ReplicationClient::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

absl::Status ReplicationClient::Enqueue(proto::LogEntry&& entry, size_t encoded_size) {
  std::lock_guard lock(mu_);
  if (!status_.ok()) return status_;
  if (closed_) return absl::FailedPreconditionError("replication stream closed");
  if (entry.seq() != next_seq_) {
    return absl::InvalidArgumentError(
        absl::StrCat("log entry seq ", entry.seq(), " queued, expected ", next_seq_));
  }
  const size_t size = encoded_size != 0 ? encoded_size : entry.ByteSizeLong();
  proto::LogBatch* batch = nullptr;
  if (!queue_.empty() && queue_.back().has_batch()) {
    proto::LogBatch* b = queue_.back().mutable_batch();
    if (static_cast<size_t>(b->entries_size()) < options_.max_batch_entries &&
        back_batch_bytes_ + size <= options_.max_batch_bytes) {
      batch = b;
    }
  }
  if (!batch) {
    queue_.emplace_back();
    batch = queue_.back().mutable_batch();
    batch->set_first_seq(entry.seq());
    back_batch_bytes_ = 0;
  }
  back_batch_bytes_ += size;
  *batch->add_entries() = std::move(entry);
  ++next_seq_;
  batch_queued_ = true;
  writer_cv_.notify_one();  // only the writer waits for the queue
  return absl::OkStatus();
}

absl::Status ReplicationClient::EnqueueStateChunk(uint64_t offset, std::string data, bool last,
                                                  uint64_t total) {
  std::lock_guard lock(mu_);
  if (!status_.ok()) return status_;
  if (closed_) return absl::FailedPreconditionError("replication stream closed");
  if (batch_queued_) {
    return absl::FailedPreconditionError("state chunks must come before any log entry");
  }
  proto::PrimaryMessage m;
  m.mutable_state()->set_offset(offset);
  m.mutable_state()->set_data(std::move(data));
  m.mutable_state()->set_last(last);
  m.mutable_state()->set_total(total);
  queue_.push_back(std::move(m));
  // Acks still in flight count in the old log: ignore them until the backup's Ack {0, 0}
  // after the last chunk (replication.md, step 3).
  state_reset_pending_ = true;
  if (last) {
    // The log restarts at the transferred state (log.proto): seq 1 comes next.
    next_seq_ = 1;
    sent_seq_ = 0;
    acked_seq_.store(0, std::memory_order_release);
    replayed_seq_.store(0, std::memory_order_release);
  }
  cv_.notify_all();
  writer_cv_.notify_one();
  return absl::OkStatus();
}

bool ReplicationClient::in_contact() const {
  const int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.peer_timeout).count();
  return !silence_.load() && SteadyNowNs() - last_heard_ns_.load() <= timeout_ns;
}

bool ReplicationClient::WaitForAck(uint64_t seq, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return acknowledged_seq() >= seq || dead_.load(); });
  return acknowledged_seq() >= seq;
}

bool ReplicationClient::WaitForReplayed(uint64_t seq, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return replayed_seq() >= seq || dead_.load(); });
  return replayed_seq() >= seq;
}

bool ReplicationClient::WaitForStateAck(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !state_reset_pending_ || dead_.load(); });
  return !state_reset_pending_ && !dead_.load();
}

void ReplicationClient::MarkDead(absl::Status why) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || !status_.ok()) return;
    status_ = why;
    dead_.store(true);
    cv_.notify_all();
    writer_cv_.notify_all();
  }
  context_.TryCancel();  // unblocks the other thread's Read or Write
  if (options_.on_peer_dead) options_.on_peer_dead(why);
}

void ReplicationClient::ReadLoop() {
  proto::BackupMessage msg;
  const int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.peer_timeout).count();
  while (stream_->Read(&msg)) {
    // Before any ack it carries counts: a gap longer than the peer timeout means the backup
    // may have taken over meanwhile (this process was frozen, or the link was cut).
    const int64_t now = SteadyNowNs();
    if (now - last_heard_ns_.exchange(now) > timeout_ns) silence_.store(true);
    std::unique_lock lock(mu_);
    if (!hello_done_) {
      if (!msg.has_hello_reply()) {
        lock.unlock();
        MarkDead(absl::InternalError("backup broke the protocol: first message not a HelloReply"));
        break;
      }
      hello_reply_ = msg.hello_reply();
      // Here, not in Connect(): the first Ack may follow the reply at once.
      next_seq_ = hello_reply_.received_seq() + 1;
      sent_seq_ = hello_reply_.received_seq();
      acked_seq_.store(hello_reply_.received_seq(), std::memory_order_release);
      hello_done_ = true;
      cv_.notify_all();
      continue;
    }
    switch (msg.msg_case()) {
      case proto::BackupMessage::kAck: {
        const uint64_t r = msg.ack().received_seq();
        if (state_reset_pending_) {
          if (r != 0) break;  // counts in the log before the state transfer
          state_reset_pending_ = false;
          cv_.notify_all();
        }
        if (r > sent_seq_ || r < acknowledged_seq() || msg.ack().replayed_seq() > r) {
          const std::string what =
              absl::StrCat("backup broke the protocol: ack of seq ", r, " (sent up to ", sent_seq_,
                           ", acknowledged ", acknowledged_seq(), ")");
          lock.unlock();
          MarkDead(absl::InternalError(what));
          return;
        }
        acked_seq_.store(r, std::memory_order_release);
        replayed_seq_.store(msg.ack().replayed_seq(), std::memory_order_release);
        cv_.notify_all();
        break;
      }
      default:  // Heartbeat: hearing it is all it is for; a second HelloReply is ignored.
        break;
    }
  }
  bool closing;
  {
    std::lock_guard lock(mu_);
    reader_done_ = true;
    closing = stop_writer_;
    cv_.notify_all();
  }
  if (!closing && hello_done_) {
    MarkDead(absl::UnavailableError(absl::StrCat("backup ", options_.target, " ended the stream")));
  }
}

void ReplicationClient::WriteLoop() {
  const int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.peer_timeout).count();
  const auto tick =
      std::min<Clock::duration>(options_.heartbeat_interval, options_.peer_timeout / 4);
  auto last_write = Clock::now();
  for (;;) {
    std::vector<proto::PrimaryMessage> out;
    bool stop;
    {
      std::unique_lock lock(mu_);
      writer_cv_.wait_for(lock, tick,
                          [&] { return stop_writer_ || !queue_.empty() || dead_.load(); });
      if (dead_.load()) return;
      while (!queue_.empty()) {
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stop = stop_writer_;
    }
    for (const auto& m : out) {
      if (m.has_batch()) {
        // Before the write: the ack may come back before Write() returns.
        std::lock_guard lock(mu_);
        sent_seq_ = m.batch().first_seq() + m.batch().entries_size() - 1;
      }
      if (!stream_->Write(m)) {
        MarkDead(
            absl::UnavailableError(absl::StrCat("write to backup ", options_.target, " failed")));
        return;
      }
      if (m.has_state()) state_bytes_sent_.fetch_add(m.state().data().size());
      last_write = Clock::now();
    }
    if (stop) return;
    if (Clock::now() - last_write >= options_.heartbeat_interval) {
      proto::PrimaryMessage hb;
      hb.mutable_heartbeat()->set_sent_unix_ns(UnixNowNs());
      if (!stream_->Write(hb)) {
        MarkDead(
            absl::UnavailableError(absl::StrCat("write to backup ", options_.target, " failed")));
        return;
      }
      last_write = Clock::now();
    }
    // While the backup takes the state transfer (writes its replica), and before it while the
    // primary takes its snapshot (no log entry queued yet: seconds under nested KVM, where a
    // starved backup missed 500 ms), allow it ten times the timeout: the guest is not running
    // yet, and a killed backup closes the stream anyway.
    bool transferring;
    {
      std::lock_guard lock(mu_);
      transferring = state_reset_pending_ || !batch_queued_;
    }
    if (SteadyNowNs() - last_heard_ns_.load() > (transferring ? 10 * timeout_ns : timeout_ns)) {
      MarkDead(absl::UnavailableError(absl::StrCat("backup ", options_.target, " silent for ",
                                                   options_.peer_timeout.count(), " ms")));
      return;
    }
  }
}

absl::Status ReplicationClient::Close() {
  {
    std::lock_guard lock(mu_);
    stop_writer_ = true;
    cv_.notify_all();
    writer_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  const bool was_dead = dead_.load();
  if (!was_dead) stream_->WritesDone();
  {
    // The backup ends the stream once it has read our WritesDone; bound the wait.
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, options_.peer_timeout, [&] { return reader_done_; })) {
      lock.unlock();
      context_.TryCancel();
    }
  }
  if (reader_.joinable()) reader_.join();
  grpc::Status fin = stream_->Finish();
  std::lock_guard lock(mu_);
  closed_ = true;
  if (!status_.ok()) return status_;
  if (!fin.ok()) {
    status_ = FromGrpc(fin);
    return status_;
  }
  return absl::OkStatus();
}

}  // namespace ftd::primary
