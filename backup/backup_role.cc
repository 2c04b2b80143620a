#include "backup/backup_role.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "absl/strings/str_cat.h"
#include "proto/replication_protocol.h"
#include "spdlog/spdlog.h"
#include "vmm/block/dirty_map.h"
#include "vmm/sparse_image.h"
#include "zstd.h"

namespace ftd::backup {
namespace {

constexpr uint64_t kMaxStateBytes = 8ull << 30;

// The Replayer owns its source; the stream is the role's (the server feeds it) and outlives it.
class BorrowedSource final : public replay::EntrySource {
 public:
  explicit BorrowedSource(replay::EntrySource* s) : s_(s) {}
  absl::StatusOr<std::optional<proto::LogEntry>> Next() override { return s_->Next(); }

 private:
  replay::EntrySource* s_;
};

// Writes the primary's disk image (replicated mode) to this host's replica.
absl::Status WriteReplica(const std::string& path, const proto::InitialState& st) {
  if (st.disk_size() > kMaxStateBytes)
    return absl::DataLossError("the primary's disk image is larger than a transfer may be");
  std::string raw(st.disk_size(), '\0');
  if (!st.disk_pages().empty()) {
    auto s = vmm::DecodeSparse(st.disk_pages(), st.disk_zstd(),
                               {reinterpret_cast<uint8_t*>(raw.data()), raw.size()});
    if (!s.ok()) return absl::DataLossError(absl::StrCat("the primary's disk image: ", s.message()));
  } else {
    size_t n =
        ZSTD_decompress(raw.data(), raw.size(), st.disk_zstd().data(), st.disk_zstd().size());
    if (ZSTD_isError(n) || n != st.disk_size()) {
      return absl::DataLossError("the primary's disk image does not decompress to its size");
    }
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InvalidArgumentError(absl::StrFormat("--disk %s: %s", path, strerror(errno)));
  for (size_t off = 0; off < raw.size();) {
    ssize_t w = write(fd, raw.data() + off, raw.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      return absl::InternalError(
          absl::StrFormat("writing the replica %s: %s", path, strerror(errno)));
    }
    off += static_cast<size_t>(w);
  }
  int rc = fdatasync(fd);
  close(fd);
  if (rc != 0)
    return absl::InternalError(absl::StrFormat("fdatasync %s: %s", path, strerror(errno)));
  return absl::OkStatus();
}

// The replica is now a full copy of the primary's image: its map continues the primary's
// lineage, with no generation yet (the replay begins the primary's).
void AdoptLineage(const std::string& path, const proto::InitialState& st) {
  vmm::DirtyBlockMap::LineageId id;
  if (st.disk_lineage().size() != id.size()) return;  // the primary keeps no map
  std::memcpy(id.data(), st.disk_lineage().data(), id.size());
  if (auto map = vmm::DirtyBlockMap::Create(path, st.disk_size(), id); !map.ok())
    spdlog::warn("disk map of {}: {}", path, std::string(map.status().message()));
}

void SetNice(pid_t tid, int nice) { setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice); }

}  // namespace

const char* BackupStateName(BackupState s) {
  switch (s) {
    case BackupState::kWaiting:
      return "waiting";
    case BackupState::kReceivingState:
      return "receiving-state";
    case BackupState::kReplaying:
      return "replaying";
    case BackupState::kLive:
      return "live";
    case BackupState::kHalted:
      return "halted";
  }
  return "?";
}

BackupRole::BackupRole(BackupOptions options, std::unique_ptr<failover::Promotion> promotion,
                       std::unique_ptr<vmm::Kvm> kvm, vmm::ConsoleOutput console)
    : options_(std::move(options)),
      promotion_(std::move(promotion)),
      kvm_(std::move(kvm)),
      console_(std::move(console)) {}

BackupRole::~BackupRole() {
  if (announcer_) announcer_->Stop();
  if (monitor_) monitor_->Stop();
  if (server_) server_->Stop();  // no callback runs after this
  announcer_.reset();
  monitor_.reset();
  server_.reset();
  session_.reset();
}

absl::Status BackupRole::Listen() {
  ReplicationCallbacks cb;
  cb.check_hello = [this](const proto::Hello& hello) { return CheckHello(hello); };
  cb.on_state = [this](uint64_t offset, const std::string& data, bool last, uint64_t total) {
    return OnState(offset, data, last, total);
  };
  cb.on_entries =
      [this](const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries) -> absl::Status {
    if (!have_state_.load())
      return absl::FailedPreconditionError("log entries before the initial state");
    stream_.Push(entries);
    return absl::OkStatus();
  };
  cb.on_peer_dead = [this] {
    OnLost(absl::StrFormat("silent for %u ms",
                           static_cast<uint64_t>(options_.server.peer_timeout.count())));
  };
  cb.on_stream_end = [this](const std::string& why) { OnLost(why); };
  auto server = ReplicationServer::Start(options_.server, std::move(cb));
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  monitor_ = std::make_unique<failover::StatusMonitor>(options_.status_path,
                                                       [this](proto::StatusReport& r) { Fill(r); });
  std::fprintf(stderr, "ftd: backup: listening on %s (port %d)\n",
               options_.server.listen_address.c_str(), server_->port());
  return absl::OkStatus();
}

int BackupRole::port() const { return server_ ? server_->port() : 0; }

std::string BackupRole::CheckHello(const proto::Hello& hello) {
  if (have_state_.load()) {
    return absl::StrFormat(
        "this backup already follows a primary (generation %u); restart it to protect a new one",
        promotion_->generation());
  }
  // The primary claims this generation only once we accept it (docs/pair.md "Start"): a
  // primary that a backup refuses has taken nothing at the arbiter.
  std::string why = promotion_->CheckNextPrimary(hello.generation(), hello.node());
  if (why.empty()) {
    std::lock_guard lock(mu_);
    primary_node_ = hello.node();
  }
  return why;
}

absl::Status BackupRole::OnState(uint64_t offset, const std::string& data, bool last,
                                 uint64_t total) {
  std::lock_guard lock(mu_);
  if (have_state_.load()) return absl::FailedPreconditionError("a second state transfer");
  // A new stream's transfer starts over: what a primary that failed mid-transfer sent is
  // not part of it (the server checks the offsets within a stream).
  if (offset == 0) {
    state_bytes_.clear();
    progress_.Start(total);
  }
  if (state_bytes_.size() + data.size() > kMaxStateBytes) {
    return absl::ResourceExhaustedError("the initial state exceeds 8 GiB");
  }
  state_.store(BackupState::kReceivingState);
  state_bytes_ += data;
  progress_.Set(state_bytes_.size());
  if (!last) {
    if (auto line = progress_.LineDue("received")) {
      std::fprintf(stderr, "ftd: backup: initial state %s\n", line->c_str());
    }
    return absl::OkStatus();
  }
  progress_.Finish();
  const int64_t t0 = repl::SteadyNowNs();
  const size_t state_size = state_bytes_.size();
  proto::InitialState st;
  if (!st.ParseFromString(state_bytes_))
    return absl::DataLossError("the initial state does not parse");
  state_bytes_.clear();
  state_bytes_.shrink_to_fit();
  const bool has_disk = st.header().disk_capacity() != 0;
  if (has_disk && options_.disk.empty()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the guest has a %s disk: this backup needs --disk PATH", st.disk_mode()));
  }
  // The primary won the generation it offered in its Hello before it sent this.
  if (std::string why = promotion_->CheckClaimed(st.generation(), primary_node_); !why.empty()) {
    return absl::FailedPreconditionError(why);
  }
  if (has_disk && st.disk_mode() == "replicated") {
    // The old map describes the old replica: it goes before the replica is overwritten.
    if (auto s = vmm::DirtyBlockMap::Discard(options_.disk); !s.ok()) return s;
    if (auto s = WriteReplica(options_.disk, st); !s.ok()) return s;
    AdoptLineage(options_.disk, st);
  }
  spdlog::info("initial state of {} B taken in {:.1f} ms (parse, replica)", state_size,
               static_cast<double>(repl::SteadyNowNs() - t0) / 1e6);
  st.clear_disk_zstd();
  promotion_->set_generation(st.generation());
  initial_ = std::move(st);
  have_state_.store(true);
  cv_.notify_all();
  return absl::OkStatus();
}

void BackupRole::OnLost(const std::string& why) {
  if (!have_state_.load()) {
    // A primary that went before its state was complete: wait for the next one.
    BackupState receiving = BackupState::kReceivingState;
    if (state_.compare_exchange_strong(receiving, BackupState::kWaiting)) {
      std::fprintf(stderr, "ftd: backup: the primary went before its state was complete (%s); "
                           "waiting for a primary\n", why.c_str());
    }
    return;
  }
  if (stream_.ended()) return;
  ended_at_ns_.store(repl::SteadyNowNs());
  stream_.End(why);
  // Nothing to acknowledge any more: the backlog's replay is the failover's critical path.
  if (pid_t tid = replay_tid_.load()) SetNice(tid, 0);
  const uint64_t received = stream_.received();
  std::fprintf(
      stderr, "ftd: backup: the primary's stream ended (%s) at seq %llu; %llu entries to replay\n",
      why.c_str(), static_cast<unsigned long long>(received),
      static_cast<unsigned long long>(received - std::min(replayed_seq_.load(), received)));
}

bool BackupRole::WaitForPrimary() {
  std::unique_lock lock(mu_);
  while (!have_state_.load() && !stop_.load()) cv_.wait_for(lock, std::chrono::milliseconds(100));
  return have_state_.load();
}

absl::Status BackupRole::StartReplay() {
  const proto::InitialState& st = *initial_;
  replay::ReplayOptions ropt;
  ropt.host.disk = options_.disk;
  ropt.host.net = options_.net;
  ropt.host.replay_writes_disk = st.disk_mode() == "replicated";
  ropt.live_after_end = true;
  ropt.restore_at_boot = options_.restore_at_boot;
  ropt.image_name = "the transferred image";
  ropt.log_name = "the primary's log";
  // The primary's console shows the guest's output until go-live.
  vmm::ConsoleOutput out = [this](std::span<const uint8_t> b) {
    if (live_.load()) console_(b);
  };
  const auto* image = reinterpret_cast<const uint8_t*>(st.image().data());
  auto session = replay::ReplaySession::Start(
      std::move(kvm_), st.header(), std::make_unique<BorrowedSource>(&stream_),
      {image, st.image().size()}, st.snapshot(), ropt, std::move(out));
  if (!session.ok()) return session.status();
  session_ = *std::move(session);
  TrackDiskWrites();
  session_ready_.store(true, std::memory_order_release);
  // Each replayed entry is acknowledged as it is replayed (the primary bounds the backlog).
  session_->set_on_replayed([this](uint64_t seq) {
    replayed_seq_.store(seq);
    server_->SetReplayedSeq(seq);
  });
  state_.store(BackupState::kReplaying);
  std::fprintf(stderr, "ftd: backup: replaying generation %llu from exit %llu\n",
               static_cast<unsigned long long>(promotion_->generation()),
               static_cast<unsigned long long>(session_->machine().exit_index()));
  return absl::OkStatus();
}

absl::StatusOr<ReplayEnd> BackupRole::Replay() {
  // The replaying vCPU thread runs at a lower priority than the stream's threads: an ack
  // (which output commit waits for) must not queue behind replay work on a busy host.
  const pid_t tid = gettid();
  SetNice(tid, options_.replay_nice);
  replay_tid_.store(tid);
  if (stream_.ended()) SetNice(tid, 0);
  auto outcome = session_->Run();
  replay_tid_.store(0);
  SetNice(tid, 0);  // live: full priority again
  if (!outcome.ok()) {
    state_.store(BackupState::kHalted);
    return outcome.status();
  }
  if (outcome->kind == vmm::RunOutcome::Kind::kGuestExit) {
    state_.store(BackupState::kHalted);
    exit_status_ = outcome->status;
    std::fprintf(stderr, "ftd: backup: the guest exited with status %u (replayed)\n",
                 outcome->status);
    return ReplayEnd::kGuestExited;
  }
  if (outcome->kind != vmm::RunOutcome::Kind::kLogEnd || stop_.load() || stream_.saw_log_end() ||
      session_->replayer().end()) {
    state_.store(BackupState::kHalted);
    std::fprintf(stderr, "ftd: backup: stopped at exit %llu (%s)\n",
                 static_cast<unsigned long long>(session_->machine().exit_index()),
                 stream_.saw_log_end() ? "the primary ended the log" : "stopped");
    return ReplayEnd::kStopped;
  }
  return ReplayEnd::kPrimaryLost;
}

absl::Status BackupRole::GoLive() {
  const std::string why = stream_.end_reason();
  std::string lost;
  if (!promotion_->TryPromote(&lost)) {
    state_.store(BackupState::kHalted);
    return absl::PermissionDeniedError(absl::StrFormat("%s (primary lost: %s)", lost, why));
  }
  if (auto s = session_->GoLive(); !s.ok()) {
    state_.store(BackupState::kHalted);
    return s;
  }
  // After go-live, off the failover's critical path: the writes until then count for the
  // generation replayed, which a rejoin's delta covers (docs/pair.md).
  TrackDiskWrites();
  live_.store(true);
  state_.store(BackupState::kLive);
  const double fo = static_cast<double>(repl::SteadyNowNs() - ended_at_ns_.load()) / 1e6;
  failover_ms_.store(fo);
  std::fprintf(stderr,
               "ftd: backup: primary lost (%s); live at generation %llu after %.1f ms, at exit "
               "%llu (%llu entries "
               "replayed)\n",
               why.c_str(), static_cast<unsigned long long>(promotion_->generation()), fo,
               static_cast<unsigned long long>(session_->machine().exit_index()),
               static_cast<unsigned long long>(session_->replayer().entries_replayed()));
  monitor_->PublishNow();
  // Tell the network where the guest's MAC lives now (QEMU's announce-self rounds).
  vmm::Machine* m = &session_->machine();
  announcer_ = std::make_unique<failover::Announcer>(
      m->config().mac, [m](const std::vector<uint8_t>& f) { m->SendHostFrame(f); });
  return absl::OkStatus();
}

void BackupRole::TrackDiskWrites() {
  if (options_.disk.empty() || initial_->disk_mode() != "replicated" ||
      initial_->header().disk_capacity() == 0) {
    return;
  }
  if (auto s = session_->machine().BeginDiskGeneration(promotion_->generation()); !s.ok())
    spdlog::warn("disk map of {}: {}", options_.disk, std::string(s.message()));
}

void BackupRole::RequestStop() {
  stop_.store(true);
  stream_.RequestStop();
}

void BackupRole::Close() {
  if (announcer_) announcer_->Stop();
  state_.store(BackupState::kHalted);
  if (monitor_) monitor_->Stop();
}

void BackupRole::Fill(proto::StatusReport& r) {
  r.set_role("backup");
  r.set_state(BackupStateName(state_.load()));
  r.set_generation(promotion_->generation());
  r.set_node(promotion_->node());
  r.set_peer(options_.server.listen_address);
  if (session_ready_.load(std::memory_order_acquire))
    r.set_exit_index(session_->machine().published_exit_index());
  const uint64_t received = server_->received_seq();
  r.set_log_seq(received);
  r.set_acked_seq(received);
  if (state_.load() != BackupState::kWaiting && state_.load() != BackupState::kReceivingState) {
    r.set_replayed_seq(replayed_seq_.load());
    r.set_lag_entries(received - std::min(received, replayed_seq_.load()));
    r.set_lag_ms(stream_.lag_ms());
  }
  r.set_failover_ms(failover_ms_.load());
  progress_.Fill(r);
}

}  // namespace ftd::backup
