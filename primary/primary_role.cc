#include "primary/primary_role.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/replication_protocol.h"
#include "replay/log_file.h"
#include "replication.pb.h"
#include "spdlog/spdlog.h"
#include "vmm/block/dirty_map.h"
#include "vmm/envelope.h"
#include "vmm/sparse_image.h"

namespace ftd::primary {
namespace {

constexpr uint64_t kMaxDiskTransfer = 4ull << 30;
constexpr size_t kStateChunk = 1u << 20;

double MsSinceNs(int64_t t0_ns) { return static_cast<double>(repl::SteadyNowNs() - t0_ns) / 1e6; }

// The disk image's non-zero pages; its holes (most of a new image) are neither read nor sent.
absl::StatusOr<vmm::SparseImage> CompressFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrFormat("cannot open %s: %s", path, strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > kMaxDiskTransfer) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot stat it, or larger than %u bytes", path, kMaxDiskTransfer));
  }
  auto img = vmm::EncodeSparseFile(fd, static_cast<uint64_t>(st.st_size));
  close(fd);
  if (!img.ok()) return absl::Status(img.status().code(), absl::StrCat(path, ": ", img.status().message()));
  return img;
}

}  // namespace

const char* PrimaryStateName(PrimaryState s) {
  switch (s) {
    case PrimaryState::kStarting:
      return "starting";
    case PrimaryState::kTransferring:
      return "transferring";
    case PrimaryState::kProtected:
      return "protected";
    case PrimaryState::kUnprotected:
      return "unprotected";
    case PrimaryState::kHalted:
      return "halted";
  }
  return "?";
}

PrimaryRole::PrimaryRole(PrimaryOptions options, std::unique_ptr<failover::Promotion> promotion)
    : options_(std::move(options)),
      promotion_(std::move(promotion)),
      started_ns_(repl::SteadyNowNs()) {
  gate_ = std::make_unique<OutputCommitGate>(OutputCommitGate::Source{
      [this] {
        auto* s = sink_.load();
        return s ? s->last_seq() : 0;
      },
      [this] {
        auto* c = client_ptr_.load();
        return c ? c->acknowledged_seq() : 0;
      },
      [this](uint64_t seq, std::chrono::milliseconds t) {
        auto* c = client_ptr_.load();
        if (c == nullptr) {
          std::this_thread::sleep_for(t);
          return false;
        }
        return c->WaitForAck(seq, t);
      },
      [this] {
        auto* c = client_ptr_.load();
        return c == nullptr || c->in_contact();
      },
      [this] { return ConfirmGeneration(); },
  });
}

PrimaryRole::~PrimaryRole() {
  {
    std::lock_guard lock(decide_mu_);
    closing_ = true;  // a late peer-dead callback touches nothing from here on
  }
  StopJoinLoop();
  if (monitor_) monitor_->Stop();
  gate_->Halt();  // releases touch the machine's back ends: none runs once it is gone
  monitor_.reset();
  session_.reset();
  gate_.reset();
  retired_sinks_.clear();  // they point at their clients
  join_client_.reset();
  client_.reset();
  retired_clients_.clear();
}

void PrimaryRole::StopJoinLoop() {
  {
    std::lock_guard lock(join_mu_);
    join_stop_ = true;
  }
  join_cv_.notify_all();
  if (joiner_.joinable() && joiner_.get_id() != std::this_thread::get_id()) joiner_.join();
}

void PrimaryRole::JoinLoop() {
  for (;;) {
    {
      std::unique_lock lock(join_mu_);
      join_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return join_stop_; });
      if (join_stop_) return;
    }
    if (state_.load() != PrimaryState::kUnprotected) continue;
    ReplicationClientOptions copt = options_.client;
    copt.generation = promotion_->generation();  // the one this host holds: a join takes none
    copt.node = promotion_->node();
    copt.on_peer_dead = [this](const absl::Status&) { OnBackupLost(); };
    auto client = ReplicationClient::Connect(copt);
    if (!client.ok()) {
      spdlog::debug("join: {}", std::string(client.status().message()));
      continue;
    }
    std::fprintf(stderr,
                 "ftd: primary: a backup at %s accepted generation %llu: it joins at the next "
                 "point\n",
                 options_.client.target.c_str(),
                 static_cast<unsigned long long>(promotion_->generation()));
    std::unique_lock lock(join_mu_);
    join_client_ = *std::move(client);
    session_->machine().RequestStopAtPoint();
    // JoinAtStop takes it at the next point; a machine that never gets there (it ended) does
    // not keep the backup waiting.
    if (!join_cv_.wait_for(lock, std::chrono::seconds(30),
                           [&] { return join_stop_ || join_client_ == nullptr; })) {
      join_client_->Close().IgnoreError();
      join_client_.reset();  // never published: nobody else holds it
    }
    if (join_stop_) return;
  }
}

absl::Status PrimaryRole::Boot(std::unique_ptr<vmm::Kvm> kvm, vmm::LoadedGuest guest,
                               std::vector<uint8_t> image, vmm::ConsoleOutput console) {
  guest.config.output_gate = gate_.get();
  // Only what leaves the protected world waits (docs/pair.md "Which outputs wait"): a
  // replicated disk is this host's own replica; a shared one is seen by the next primary.
  guest.config.gate_disk = options_.disk_mode == "shared";
  replay::RecordOptions ropt;
  ropt.epoch_interval_ns = options_.epoch_interval_ns;
  ropt.disk_path = options_.disk_path;
  ropt.open_sink =
      [this](const proto::LogHeader& header) -> absl::StatusOr<std::unique_ptr<replay::LogSink>> {
    auto sink = std::make_unique<ReplicationSink>(client_.get(), options_.limits);
    sink_.store(sink.get());
    if (options_.log_path.empty()) return std::unique_ptr<replay::LogSink>(std::move(sink));
    // Also keep the log here (ftd replay reads it; the backup does not need it). A log a join
    // started at a later point goes beside it (it needs that point's state to be replayed).
    std::string path = options_.log_path;
    if (header.start_exit_index() != 0) path += ".from-" + std::to_string(header.start_exit_index());
    auto file = replay::LogWriter::Create(path, header);
    if (!file.ok()) return file.status();
    return std::unique_ptr<replay::LogSink>(
        std::make_unique<replay::TeeSink>(std::move(sink), std::move(*file)));
  };
  auto session = replay::RecordSession::Boot(std::move(kvm), std::move(guest), std::move(image),
                                             std::move(console), std::move(ropt));
  if (!session.ok()) return session.status();
  session_ = std::move(*session);
  monitor_ = std::make_unique<failover::StatusMonitor>(options_.status_path,
                                                       [this](proto::StatusReport& r) { Fill(r); });
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ReplicationClient>> PrimaryRole::ConnectToBackup() {
  ReplicationClientOptions copt = options_.client;
  copt.generation = promotion_->generation();
  copt.node = promotion_->node();
  copt.on_peer_dead = [this](const absl::Status&) { OnBackupLost(); };
  const auto deadline = std::chrono::steady_clock::now() + options_.peer_wait;
  for (;;) {
    auto client = ReplicationClient::Connect(copt);
    if (client.ok()) return client;
    // Refused (version, VM, generation) or bad credentials: waiting will not help.
    const absl::StatusCode code = client.status().code();
    if (code == absl::StatusCode::kFailedPrecondition ||
        code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
        (options_.stop_requested && options_.stop_requested()) ||
        std::chrono::steady_clock::now() >= deadline) {
      return client.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

absl::StatusOr<std::string> PrimaryRole::InitialState(bool restart) {
  // The snapshot first: the log starts right after it.
  const int64_t t0 = repl::SteadyNowNs();
  auto snap = machine().Save();
  if (!snap.ok()) return snap.status();
  const double snap_ms = MsSinceNs(t0);
  if (restart) {
    auto old = session_->Restart();
    if (!old.ok()) return old.status();
    retired_sinks_.push_back(*std::move(old));
  } else if (auto s = session_->Start(); !s.ok()) {
    return s;
  }
  proto::InitialState initial;
  *initial.mutable_header() = session_->header();
  *initial.mutable_snapshot() = *std::move(snap);
  initial.set_disk_mode(options_.disk_mode);
  initial.set_generation(promotion_->generation());
  initial.set_image(std::string(session_->image().begin(), session_->image().end()));
  if (options_.disk_mode == "replicated" && !options_.disk_path.empty()) {
    auto z = CompressFile(options_.disk_path);
    if (!z.ok()) return z.status();
    initial.set_disk_zstd(std::move(z->zstd));
    initial.set_disk_pages(std::move(z->bitmap));
    initial.set_disk_size(session_->header().disk_capacity());
    if (const vmm::DirtyBlockMap* map = machine().disk_map()) {
      const auto& id = map->lineage_id();
      initial.set_disk_lineage(std::string(id.begin(), id.end()));
    }
  }
  const double disk_ms = MsSinceNs(t0) - snap_ms;
  std::string bytes = initial.SerializeAsString();
  spdlog::info("initial state: snapshot {:.1f} ms ({} B of memory), disk {:.1f} ms ({} B), "
               "encoding {:.1f} ms",
               snap_ms, initial.snapshot().memory_zstd().size(), disk_ms,
               initial.disk_zstd().size(), MsSinceNs(t0) - snap_ms - disk_ms);
  return bytes;
}

absl::Status PrimaryRole::Protect() {
  state_.store(PrimaryState::kTransferring);
  std::fprintf(stderr,
               "ftd: primary: connecting to the backup at %s (generation %llu, taken at the "
               "arbiter once the backup accepts)\n",
               options_.client.target.c_str(),
               static_cast<unsigned long long>(promotion_->generation()));
  auto connected = ConnectToBackup();
  if (!connected.ok()) return connected.status();
  // Accepted: now, and not before, this primary takes its generation (a refused or failed
  // start takes none). The backup takes the state only once the arbiter shows it ours.
  if (auto s = promotion_->ClaimNewPrimary(); !s.ok()) {
    (*connected)->Close().IgnoreError();
    if (s.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::PermissionDeniedError(s.message());
    }
    return s;
  }
  client_ = *std::move(connected);
  client_ptr_.store(client_.get());
  spdlog::info("connected to the backup at generation {}; sending the initial state",
               promotion_->generation());
  TrackDiskWrites();

  const int64_t t0 = repl::SteadyNowNs();
  auto bytes = InitialState(/*restart=*/false);
  if (!bytes.ok()) return bytes.status();
  if (auto s = Transfer(*bytes, t0, "the initial state"); !s.ok()) return s;
  pause_ms_.store(MsSinceNs(t0));
  return AfterTransfer(*bytes, t0, "protected");
}

absl::Status PrimaryRole::Transfer(const std::string& bytes, int64_t t0, const char* what) {
  spdlog::info("{}: {} bytes (snapshot taken in {:.0f} ms)", what, bytes.size(), MsSinceNs(t0));
  progress_.Start(bytes.size());
  for (size_t off = 0; off == 0 || off < bytes.size(); off += kStateChunk) {
    const bool last = off + kStateChunk >= bytes.size();
    if (auto s = client_->EnqueueStateChunk(off, bytes.substr(off, kStateChunk), last,
                                            bytes.size());
        !s.ok())
      return s;
  }
  return WaitForStateTaken();
}

absl::Status PrimaryRole::AfterTransfer(const std::string& bytes, int64_t t0, const char* how) {
  // The backup's replica is a full copy of this image as of this generation: a later rejoin
  // needs nothing older.
  if (vmm::DirtyBlockMap* map = machine().disk_map()) {
    if (auto s = map->Prune(promotion_->generation()); !s.ok())
      spdlog::warn("disk map: {}", std::string(s.message()));
  }
  state_.store(PrimaryState::kProtected);
  std::fprintf(stderr,
               "ftd: primary: %s at generation %llu: the backup holds the state at exit %llu "
               "(%.1f MB in %.0f ms)\n",
               how, static_cast<unsigned long long>(promotion_->generation()),
               static_cast<unsigned long long>(machine().exit_index()), bytes.size() / 1e6,
               MsSinceNs(t0));
  monitor_->PublishNow();
  // A backup that died during the transfer's last moments found us not yet protected.
  if (client_->peer_dead()) OnBackupLost();
  return absl::OkStatus();
}

bool PrimaryRole::JoinAtStop() {
  std::unique_ptr<ReplicationClient> joining;
  {
    std::lock_guard lock(join_mu_);
    joining = std::move(join_client_);
  }
  join_cv_.notify_all();  // taken: the loop goes back to watching the state
  if (joining == nullptr) return false;
  const int64_t t0 = repl::SteadyNowNs();
  if (!gate_->Reprotect(std::chrono::seconds(1))) {
    spdlog::warn("join: outputs still leaving or the gate halted; trying again later");
    joining->Close().IgnoreError();
    return true;
  }
  // From here outputs wait for the new backup's acks; a failure decides like a loss.
  {
    std::lock_guard lock(decide_mu_);
    decided_ = false;
    joining_now_ = true;
  }
  state_.store(PrimaryState::kTransferring);
  retired_clients_.push_back(std::move(client_));
  client_ = std::move(joining);
  client_ptr_.store(client_.get());
  absl::Status st;
  auto bytes = InitialState(/*restart=*/true);
  if (!bytes.ok()) {
    st = bytes.status();
  } else {
    st = Transfer(*bytes, t0, "join");
  }
  {
    std::lock_guard lock(decide_mu_);
    joining_now_ = false;
  }
  if (st.ok()) {
    join_pause_ms_.store(MsSinceNs(t0));
    st = AfterTransfer(*bytes, t0, "protected again (a backup joined)");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "ftd: primary: the join failed: %s\n", std::string(st.message()).c_str());
    // Outputs are held for a backup that may hold the state: decide as for a lost backup.
    {
      std::lock_guard lock(decide_mu_);
      if (!decided_) state_.store(PrimaryState::kProtected);
    }
    OnBackupLost();
  }
  return true;
}

absl::Status PrimaryRole::WaitForStateTaken() {
  // However long a big disk takes over a slow link, but not 2 minutes without a byte moving.
  constexpr auto kStall = std::chrono::seconds(120);
  auto last_move = std::chrono::steady_clock::now();
  uint64_t last_sent = 0;
  while (!client_->WaitForStateAck(std::chrono::seconds(1))) {
    if (client_->peer_dead()) break;
    const uint64_t sent = client_->state_bytes_sent();
    progress_.Set(sent);
    if (sent != last_sent) {
      last_sent = sent;
      last_move = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_move >= kStall) {
      break;
    }
    if (auto line = progress_.LineDue(sent < progress_.total() ? "sent" : "sent, the backup is "
                                                                            "writing its replica")) {
      std::fprintf(stderr, "ftd: primary: initial state %s\n", line->c_str());
    }
  }
  if (!client_->WaitForStateAck(std::chrono::milliseconds(0))) {
    return absl::UnavailableError(absl::StrFormat("the backup did not take the initial state: %s",
                                                  client_->status().ok()
                                                      ? std::string("no progress for 120 s")
                                                      : std::string(client_->status().message())));
  }
  progress_.Set(client_->state_bytes_sent());
  progress_.Finish();
  return absl::OkStatus();
}

void PrimaryRole::OnBackupLost() {
  std::lock_guard lock(decide_mu_);
  if (closing_ || decided_ || (state_.load() != PrimaryState::kProtected && !joining_now_))
    return;
  decided_ = true;
  ReplicationClient* c = client_ptr_.load();
  ReplicationSink* sink = sink_.load();
  const std::string why(c->status().message());
  std::fprintf(stderr,
               "ftd: primary: the backup is lost (%s) at log seq %llu, acknowledged %llu; %llu "
               "output(s) held\n",
               why.c_str(), static_cast<unsigned long long>(sink ? sink->last_seq() : 0),
               static_cast<unsigned long long>(c->acknowledged_seq()),
               static_cast<unsigned long long>(gate_->held_count()));
  std::string lost;
  if (!promotion_->TryPromote(&lost)) {
    HaltLocked(absl::StrFormat("%s (backup lost: %s)", lost, why));
    return;
  }
  if (sink != nullptr) sink->Unprotect();
  gate_->Unprotect();
  TrackDiskWrites();
  state_.store(PrimaryState::kUnprotected);
  std::fprintf(stderr,
               "ftd: primary: backup lost (%s); continuing unprotected at generation %llu\n",
               why.c_str(), static_cast<unsigned long long>(promotion_->generation()));
  if (monitor_) monitor_->PublishNow();
  // A new backup may join at any point from now on (the peer's address, once a second).
  if (!joiner_.joinable()) joiner_ = std::thread([this] { JoinLoop(); });
}

void PrimaryRole::TrackDiskWrites() {
  if (options_.disk_mode != "replicated" || options_.disk_path.empty()) return;
  if (auto s = machine().BeginDiskGeneration(promotion_->generation()); !s.ok())
    spdlog::warn("disk map of {}: {}", options_.disk_path, std::string(s.message()));
}

void PrimaryRole::HaltLocked(const std::string& why) {
  decided_ = true;
  state_.store(PrimaryState::kHalted);
  const size_t dropped = gate_->Halt();
  session_->machine().RequestStop();
  std::fprintf(stderr, "ftd: halted: %s; %zu held output(s) dropped\n", why.c_str(), dropped);
}

bool PrimaryRole::ConfirmGeneration() {
  ReplicationClient* c = client_ptr_.load();
  // Dead: failover decides (OnBackupLost). Only quiet for too long: the client declares it
  // dead or hears from it again; confirming now would not tell whether it is taking over.
  if (c == nullptr || c->peer_dead() || !c->silence_noticed()) return false;
  auto holds = promotion_->StillHolds();
  if (!holds.ok()) {
    spdlog::warn("cannot confirm generation {} at the arbiter: {}; outputs stay held",
                 promotion_->generation(), std::string(holds.status().message()));
    return false;
  }
  std::lock_guard lock(decide_mu_);
  if (closing_ || decided_ || state_.load() != PrimaryState::kProtected) return false;
  if (!*holds) {
    HaltLocked(absl::StrFormat(
        "silent for longer than the peer timeout, and generation %llu is no longer the "
        "arbiter's newest (the backup took over)",
        static_cast<unsigned long long>(promotion_->generation())));
    return false;
  }
  c->ClearSilence();
  std::fprintf(stderr,
               "ftd: primary: out of contact with the backup for longer than the peer timeout; "
               "confirmed generation %llu at the arbiter, releasing outputs again\n",
               static_cast<unsigned long long>(promotion_->generation()));
  return true;
}

absl::Status PrimaryRole::Finish(const vmm::RunOutcome& outcome) {
  if (fenced()) return absl::OkStatus();
  if (auto s = session_->Finish(outcome); !s.ok()) return s;
  // The backup holds the whole log: every held output may leave.
  ReplicationSink* sink = sink_.load();
  if (sink != nullptr && !sink->unprotected() &&
      !client_->WaitForAck(sink->last_seq(), std::chrono::seconds(10))) {
    if (!client_->peer_dead())
      return absl::DeadlineExceededError("the backup did not acknowledge the end of the log");
    OnBackupLost();
    if (fenced()) return absl::OkStatus();
  }
  gate_->WaitUntilDrained(std::chrono::seconds(5));
  return absl::OkStatus();
}

void PrimaryRole::Close() {
  if (monitor_) monitor_->Stop();
  if (client_ && !client_->peer_dead() && !fenced()) client_->Close().IgnoreError();
}

void PrimaryRole::Fill(proto::StatusReport& r) {
  r.set_role("primary");
  r.set_state(PrimaryStateName(state_.load()));
  // A tentative generation (not yet won) is not this host's: 0 until then.
  r.set_generation(promotion_->claimed() ? promotion_->generation() : 0);
  r.set_node(promotion_->node());
  r.set_peer(options_.client.target);
  r.set_exit_index(session_->machine().published_exit_index());
  ReplicationClient* c = client_ptr_.load();
  ReplicationSink* s = sink_.load();
  if (s != nullptr) {
    r.set_log_seq(s->last_seq());
    r.set_log_bytes(s->bytes_total());
    r.set_unacked_bytes(s->unacked_bytes());
    const double secs = MsSinceNs(started_ns_) / 1000;
    if (secs > 0) r.set_log_bandwidth_bps(static_cast<double>(s->bytes_total()) / secs);
  }
  if (c != nullptr && s != nullptr && !s->unprotected()) {
    r.set_acked_seq(c->acknowledged_seq());
    r.set_replayed_seq(c->replayed_seq());
    r.set_lag_entries(s->last_seq() - std::min(s->last_seq(), c->replayed_seq()));
  }
  r.set_held_outputs(gate_->held_count());
  r.set_held_bytes(gate_->held_bytes());
  r.set_first_transfer_pause_ms(pause_ms_.load());
  progress_.Fill(r);
}

}  // namespace ftd::primary
