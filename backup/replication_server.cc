#include "backup/replication_server.h"

#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backup/message_validator.h"

namespace ftd::backup {
namespace {

using Clock = std::chrono::steady_clock;
using repl::SteadyNowNs;
using repl::UnixNowNs;

grpc::Status ToGrpc(const absl::Status& s) {
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace

// One primary's stream. The reader (the RPC's own thread) and the writer thread meet here.
struct ReplicationServer::Session {
  grpc::ServerContext* context = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<proto::BackupMessage> outgoing;  // HelloReply; acks are coalesced
  bool hello_answered = false;                // acks and heartbeats only after the HelloReply
  bool done = false;                          // the reader has finished
  bool accepted = false;                      // the Hello was accepted (reader thread only)
  uint64_t hello_received_seq = 0;            // what the HelloReply told the primary
  // The reader is inside a callback (our own work, e.g. writing the replica): messages wait
  // behind it, so its silence is not the primary's.
  std::atomic<bool> in_callback{false};
  std::atomic<bool> peer_dead{false};
  std::atomic<int64_t> last_heard_ns{0};
};

absl::StatusOr<std::unique_ptr<ReplicationServer>> ReplicationServer::Start(
    ReplicationServerOptions options, ReplicationCallbacks callbacks) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (options.insecure) {
    creds = grpc::InsecureServerCredentials();
  } else {
    auto tls = repl::LoadTlsMaterial(options.tls);
    if (!tls.ok()) return tls.status();
    // The primary must present a certificate from our CA: an unauthenticated peer could
    // otherwise feed the backup a log and, through failover, run its own machine.
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = tls->ca_cert;
    ssl.pem_key_cert_pairs.push_back({tls->key, tls->cert});
    creds = grpc::SslServerCredentials(ssl);
  }
  std::unique_ptr<ReplicationServer> self(
      new ReplicationServer(std::move(options), std::move(callbacks)));
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second backup on the same address would then share
  // the port (the kernel spreading new connections between the two) instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(self->options_.listen_address, creds, &self->port_);
  builder.RegisterService(self.get());
  builder.SetMaxReceiveMessageSize(self->options_.limits.max_message_bytes);
  self->server_ = builder.BuildAndStart();
  if (!self->server_ || self->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", self->options_.listen_address,
                                               " (address in use or not local?)"));
  }
  return self;
}

ReplicationServer::~ReplicationServer() { Stop(); }

void ReplicationServer::Stop() {
  if (stopping_.exchange(true) || !server_) {
    if (server_) server_->Wait();
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (active_) active_->context->TryCancel();
    active_ended_.notify_all();
  }
  // Handlers end once cancelled; the deadline bounds a handler stuck elsewhere.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
}

void ReplicationServer::SetReplayedSeq(uint64_t seq) {
  std::lock_guard lock(mu_);
  if (!active_) {
    replayed_seq_.store(seq);
    return;
  }
  // Under the session's mutex: the writer checks replayed_seq_ under it before it waits, so
  // the store and the notify cannot both fall between its check and its wait.
  std::lock_guard slock(active_->mu);
  replayed_seq_.store(seq);
  active_->cv.notify_all();
}

grpc::Status ReplicationServer::Stream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream) {
  streams_started_.fetch_add(1);
  Session session;
  session.context = context;
  session.last_heard_ns.store(SteadyNowNs());
  {
    // One primary at a time. A reconnecting primary may find its old stream still winding
    // down (or, if it died, still within the peer timeout): wait that long, then refuse.
    std::unique_lock lock(mu_);
    active_ended_.wait_for(lock, options_.peer_timeout,
                           [&] { return active_ == nullptr || stopping_.load(); });
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "backup is stopping");
    if (active_) {
      return grpc::Status(grpc::StatusCode::ABORTED,
                          "another primary stream is active on this backup; retry after it ends");
    }
    active_ = &session;
  }
  std::thread writer([&] { WriteLoop(context, session, stream); });
  grpc::Status status = ReadLoop(context, session, stream);
  {
    std::lock_guard lock(session.mu);
    session.done = true;
    session.cv.notify_all();
  }
  writer.join();
  {
    std::lock_guard lock(mu_);
    active_ = nullptr;
    active_ended_.notify_all();
  }
  if (session.peer_dead) {
    status =
        grpc::Status(grpc::StatusCode::UNAVAILABLE,
                     absl::StrCat("primary silent for ", options_.peer_timeout.count(), " ms"));
  }
  if (session.accepted && callbacks_.on_stream_end) {
    callbacks_.on_stream_end(status.ok() ? std::string("the primary ended the stream")
                                         : status.error_message());
  }
  return status;
}

grpc::Status ReplicationServer::ReadLoop(
    grpc::ServerContext* context, Session& session,
    grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream) {
  MessageValidator validator(options_.limits, received_seq_.load());
  proto::PrimaryMessage msg;
  while (stream->Read(&msg)) {
    session.last_heard_ns.store(SteadyNowNs());
    if (absl::Status s = validator.Check(msg); !s.ok()) return ToGrpc(s);
    switch (msg.msg_case()) {
      case proto::PrimaryMessage::kHello: {
        const proto::Hello& hello = msg.hello();
        proto::BackupMessage reply;
        auto* r = reply.mutable_hello_reply();
        r->set_protocol_version(repl::kProtocolVersion);
        r->set_received_seq(received_seq_.load());
        const uint32_t major = repl::ProtocolMajor(hello.protocol_version());
        if (major != repl::kProtocolMajor) {
          r->set_reason(absl::StrCat("protocol major version ", major,
                                     " not supported: this backup speaks ", repl::kProtocolMajor,
                                     ".x; run the same ftd release on both hosts"));
        } else if (!options_.vm_id.empty() && hello.vm_id() != options_.vm_id) {
          r->set_reason(absl::StrCat("this backup protects VM '", options_.vm_id, "', not '",
                                     hello.vm_id(), "'"));
        } else if (std::string why = callbacks_.check_hello ? callbacks_.check_hello(hello) : "";
                   !why.empty()) {
          r->set_reason(why);
        } else {
          r->set_accepted(true);
          session.accepted = true;
        }
        const bool accepted = r->accepted();
        const std::string reason = r->reason();
        {
          std::lock_guard lock(session.mu);
          session.outgoing.push_back(std::move(reply));
          session.hello_received_seq = received_seq_.load();
          session.hello_answered = true;
          session.cv.notify_all();
        }
        // The writer flushes the refusal before the stream ends.
        if (!accepted) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, reason);
        break;
      }
      case proto::PrimaryMessage::kState: {
        const proto::StateChunk& c = msg.state();
        if (callbacks_.on_state) {
          session.in_callback.store(true);
          absl::Status s = callbacks_.on_state(c.offset(), c.data(), c.last(), c.total());
          session.last_heard_ns.store(SteadyNowNs());
          session.in_callback.store(false);
          if (!s.ok()) return ToGrpc(s);
        }
        if (c.last()) {
          // A new log starts at the transferred state. The explicit Ack {0, 0} goes out
          // before any coalesced one: it tells the primary that later Acks count in the
          // new log.
          std::lock_guard lock(session.mu);
          received_seq_.store(0);
          replayed_seq_.store(0);
          proto::BackupMessage reset;
          reset.mutable_ack();
          session.outgoing.push_back(std::move(reset));
          session.cv.notify_all();
        }
        break;
      }
      case proto::PrimaryMessage::kBatch: {
        if (callbacks_.on_entries) {
          session.in_callback.store(true);
          absl::Status s = callbacks_.on_entries(msg.batch().entries());
          session.last_heard_ns.store(SteadyNowNs());
          session.in_callback.store(false);
          if (!s.ok()) return ToGrpc(s);
        }
        received_seq_.store(validator.next_seq() - 1);
        std::lock_guard lock(session.mu);
        session.cv.notify_all();
        break;
      }
      default:  // Heartbeat: hearing it is all it is for.
        break;
    }
  }
  if (context->IsCancelled() && !session.peer_dead) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  }
  return grpc::Status::OK;
}

void ReplicationServer::WriteLoop(
    grpc::ServerContext* context, Session& session,
    grpc::ServerReaderWriter<proto::BackupMessage, proto::PrimaryMessage>* stream) {
  uint64_t sent_received = 0, sent_replayed = 0;
  bool acked_once = false;
  auto next_heartbeat = Clock::now() + options_.heartbeat_interval;
  const int64_t timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.peer_timeout).count();
  // Wake often enough to notice a silent primary promptly.
  const auto tick =
      std::min<Clock::duration>(options_.heartbeat_interval, options_.peer_timeout / 4);
  for (;;) {
    std::vector<proto::BackupMessage> out;
    bool done;
    {
      std::unique_lock lock(session.mu);
      auto have_work = [&] {
        return session.done || !session.outgoing.empty() ||
               (session.hello_answered && (!acked_once || received_seq_.load() != sent_received ||
                                           replayed_seq_.load() != sent_replayed));
      };
      session.cv.wait_until(lock, std::min(next_heartbeat, Clock::now() + tick), have_work);
      while (!session.outgoing.empty()) {
        out.push_back(std::move(session.outgoing.front()));
        session.outgoing.pop_front();
      }
      done = session.done;
      if (session.hello_answered && !acked_once) {
        // The HelloReply told the primary where we are: acks start from there (an Ack of
        // the same seq now would read, after a state transfer, as its reset Ack {0, 0}).
        sent_received = session.hello_received_seq;
        sent_replayed = std::min(replayed_seq_.load(), sent_received);
        acked_once = true;
      }
      if (session.hello_answered && !done) {
        const uint64_t r = received_seq_.load(), p = std::min(replayed_seq_.load(), r);
        if (!acked_once || r != sent_received || p != sent_replayed) {
          proto::BackupMessage ack;
          ack.mutable_ack()->set_received_seq(r);
          ack.mutable_ack()->set_replayed_seq(p);
          out.push_back(std::move(ack));
          sent_received = r;
          sent_replayed = p;
          acked_once = true;
        }
      }
      if (session.hello_answered && !done && Clock::now() >= next_heartbeat) {
        proto::BackupMessage hb;
        hb.mutable_heartbeat()->set_sent_unix_ns(UnixNowNs());
        out.push_back(std::move(hb));
        next_heartbeat = Clock::now() + options_.heartbeat_interval;
      }
    }
    for (const auto& m : out) {
      if (!stream->Write(m)) {
        context->TryCancel();  // the reader then ends too
        return;
      }
    }
    if (done) return;
    // Before the log's first entry the primary is taking its snapshot and sending the state
    // (seconds under nested KVM, where one starved heartbeat gap cost a whole start): ten
    // times the timeout then, as the primary allows us. A killed primary closes the stream.
    const int64_t allowed = received_seq_.load() == 0 ? 10 * timeout_ns : timeout_ns;
    if (!session.in_callback.load() && SteadyNowNs() - session.last_heard_ns.load() > allowed) {
      session.peer_dead.store(true);
      if (callbacks_.on_peer_dead) callbacks_.on_peer_dead();
      context->TryCancel();
      return;
    }
  }
}

}  // namespace ftd::backup
