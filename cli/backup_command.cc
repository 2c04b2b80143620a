// `ftd --role backup`: take the primary's initial state, replay its log in near lockstep,
// and go live when the primary is lost and this host wins the arbiter.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"
#include "backup/entry_stream.h"
#include "backup/replication_server.h"
#include "cli/drive.h"
#include "cli/pair_common.h"
#include "cli/pair_command.h"
#include "cli/digest.h"
#include "cli/replay_command.h"
#include "failover/announce.h"
#include "replay/replayer.h"
#include "replication.pb.h"
#include "zstd.h"

namespace ftd::cli {
namespace {

constexpr uint64_t kMaxStateBytes = 8ull << 30;
constexpr int kReplayNice = 10;

backup::EntryStream* g_stream = nullptr;
void StopStream() {
  if (g_stream != nullptr) g_stream->RequestStop();
}

// The Replayer owns its source; the stream outlives it (the server feeds it).
class BorrowedSource final : public replay::EntrySource {
 public:
  explicit BorrowedSource(replay::EntrySource* s) : s_(s) {}
  absl::StatusOr<std::optional<proto::LogEntry>> Next() override { return s_->Next(); }

 private:
  replay::EntrySource* s_;
};

// Writes the primary's disk image (replicated mode) to this host's replica.
absl::Status WriteReplica(const std::string& path, const proto::InitialState& st) {
  std::string raw(st.disk_size(), '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), st.disk_zstd().data(), st.disk_zstd().size());
  if (ZSTD_isError(n) || n != st.disk_size()) {
    return absl::DataLossError("the primary's disk image does not decompress to its size");
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrFormat("--disk %s: %s", path, strerror(errno)));
  for (size_t off = 0; off < raw.size();) {
    ssize_t w = write(fd, raw.data() + off, raw.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      return absl::InternalError(absl::StrFormat("writing the replica %s: %s", path, strerror(errno)));
    }
    off += static_cast<size_t>(w);
  }
  int rc = fdatasync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrFormat("fdatasync %s: %s", path, strerror(errno)));
  return absl::OkStatus();
}

}  // namespace

int BackupCommand(const RunOptions& run, const PairOptions& pair) {
  if (auto s = CheckPairOptions(pair); !s.ok()) return Fail(kExitUsage, s);
  if (!run.net.empty() && run.net != "none") {
    if (auto s = CheckNetOption(run.net); !s.ok()) return Fail(kExitUsage, s);
  }
  const std::string node = NodeName(pair);
  auto arbiter = OpenArbiter(pair);
  if (!arbiter.ok()) return Fail(kExitUsage, arbiter.status());
  auto console = ConsoleWriter::Open(run.console);
  if (!console.ok()) return Fail(kExitUsage, console.status());
  ConsoleWriter* cw = console->get();
  int kvm_code = 0;
  auto kvm = OpenKvm(run, &kvm_code);
  if (!kvm.ok()) return Fail(kvm_code, kvm.status());

  backup::EntryStream stream;
  g_stream = &stream;
  SetTerminateHook(StopStream);

  std::atomic<const char*> state{"waiting"};
  std::atomic<uint64_t> generation{0};
  std::atomic<double> failover_ms{0};
  std::atomic<replay::Replayer*> replayer_ptr{nullptr};
  std::atomic<uint64_t> exit_index{0};

  std::mutex mu;
  std::condition_variable cv;
  std::string state_bytes;
  std::optional<proto::InitialState> initial;
  std::atomic<bool> have_state{false};
  std::atomic<int64_t> ended_at_ns{0};

  backup::ReplicationServerOptions sopt;
  sopt.listen_address = WithDefaultPort(pair.listen);
  sopt.tls = TlsFilesOf(pair);
  sopt.insecure = pair.insecure;
  sopt.vm_id = pair.vm_id;
  sopt.heartbeat_interval = std::chrono::milliseconds(pair.heartbeat_ms);
  sopt.peer_timeout = std::chrono::milliseconds(pair.peer_timeout_ms);
  backup::ReplicationCallbacks cb;
  cb.check_hello = [&](const proto::Hello& hello) -> std::string {
    if (have_state.load()) {
      return absl::StrFormat("this backup already follows a primary (generation %u); restart it to protect a new one",
                             generation.load());
    }
    if (*arbiter) {
      auto cur = (*arbiter)->CurrentGeneration();
      if (!cur.ok()) return std::string(cur.status().message());
      if (hello.generation() != *cur) {
        return absl::StrFormat("the primary runs generation %u but the arbiter is at %u (held by %s): a stale primary",
                               hello.generation(), *cur, HolderOf(**arbiter, *cur));
      }
    }
    return "";
  };
  cb.on_state = [&](uint64_t, const std::string& data, bool last) -> absl::Status {
    std::lock_guard lock(mu);
    if (have_state.load()) return absl::FailedPreconditionError("a second state transfer");
    if (state_bytes.size() + data.size() > kMaxStateBytes) {
      return absl::ResourceExhaustedError("the initial state exceeds 8 GiB");
    }
    state.store("receiving-state");
    state_bytes += data;
    if (!last) return absl::OkStatus();
    proto::InitialState st;
    if (!st.ParseFromString(state_bytes)) return absl::DataLossError("the initial state does not parse");
    state_bytes.clear();
    state_bytes.shrink_to_fit();
    const bool has_disk = st.header().disk_capacity() != 0;
    if (has_disk && run.disk.empty()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the guest has a %s disk: this backup needs --disk PATH", st.disk_mode()));
    }
    if (has_disk && st.disk_mode() == "replicated") {
      if (auto s = WriteReplica(run.disk, st); !s.ok()) return s;
    }
    st.clear_disk_zstd();
    generation.store(st.generation());
    initial = std::move(st);
    have_state.store(true);
    cv.notify_all();
    return absl::OkStatus();
  };
  cb.on_entries = [&](const google::protobuf::RepeatedPtrField<proto::LogEntry>& entries) -> absl::Status {
    if (!have_state.load()) return absl::FailedPreconditionError("log entries before the initial state");
    stream.Push(entries);
    return absl::OkStatus();
  };
  std::atomic<pid_t> replay_tid{0};
  auto lost = [&](const std::string& why) {
    if (!have_state.load() || stream.ended()) return;
    ended_at_ns.store(repl::SteadyNowNs());
    stream.End(why);
    // Nothing to acknowledge any more: the backlog's replay is the failover's critical path.
    if (pid_t tid = replay_tid.load()) setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 0);
    auto* rp = replayer_ptr.load();
    std::fprintf(stderr, "ftd: backup: the primary's stream ended (%s) at seq %llu; %llu entries to replay\n",
                 why.c_str(), static_cast<unsigned long long>(stream.received()),
                 static_cast<unsigned long long>(stream.received() - (rp ? std::min(rp->last_seq(), stream.received()) : 0)));
  };
  cb.on_peer_dead = [&] { lost(absl::StrFormat("silent for %u ms", pair.peer_timeout_ms)); };
  cb.on_stream_end = [&](const std::string& why) { lost(why); };

  auto server = backup::ReplicationServer::Start(sopt, cb);
  if (!server.ok()) return Fail(CodeFor(server.status()), server.status());
  std::fprintf(stderr, "ftd: backup: listening on %s (port %d)\n", sopt.listen_address.c_str(), (*server)->port());

  Monitor monitor(
      StatusPath(pair),
      [&](proto::StatusReport& r) {
        r.set_role("backup");
        r.set_state(state.load());
        r.set_generation(generation.load());
        r.set_node(node);
        r.set_peer(sopt.listen_address);
        r.set_exit_index(exit_index.load());
        const uint64_t received = (*server)->received_seq();
        r.set_log_seq(received);
        r.set_acked_seq(received);
        if (auto* rp = replayer_ptr.load()) {
          r.set_replayed_seq(rp->last_seq());
          r.set_lag_entries(received - std::min(received, rp->last_seq()));
          r.set_lag_ms(stream.lag_ms());
        }
        r.set_failover_ms(failover_ms.load());
      },
      [&] {
        if (auto* rp = replayer_ptr.load()) (*server)->SetReplayedSeq(rp->last_seq());
      });

  // 1. The initial state.
  {
    std::unique_lock lock(mu);
    while (!have_state.load() && !TerminationRequested()) cv.wait_for(lock, std::chrono::milliseconds(100));
  }
  if (!have_state.load()) return 0;  // stopped before any primary came
  const proto::InitialState& st = *initial;
  std::atomic<bool> live{false};
  auto replayer = std::make_unique<replay::Replayer>(st.header(), std::make_unique<BorrowedSource>(&stream));
  replay::Replayer* rp = replayer.get();
  rp->set_live_after_end(true);
  vmm::RestoreOptions ropt;
  ropt.input = std::move(replayer);
  absl::Status config_error;
  ropt.adjust = [&](vmm::MachineConfig& c) {
    auto logged = ConfigFromLog(st.header(), run);
    if (!logged.ok()) {
      config_error = logged.status();
      return;
    }
    c.cpuid = logged->cpuid;
    c.disk_geometry = logged->disk_geometry;
    c.disk_path = logged->disk_path;
    c.disk_read_only = logged->disk_read_only;
    c.net = logged->net;
    c.replay_writes_disk = st.disk_mode() == "replicated";
  };
  vmm::ConsoleOutput console_out = [cw, &live](std::span<const uint8_t> b) {
    if (live.load()) cw->Write(b);  // the primary's console shows these until go-live
  };
  absl::StatusOr<std::unique_ptr<vmm::Machine>> machine = absl::UnknownError("no machine");
  if (st.snapshot().exit_index() == 0 && !st.image().empty() && getenv("FTD_BACKUP_RESTORE") == nullptr) {
    // At the boot point the state is the image: boot it exactly as `ftd replay` does.
    const auto* bytes = reinterpret_cast<const uint8_t*>(st.image().data());
    if (Sha256({bytes, st.image().size()}) != st.header().config().image_sha256()) {
      return Fail(kExitBadImage, absl::DataLossError("the transferred image does not match the log header"));
    }
    auto config = ConfigFromLog(st.header(), run);
    if (!config.ok()) return Fail(kExitBadImage, config.status());
    config->replay_writes_disk = st.disk_mode() == "replicated";
    auto guest = vmm::LoadGuest(*config, {bytes, st.image().size()});
    if (!guest.ok()) return Fail(kExitBadImage, guest.status());
    machine = vmm::Machine::Boot(*kvm, std::move(*guest), console_out, std::move(ropt.input));
  } else {
    machine = vmm::Machine::Restore(*kvm, st.snapshot(), console_out, std::move(ropt));
    if (!config_error.ok()) return Fail(kExitBadImage, config_error);
  }
  if (!machine.ok()) return Fail(CodeFor(machine.status()), machine.status());
  vmm::Machine& m = **machine;
  replayer_ptr.store(rp);
  state.store("replaying");
  std::fprintf(stderr, "ftd: backup: replaying generation %llu from exit %llu\n",
               static_cast<unsigned long long>(generation.load()), static_cast<unsigned long long>(m.exit_index()));

  // 2. Replay in lockstep until the log ends. The replaying vCPU thread runs at a lower
  // priority than the stream's threads: an ack (which output commit waits for) must not queue
  // behind replay work on a busy host.
  SetSignalTarget(&m);
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kReplayNice);
  replay_tid.store(gettid());
  if (stream.ended()) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 0);
  absl::StatusOr<vmm::RunOutcome> outcome = m.Run();
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 0);  // live: full priority again
  exit_index.store(m.exit_index());
  SetSignalTarget(nullptr);
  if (!outcome.ok()) {
    state.store("halted");
    if (outcome.status().code() == absl::StatusCode::kAborted) {
      std::fprintf(stderr, "ftd: error: backup: %s\n", std::string(outcome.status().message()).c_str());
      return kExitDivergence;
    }
    return Fail(kExitInternal, outcome.status());
  }
  if (outcome->kind == vmm::RunOutcome::Kind::kGuestExit) {
    state.store("halted");
    std::fprintf(stderr, "ftd: backup: the guest exited with status %u (replayed)\n", outcome->status);
    return static_cast<int>(outcome->status & 0xff);
  }
  if (outcome->kind != vmm::RunOutcome::Kind::kLogEnd || TerminationRequested() || stream.saw_log_end() ||
      rp->end()) {
    state.store("halted");
    std::fprintf(stderr, "ftd: backup: stopped at exit %llu (%s)\n", static_cast<unsigned long long>(m.exit_index()),
                 stream.saw_log_end() ? "the primary ended the log" : "stopped");
    return 0;
  }

  // 3. The primary is lost: win the next generation, or halt.
  const std::string why = stream.end_reason();
  const uint64_t next = generation.load() + 1;
  if (*arbiter) {
    auto won = (*arbiter)->TryAcquire(next, node, "backup");
    if (!won.ok() || !*won) {
      state.store("halted");
      std::fprintf(stderr, "ftd: halted: lost the arbiter for generation %llu to %s (primary lost: %s)\n",
                   static_cast<unsigned long long>(next),
                   won.ok() ? HolderOf(**arbiter, next).c_str() : std::string(won.status().message()).c_str(),
                   why.c_str());
      return kExitFenced;
    }
  }
  generation.store(next);
  if (auto s = m.GoLive(rp->last_guest_ns()); !s.ok()) return Fail(kExitInternal, s);
  live.store(true);
  state.store("live");
  const double fo = static_cast<double>(repl::SteadyNowNs() - ended_at_ns.load()) / 1e6;
  failover_ms.store(fo);
  std::fprintf(stderr,
               "ftd: backup: primary lost (%s); live at generation %llu after %.1f ms, at exit %llu (%llu entries "
               "replayed)\n",
               why.c_str(), static_cast<unsigned long long>(next), fo,
               static_cast<unsigned long long>(m.exit_index()),
               static_cast<unsigned long long>(rp->entries_replayed()));
  // Tell the network where the guest's MAC lives now (QEMU's announce-self rounds).
  std::thread announce([&m] {
    const auto frame = failover::RarpAnnounceFrame(m.config().mac);
    const auto t0 = std::chrono::steady_clock::now();
    for (int at : failover::kAnnounceAtMs) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(at));
      m.SendHostFrame(frame);
    }
  });
  RunOptions live_opts = run;
  live_opts.save_at_exit.reset();
  int rc = Drive(m, *cw, live_opts);
  announce.join();
  state.store("halted");
  return rc;
}

}  // namespace ftd::cli
