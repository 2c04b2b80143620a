// `ftd --role primary`: boot the guest, hand its initial state to the backup, then run it
// recording every input into the replication stream, with output commit.
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "cli/drive.h"
#include "cli/pair_common.h"
#include "cli/pair_command.h"
#include "primary/output_commit_gate.h"
#include "primary/replication_client.h"
#include "primary/replication_sink.h"
#include "replay/recorder.h"
#include "replication.pb.h"
#include "spdlog/spdlog.h"
#include "vmm/envelope.h"
#include "zstd.h"

namespace ftd::cli {
namespace {

constexpr uint64_t kMaxDiskTransfer = 4ull << 30;
constexpr size_t kStateChunk = 1u << 20;

// Connects to the backup, retrying while it is not there yet (it may start after us).
absl::StatusOr<std::unique_ptr<primary::ReplicationClient>> ConnectToBackup(
    const primary::ReplicationClientOptions& options, uint64_t wait_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  for (;;) {
    auto client = primary::ReplicationClient::Connect(options);
    if (client.ok()) return client;
    // Refused (version, VM, generation) or bad credentials: waiting will not help.
    if (client.status().code() == absl::StatusCode::kFailedPrecondition ||
        client.status().code() == absl::StatusCode::kInvalidArgument ||
        client.status().code() == absl::StatusCode::kNotFound || TerminationRequested() ||
        std::chrono::steady_clock::now() >= deadline) {
      return client.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

absl::StatusOr<std::string> CompressFile(const std::string& path) {
  auto bytes = vmm::ReadWholeFile(path, kMaxDiskTransfer);
  if (!bytes.ok()) return bytes.status();
  std::string z(ZSTD_compressBound(bytes->size()), '\0');
  size_t n = ZSTD_compress(z.data(), z.size(), bytes->data(), bytes->size(), 1);
  if (ZSTD_isError(n)) return absl::InternalError(ZSTD_getErrorName(n));
  z.resize(n);
  return z;
}

}  // namespace

int PrimaryCommand(const RunOptions& run, const PairOptions& pair) {
  if (auto s = CheckPairOptions(pair); !s.ok()) return Fail(kExitUsage, s);
  if (pair.peer.empty()) return Fail(kExitUsage, absl::InvalidArgumentError("--role primary needs --peer HOST[:PORT]"));
  if (pair.disk_mode == "shared" && run.disk.empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--disk-mode shared needs --disk PATH (the shared image)"));
  }
  auto max_bytes = ParseSize(pair.max_unacked_bytes);
  if (!max_bytes || *max_bytes == 0 || pair.max_unacked_entries == 0) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--max-unacked-entries/--max-unacked-bytes must be positive"));
  }
  const std::string node = NodeName(pair);
  auto arbiter = OpenArbiter(pair);
  if (!arbiter.ok()) return Fail(kExitUsage, arbiter.status());
  std::atomic<uint64_t> generation{1};
  if (*arbiter) {
    auto gen = (*arbiter)->ClaimForNewPrimary(node);
    if (!gen.ok()) {
      std::fprintf(stderr, "ftd: halted: %s\n", std::string(gen.status().message()).c_str());
      return kExitFenced;
    }
    generation = *gen;
  }

  // Status, shared with the monitor thread.
  std::atomic<const char*> state{"starting"};
  std::atomic<double> pause_ms{0};
  std::atomic<bool> fenced{false};
  std::atomic<uint64_t> exit_index{0};

  std::atomic<primary::ReplicationClient*> client_ptr{nullptr};
  std::atomic<primary::ReplicationSink*> sink_ptr{nullptr};
  primary::OutputCommitGate gate({
      [&] { auto* s = sink_ptr.load(); return s ? s->last_seq() : 0; },
      [&] { auto* c = client_ptr.load(); return c ? c->acknowledged_seq() : 0; },
      [&](uint64_t seq, std::chrono::milliseconds t) {
        auto* c = client_ptr.load();
        if (c == nullptr) {
          std::this_thread::sleep_for(t);
          return false;
        }
        return c->WaitForAck(seq, t);
      },
  });

  primary::ReplicationClientOptions copt;
  copt.target = WithDefaultPort(pair.peer);
  copt.tls = TlsFilesOf(pair);
  copt.insecure = pair.insecure;
  copt.vm_id = pair.vm_id;
  copt.generation = generation;
  copt.heartbeat_interval = std::chrono::milliseconds(pair.heartbeat_ms);
  copt.peer_timeout = std::chrono::milliseconds(pair.peer_timeout_ms);
  std::unique_ptr<primary::ReplicationClient> client;

  const primary::SinkLimits limits{pair.max_unacked_entries, *max_bytes, pair.max_lag_entries};
  auto recorder = replay::Recorder::Create(
      [&](const proto::LogHeader& header) -> absl::StatusOr<std::unique_ptr<replay::LogSink>> {
        auto sink = std::make_unique<primary::ReplicationSink>(client.get(), limits);
        sink_ptr.store(sink.get());
        if (run.log.empty()) return std::unique_ptr<replay::LogSink>(std::move(sink));
        // --log: also keep the log here (ftd replay reads it; the backup does not need it).
        auto file = replay::LogWriter::Create(run.log, header);
        if (!file.ok()) return file.status();
        return std::unique_ptr<replay::LogSink>(
            std::make_unique<replay::TeeSink>(std::move(sink), std::move(*file)));
      },
      run.epoch_ms * 1'000'000);
  if (!recorder.ok()) return Fail(kExitUsage, recorder.status());
  replay::Recorder* rec = recorder->get();
  int code = 0;
  auto vm = BootFromOptions(run, std::move(*recorder), &gate, &code);
  if (!vm) return code;
  vmm::Machine& m = *vm->machine;
  // Releases touch the machine's back ends: none may run once it is gone.
  absl::Cleanup halt_gate = [&gate] { gate.Halt(); };

  auto started = std::chrono::steady_clock::now();
  std::mutex decide_mu;
  bool decided = false;
  // The backup is gone: win the next generation to go on alone, or halt.
  auto on_backup_lost = [&] {
    std::lock_guard lock(decide_mu);
    if (decided || fenced.load()) return;
    decided = true;
    const std::string why = std::string(client_ptr.load()->status().message());
    std::fprintf(stderr, "ftd: primary: the backup is lost (%s) at log seq %llu, acknowledged %llu; %llu output(s) held\n",
                 why.c_str(), static_cast<unsigned long long>(sink_ptr.load()->last_seq()),
                 static_cast<unsigned long long>(client_ptr.load()->acknowledged_seq()),
                 static_cast<unsigned long long>(gate.held_count()));
    const uint64_t next = generation.load() + 1;
    bool won = true;
    if (*arbiter) {
      auto r = (*arbiter)->TryAcquire(next, node, "primary");
      if (!r.ok()) std::fprintf(stderr, "ftd: error: arbiter: %s\n", std::string(r.status().message()).c_str());
      won = r.ok() && *r;
    }
    if (!won) {
      fenced.store(true);
      const size_t dropped = gate.Halt();
      state.store("halted");
      m.RequestStop();
      std::fprintf(stderr, "ftd: halted: lost the arbiter for generation %llu to %s (backup lost: %s); %zu held output(s) dropped\n",
                   static_cast<unsigned long long>(next),
                   *arbiter ? HolderOf(**arbiter, next).c_str() : "?", why.c_str(), dropped);
      return;
    }
    generation.store(next);
    sink_ptr.load()->Unprotect();
    gate.Unprotect();
    state.store("unprotected");
    std::fprintf(stderr, "ftd: primary: backup lost (%s); continuing unprotected at generation %llu\n", why.c_str(),
                 static_cast<unsigned long long>(next));
  };

  Monitor monitor(
      StatusPath(pair),
      [&](proto::StatusReport& r) {
        r.set_role("primary");
        r.set_state(state.load());
        r.set_generation(generation.load());
        r.set_node(node);
        r.set_peer(copt.target);
        r.set_exit_index(exit_index.load());
        auto* c = client_ptr.load();
        auto* s = sink_ptr.load();
        if (s != nullptr) {
          r.set_log_seq(s->last_seq());
          r.set_log_bytes(s->bytes_total());
          r.set_unacked_bytes(s->unacked_bytes());
          const double secs = MsSince(started) / 1000;
          if (secs > 0) r.set_log_bandwidth_bps(static_cast<double>(s->bytes_total()) / secs);
        }
        if (c != nullptr && s != nullptr && !s->unprotected()) {
          r.set_acked_seq(c->acknowledged_seq());
          r.set_replayed_seq(c->replayed_seq());
          r.set_lag_entries(s->last_seq() - std::min(s->last_seq(), c->replayed_seq()));
        }
        r.set_held_outputs(gate.held_count());
        r.set_held_bytes(gate.held_bytes());
        r.set_first_transfer_pause_ms(pause_ms.load());
      },
      [&] {
        exit_index.store(m.exit_index());
        auto* c = client_ptr.load();
        if (c != nullptr && c->peer_dead() && state.load() == std::string_view("protected")) on_backup_lost();
      });

  // 1. The backup.
  state.store("transferring");
  std::fprintf(stderr, "ftd: primary: connecting to the backup at %s (generation %llu)\n", copt.target.c_str(),
               static_cast<unsigned long long>(generation.load()));
  SetSignalTarget(&m);  // a signal now stops the wait below, then the machine at once
  auto connected = ConnectToBackup(copt, pair.peer_wait_s);
  if (!connected.ok()) return Fail(kExitInternal, connected.status());
  client = std::move(*connected);
  client_ptr.store(client.get());
  spdlog::info("connected to the backup; sending the initial state");

  // 2. The initial state: the machine before its first instruction, and the disk.
  auto t0 = std::chrono::steady_clock::now();
  // The snapshot first: inputs it settles are part of it, and the log starts after it.
  auto snap = m.Save();
  if (!snap.ok()) return Fail(kExitInternal, snap.status());
  auto header = RecordingHeader(m, vm->image, run);
  if (!header.ok()) return Fail(CodeFor(header.status()), header.status());
  header->set_start_exit_index(m.exit_index());
  if (auto s = rec->Start(*header); !s.ok()) return Fail(kExitInternal, s);
  proto::InitialState initial;
  *initial.mutable_header() = rec->header();
  *initial.mutable_snapshot() = std::move(*snap);
  initial.set_disk_mode(pair.disk_mode);
  initial.set_generation(generation.load());
  initial.set_image(std::string(vm->image.begin(), vm->image.end()));
  if (pair.disk_mode == "replicated" && !run.disk.empty()) {
    auto z = CompressFile(run.disk);
    if (!z.ok()) return Fail(CodeFor(z.status()), z.status());
    initial.set_disk_zstd(std::move(*z));
    initial.set_disk_size(header->disk_capacity());
  }
  const std::string bytes = initial.SerializeAsString();
  spdlog::info("initial state: {} bytes (snapshot taken in {:.0f} ms)", bytes.size(), MsSince(t0));
  for (size_t off = 0; off == 0 || off < bytes.size(); off += kStateChunk) {
    const bool last = off + kStateChunk >= bytes.size();
    if (auto s = client->EnqueueStateChunk(off, bytes.substr(off, kStateChunk), last); !s.ok()) {
      return Fail(kExitInternal, s);
    }
  }
  if (!client->WaitForStateAck(std::chrono::seconds(120))) {
    return Fail(kExitInternal, absl::UnavailableError(absl::StrFormat(
                                   "the backup did not take the initial state: %s", client->status().message())));
  }
  pause_ms.store(MsSince(t0));
  state.store("protected");
  std::fprintf(stderr, "ftd: primary: protected at generation %llu: the backup holds the initial state (%.1f MB in %.0f ms)\n",
               static_cast<unsigned long long>(generation.load()), bytes.size() / 1e6, pause_ms.load());

  // 3. Run, recording into the stream.
  int rc = Drive(m, *vm->console, run, [&](const vmm::RunOutcome& o) -> absl::Status {
    if (fenced.load()) return absl::OkStatus();
    auto final_state = m.CaptureEpochState();
    if (!final_state.ok()) return final_state.status();
    if (auto s = rec->Finish(o.kind == vmm::RunOutcome::Kind::kGuestExit, o.status, &*final_state); !s.ok()) return s;
    // The backup holds the whole log: every held output may leave.
    auto* s = sink_ptr.load();
    if (!s->unprotected() && !client->WaitForAck(s->last_seq(), std::chrono::seconds(10))) {
      if (!client->peer_dead()) return absl::DeadlineExceededError("the backup did not acknowledge the end of the log");
      on_backup_lost();
      if (fenced.load()) return absl::OkStatus();
    }
    for (int i = 0; i < 500 && gate.held_count() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return absl::OkStatus();
  });
  SetSignalTarget(nullptr);
  monitor.Stop();
  if (fenced.load()) return kExitFenced;
  if (!client->peer_dead()) client->Close().IgnoreError();
  return rc;
}

}  // namespace ftd::cli
