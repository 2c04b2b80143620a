// The replication transport end to end on 127.0.0.1 (docs/replication.md): mutual TLS with
// certificates made by deploy/make-certs.sh at test time, the Hello version rule, ordered
// delivery and acks, refusal of malformed streams, and dead-peer detection. Every wait is
// bounded.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backup/message_validator.h"
#include "backup/replication_server.h"
#include "primary/replication_client.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

fs::path g_certs;  // good/ (primary, backup) and other/ (primary from another CA)

void MakeCerts(const fs::path& dir, const std::string& hosts) {
  const std::string cmd =
      std::string("bash ") + FTD_MAKE_CERTS + " " + dir.string() + " " + hosts + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

class ReplicationTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ftd-repl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    g_certs = tmpl;
    MakeCerts(g_certs / "good", "primary backup");
    MakeCerts(g_certs / "other", "primary");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(g_certs, ec);
  }

  static repl::TlsFiles Files(const std::string& set, const std::string& host) {
    return {(g_certs / set / "ca.crt").string(), (g_certs / set / (host + ".crt")).string(),
            (g_certs / set / (host + ".key")).string()};
  }

  void StartServer(backup::ReplicationServerOptions o = {}) {
    o.tls = Files("good", "backup");
    backup::ReplicationCallbacks cb;
    cb.on_entries = [this](const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries) {
      std::lock_guard lock(mu_);
      for (const auto& e : entries) delivered_.push_back(e.seq());
      ++batches_;
      return absl::OkStatus();
    };
    cb.on_peer_dead = [this] { server_saw_dead_.store(true); };
    auto s = backup::ReplicationServer::Start(std::move(o), std::move(cb));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_GT(server_->port(), 0);
  }

  std::string Target() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  primary::ReplicationClientOptions ClientOptions(const std::string& set = "good") const {
    primary::ReplicationClientOptions o;
    o.target = Target();
    o.tls = Files(set, "primary");
    o.vm_id = "vm1";
    o.connect_timeout = 3s;
    return o;
  }

  std::vector<uint64_t> Delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

  std::unique_ptr<backup::ReplicationServer> server_;
  std::mutex mu_;
  std::vector<uint64_t> delivered_;
  int batches_ = 0;
  std::atomic<bool> server_saw_dead_{false};
};

proto::LogEntry Entry(uint64_t seq) {
  proto::LogEntry e;
  e.set_seq(seq);
  e.set_exit_index(seq * 3);
  e.mutable_clock()->set_monotonic_ns(seq * 1000);
  return e;
}

proto::PrimaryMessage HelloMsg(uint32_t version = repl::kProtocolVersion) {
  proto::PrimaryMessage m;
  m.mutable_hello()->set_protocol_version(version);
  m.mutable_hello()->set_vm_id("vm1");
  m.mutable_hello()->set_generation(1);
  return m;
}

proto::PrimaryMessage Batch(uint64_t first, int n) {
  proto::PrimaryMessage m;
  m.mutable_batch()->set_first_seq(first);
  for (int i = 0; i < n; ++i) *m.mutable_batch()->add_entries() = Entry(first + i);
  return m;
}

// A stream driven by hand, to send what a correct client never would.
struct RawStream {
  RawStream(const std::string& target, std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    stub = proto::Replication::NewStub(grpc::CreateCustomChannel(target, creds, args));
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    stream = stub->Stream(&ctx);
  }
  // Reads until the stream ends (bounded by the deadline), then returns the status.
  grpc::Status Drain() {
    stream->WritesDone();
    proto::BackupMessage m;
    while (stream->Read(&m)) replies.push_back(m);
    return stream->Finish();
  }
  std::unique_ptr<proto::Replication::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<proto::PrimaryMessage, proto::BackupMessage>> stream;
  std::vector<proto::BackupMessage> replies;
};

std::shared_ptr<grpc::ChannelCredentials> GoodCreds(const repl::TlsFiles& f) {
  auto m = repl::LoadTlsMaterial(f);
  EXPECT_TRUE(m.ok()) << m.status();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = m->ca_cert;
  o.pem_private_key = m->key;
  o.pem_cert_chain = m->cert;
  return grpc::SslCredentials(o);
}

// (a)
TEST_F(ReplicationTest, ValidClientDeliversThousandEntriesInOrderAndAcked) {
  StartServer();
  auto o = ClientOptions();
  o.max_batch_entries = 64;
  auto client = primary::ReplicationClient::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->hello_reply().accepted());
  EXPECT_EQ((*client)->next_seq(), 1u);
  for (uint64_t seq = 1; seq <= 1000; ++seq) {
    ASSERT_TRUE((*client)->Enqueue(Entry(seq)).ok());
    if (seq % 250 == 0) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE((*client)->WaitForAck(1000, 10s)) << (*client)->status();
  EXPECT_EQ((*client)->acknowledged_seq(), 1000u);
  std::vector<uint64_t> want(1000);
  for (size_t i = 0; i < want.size(); ++i) want[i] = i + 1;
  EXPECT_EQ(Delivered(), want);
  EXPECT_GE(batches_, 1000 / 64);
  EXPECT_EQ(server_->received_seq(), 1000u);
  server_->SetReplayedSeq(600);
  for (auto end = Clock::now() + 3s; (*client)->replayed_seq() < 600 && Clock::now() < end;) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ((*client)->replayed_seq(), 600u);
  // Out-of-order enqueue is refused locally.
  EXPECT_FALSE((*client)->Enqueue(Entry(1005)).ok());
  EXPECT_TRUE((*client)->Close().ok());
  EXPECT_FALSE((*client)->peer_dead());
}

std::shared_ptr<grpc::ChannelCredentials> CredsFromFiles(const repl::TlsFiles& f) {
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = read(f.ca_cert);
  o.pem_private_key = read(f.key);
  o.pem_cert_chain = read(f.cert);
  return grpc::SslCredentials(o);
}

// (b)
TEST_F(ReplicationTest, ClientWithCertFromAnotherCaIsRefused) {
  StartServer();
  // Trusts the backup's CA but presents a certificate the backup's CA did not sign (built
  // by hand: LoadTlsMaterial would refuse this mix before connecting).
  auto f = Files("other", "primary");
  f.ca_cert = Files("good", "primary").ca_cert;
  RawStream raw(Target(), CredsFromFiles(f));
  raw.stream->Write(HelloMsg());
  grpc::Status st = raw.Drain();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(raw.replies.empty());
  // A primary set up wholly from another CA refuses the backup, and is refused.
  auto client = primary::ReplicationClient::Connect(ClientOptions("other"));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable) << client.status();
  EXPECT_EQ(server_->streams_started(), 0u);
  EXPECT_TRUE(Delivered().empty());
}

// (b') the client's own check refuses material that does not belong together.
TEST_F(ReplicationTest, MismatchedTlsFilesAreRefusedBeforeConnecting) {
  StartServer();
  auto f = Files("good", "primary");
  f.key = Files("good", "backup").key;
  auto m = repl::LoadTlsMaterial(f);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("is not the key of"), std::string::npos) << m.status();
  auto g = Files("other", "primary");
  g.ca_cert = Files("good", "primary").ca_cert;
  EXPECT_FALSE(repl::LoadTlsMaterial(g).ok());
}

// (c)
TEST_F(ReplicationTest, ClientWithoutCertIsRefused) {
  StartServer();
  auto m = repl::LoadTlsMaterial(Files("good", "primary"));
  ASSERT_TRUE(m.ok());
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = m->ca_cert;  // verifies the server, presents nothing
  RawStream raw(Target(), grpc::SslCredentials(o));
  raw.stream->Write(HelloMsg());
  grpc::Status st = raw.Drain();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(raw.replies.empty());
  EXPECT_EQ(server_->streams_started(), 0u);
}

// (d)
TEST_F(ReplicationTest, WrongMajorVersionGetsRefusalWithReason) {
  StartServer();
  {
    RawStream raw(Target(), GoodCreds(Files("good", "primary")));
    ASSERT_TRUE(
        raw.stream->Write(HelloMsg(repl::MakeProtocolVersion(repl::kProtocolMajor + 1, 0))));
    proto::BackupMessage reply;
    ASSERT_TRUE(raw.stream->Read(&reply));
    ASSERT_TRUE(reply.has_hello_reply());
    EXPECT_FALSE(reply.hello_reply().accepted());
    EXPECT_NE(reply.hello_reply().reason().find(
                  "major version " + std::to_string(repl::kProtocolMajor + 1)),
              std::string::npos)
        << reply.hello_reply().reason();
    EXPECT_EQ(reply.hello_reply().protocol_version(), repl::kProtocolVersion);
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  auto o = ClientOptions();
  o.protocol_version = repl::MakeProtocolVersion(repl::kProtocolMajor + 1, 0);
  auto client = primary::ReplicationClient::Connect(o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(client.status().message().find("major version"), std::string::npos) << client.status();
  // Another minor of our major is accepted.
  o.protocol_version = repl::MakeProtocolVersion(repl::kProtocolMajor, repl::kProtocolMinor + 7);
  auto ok = primary::ReplicationClient::Connect(o);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE((*ok)->Close().ok());
}

// (e)
TEST_F(ReplicationTest, MalformedStreamsEndWithErrorAndServerKeepsServing) {
  backup::ReplicationServerOptions so;
  so.limits.max_batch_entries = 100;
  StartServer(so);
  auto creds = GoodCreds(Files("good", "primary"));
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(Batch(1, 3));
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    raw.stream->Write(Batch(1, 5));
    raw.stream->Write(Batch(9, 5));  // gap: 6..8 missing
    grpc::Status st = raw.Drain();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("expected 6"), std::string::npos) << st.error_message();
  }
  EXPECT_EQ(Delivered().size(), 5u);  // the good batch before the gap was delivered
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    raw.stream->Write(Batch(6, 101));  // over the backup's limit
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    auto b = Batch(6, 2);
    b.mutable_batch()->mutable_entries(1)->set_seq(42);  // seq inside the batch not contiguous
    raw.stream->Write(b);
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    raw.stream->Write(proto::PrimaryMessage());  // empty oneof
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    raw.stream->Write(HelloMsg());
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    RawStream raw(Target(), creds);
    raw.stream->Write(HelloMsg());
    proto::PrimaryMessage big;
    big.mutable_state()->set_data(std::string(25 << 20, 'x'));  // above gRPC's message limit
    raw.stream->Write(big);
    EXPECT_EQ(raw.Drain().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_EQ(Delivered().size(), 5u);
  // The next, well-behaved client resumes after what the backup holds.
  auto client = primary::ReplicationClient::Connect(ClientOptions());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ((*client)->next_seq(), 6u);
  for (uint64_t seq = 6; seq <= 20; ++seq)
    ASSERT_TRUE((*client)->Enqueue(Entry(seq)).ok()) << (*client)->status();
  EXPECT_TRUE((*client)->WaitForAck(20, 5s)) << (*client)->status();
  EXPECT_TRUE((*client)->Close().ok());
  auto d = Delivered();
  ASSERT_EQ(d.size(), 20u);
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i], i + 1);
}

// (f)
TEST_F(ReplicationTest, ClientReportsPeerDeadWithinTimeoutAfterServerStops) {
  StartServer();
  auto o = ClientOptions();
  o.peer_timeout = 1s;
  std::atomic<bool> callback{false};
  o.on_peer_dead = [&](const absl::Status&) { callback.store(true); };
  auto client = primary::ReplicationClient::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Enqueue(Entry(1)).ok());
  ASSERT_TRUE((*client)->WaitForAck(1, 3s));
  const auto t0 = Clock::now();
  server_->Stop();
  while (!(*client)->peer_dead() && Clock::now() - t0 < 3s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE((*client)->peer_dead());
  EXPECT_LT(Clock::now() - t0, 1500ms);
  EXPECT_TRUE(callback.load());
  EXPECT_FALSE((*client)->status().ok());
  EXPECT_FALSE((*client)->Enqueue(Entry(2)).ok());
  EXPECT_FALSE((*client)->WaitForAck(2, 10ms));
  EXPECT_FALSE((*client)->Close().ok());
}

// (f') a backup that keeps the connection but goes silent is dead after the timeout (once the
// log has started: before its first entry the primary is still taking its snapshot, and the
// allowance is ten times the timeout).
TEST_F(ReplicationTest, ClientReportsSilentBackupDeadAfterTimeout) {
  backup::ReplicationServerOptions so;
  so.heartbeat_interval = std::chrono::hours(1);
  so.peer_timeout = std::chrono::seconds(60);
  StartServer(so);
  auto o = ClientOptions();
  o.peer_timeout = 500ms;
  auto client = primary::ReplicationClient::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(700ms);  // silent past the timeout, but before the log: alive
  EXPECT_FALSE((*client)->peer_dead()) << (*client)->status();
  ASSERT_TRUE((*client)->Enqueue(Entry(1)).ok());  // the log starts: the timeout applies
  while (!(*client)->peer_dead() && Clock::now() - t0 < 3s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE((*client)->peer_dead());
  EXPECT_GE(Clock::now() - t0, 700ms);
  EXPECT_LT(Clock::now() - t0, 1500ms);
  EXPECT_NE((*client)->status().message().find("silent"), std::string::npos) << (*client)->status();
}

// The backup's side of the same rule: a primary that says Hello and then nothing.
TEST_F(ReplicationTest, ServerDropsSilentPrimaryAfterTimeout) {
  backup::ReplicationServerOptions so;
  so.peer_timeout = 300ms;
  StartServer(so);
  RawStream raw(Target(), GoodCreds(Files("good", "primary")));
  ASSERT_TRUE(raw.stream->Write(HelloMsg()));
  // Silent before the log starts: ten times the timeout (the primary takes its snapshot).
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(raw.stream->Write(Batch(1, 1)));  // then the log starts, and the primary falls silent
  const auto t0 = Clock::now();
  proto::BackupMessage m;
  while (raw.stream->Read(&m)) {
  }
  grpc::Status st = raw.stream->Finish();
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_LT(Clock::now() - t0, 2s);
  // The backup cancels the stream: the primary sees CANCELLED, the backup's callback fires.
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED) << st.error_message();
  EXPECT_TRUE(server_saw_dead_.load());
}

// A second backup on the address of a running one must fail to listen, not share the port
// (gRPC's default SO_REUSEPORT would let the kernel spread new primaries between the two).
TEST_F(ReplicationTest, SecondServerOnTheSamePortCannotListen) {
  StartServer();
  backup::ReplicationServerOptions o;
  o.listen_address = Target();
  o.tls = Files("good", "backup");
  auto second = backup::ReplicationServer::Start(std::move(o), {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos) << second.status();
  // The first one still serves.
  auto client = primary::ReplicationClient::Connect(ClientOptions());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Close().ok());
}

TEST_F(ReplicationTest, InsecureModeNeedsNoCertificates) {
  backup::ReplicationServerOptions so;
  so.insecure = true;
  backup::ReplicationCallbacks cb;
  auto s = backup::ReplicationServer::Start(so, cb);
  ASSERT_TRUE(s.ok()) << s.status();
  primary::ReplicationClientOptions o;
  o.target = "127.0.0.1:" + std::to_string((*s)->port());
  o.insecure = true;
  o.vm_id = "vm1";
  auto client = primary::ReplicationClient::Connect(o);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Enqueue(Entry(1)).ok());
  EXPECT_TRUE((*client)->WaitForAck(1, 3s));
  EXPECT_TRUE((*client)->Close().ok());
}

// Re-protection: a state transfer on a backup that held an older log restarts the log at 1.
TEST_F(ReplicationTest, StateTransferRestartsTheLog) {
  StartServer();
  {
    auto client = primary::ReplicationClient::Connect(ClientOptions());
    ASSERT_TRUE(client.ok()) << client.status();
    for (uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE((*client)->Enqueue(Entry(seq)).ok());
    ASSERT_TRUE((*client)->WaitForAck(5, 3s));
    ASSERT_TRUE((*client)->Close().ok());
  }
  auto client = primary::ReplicationClient::Connect(ClientOptions());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->next_seq(), 6u);
  ASSERT_TRUE((*client)->EnqueueStateChunk(0, std::string(1000, 's'), false).ok());
  ASSERT_TRUE((*client)->EnqueueStateChunk(1000, std::string(24, 's'), true).ok());
  EXPECT_EQ((*client)->next_seq(), 1u);
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE((*client)->Enqueue(Entry(seq)).ok());
  EXPECT_TRUE((*client)->WaitForAck(3, 3s)) << (*client)->status();
  EXPECT_FALSE((*client)->EnqueueStateChunk(0, "x", true).ok());  // no state after log
  EXPECT_TRUE((*client)->Close().ok());
  EXPECT_EQ(server_->received_seq(), 3u);
  EXPECT_EQ(Delivered(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 1, 2, 3}));
}

TEST(MessageValidatorTest, StateTransferThenLogFromSeqOne) {
  backup::MessageValidator v(repl::Limits{}, 41);
  ASSERT_TRUE(v.Check(HelloMsg()).ok());
  proto::PrimaryMessage c;
  c.mutable_state()->set_offset(0);
  c.mutable_state()->set_data("abcd");
  ASSERT_TRUE(v.Check(c).ok());
  EXPECT_EQ(v.Check(Batch(42, 1)).code(), absl::StatusCode::kFailedPrecondition);  // mid-transfer
  c.mutable_state()->set_offset(2);
  EXPECT_EQ(v.Check(c).code(), absl::StatusCode::kInvalidArgument);  // offset must be 4
  c.mutable_state()->set_offset(4);
  c.mutable_state()->set_last(true);
  ASSERT_TRUE(v.Check(c).ok());
  EXPECT_EQ(v.next_seq(), 1u);
  ASSERT_TRUE(v.Check(Batch(1, 3)).ok());
  EXPECT_EQ(v.Check(c).code(), absl::StatusCode::kFailedPrecondition);  // state after log
  auto back = Batch(4, 1);
  back.mutable_batch()->mutable_entries(0)->set_exit_index(1);  // exit index went backwards
  EXPECT_EQ(v.Check(back).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ftd
