#include "cli/replay_command.h"

#include <time.h>

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/debug_command.h"
#include "cli/drive.h"
#include "replay/digest.h"
#include "replay/replay_session.h"
#include "replay/replayer.h"
#include "vmm/envelope.h"
#include "vmm/snapshot.h"

namespace ftd::cli {
namespace {

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

int Inspect(vmm::Machine& m, const std::string& what) {
  if (what == "regs") {
    std::printf("exit %llu\n%s", static_cast<unsigned long long>(m.exit_index()),
                replay::FormatRegs(m.regs_at_stop()).c_str());
    return 0;
  }
  if (what == "devices") {
    auto st = m.CaptureEpochState();
    if (!st.ok()) return Fail(kExitInternal, st.status());
    std::printf("exit %llu\n%s", static_cast<unsigned long long>(m.exit_index()),
                st->devices.DebugString().c_str());
    return 0;
  }
  std::vector<std::string> parts = absl::StrSplit(what, ':');
  uint64_t addr = 0, len = 0;
  if (parts.size() == 3 && parts[0] == "mem" && absl::SimpleHexAtoi(parts[1], &addr) &&
      absl::SimpleAtoi(parts[2], &len) && len <= (1u << 20)) {
    auto span = m.memory().Span(addr, len);
    if (!span.ok()) return Fail(kExitUsage, span.status());
    std::printf("exit %llu\n", static_cast<unsigned long long>(m.exit_index()));
    for (uint64_t off = 0; off < len; off += 16) {
      std::printf("%08llx:", static_cast<unsigned long long>(addr + off));
      for (uint64_t i = off; i < std::min(len, off + 16); ++i) std::printf(" %02x", (*span)[i]);
      std::printf("\n");
    }
    return 0;
  }
  return Fail(kExitUsage,
              absl::InvalidArgumentError(
                  "--inspect: expected regs, devices or mem:HEXADDR:LEN (LEN at most 1 MiB)"));
}


// Replays up to each of `opts.checkpoint_at` (sorted) and saves the state at the first
// quiet point at or after it (no disk request in flight) as DIR/exit-N.snap.
int WriteCheckpoints(const RunOptions& opts, replay::ReplaySession& rs) {
  std::vector<uint64_t> at = opts.checkpoint_at;
  std::sort(at.begin(), at.end());
  uint64_t written = 0;
  for (uint64_t want : at) {
    if (rs.machine().exit_index() >= want) continue;  // a previous one was taken beyond it
    vmm::RunLimits limits;
    limits.stop_at_exit_index = want;
    constexpr int kTries = 10000;  // points to look for a quiet one
    bool saved = false;
    for (int i = 0; i < kTries && !saved; ++i) {
      auto outcome = rs.Run(limits);
      if (!outcome.ok()) return Fail(CodeFor(outcome.status()), outcome.status());
      if (outcome->kind != vmm::RunOutcome::Kind::kStoppedAtPoint) {
        std::fprintf(stderr, "ftd: checkpoints: the replay ended at exit %llu, before exit %llu\n",
                     static_cast<unsigned long long>(rs.machine().exit_index()),
                     static_cast<unsigned long long>(want));
        return written > 0 ? 0 : Fail(kExitUsage, absl::InvalidArgumentError(
                                                      "--checkpoint-at: beyond the log's end"));
      }
      auto snap = rs.SaveCheckpoint();
      if (snap.ok()) {
        const std::string path = absl::StrFormat("%s/exit-%u.snap", opts.checkpoint_dir,
                                                 rs.machine().exit_index());
        if (auto s = vmm::WriteSnapshotFile(path, *snap); !s.ok()) return Fail(kExitUsage, s);
        std::fprintf(stderr, "ftd: checkpoint at exit %llu (log entry %llu next): %s\n",
                     static_cast<unsigned long long>(rs.machine().exit_index()),
                     static_cast<unsigned long long>(snap->log_next_seq()), path.c_str());
        ++written;
        saved = true;
      } else if (snap.status().code() == absl::StatusCode::kFailedPrecondition) {
        limits.stop_at_exit_index = rs.machine().exit_index() + 1;  // not quiet: the next point
      } else {
        return Fail(kExitInternal, snap.status());
      }
    }
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<replay::ReplaySession>> OpenSession(const RunOptions& opts,
                                                                   replay::LogReader reader,
                                                                   std::span<const uint8_t> image,
                                                                   const replay::ReplayOptions& ropt,
                                                                   std::unique_ptr<vmm::Kvm> kvm,
                                                                   vmm::ConsoleOutput console) {
  if (opts.from.empty()) {
    return replay::ReplaySession::Open(std::move(kvm), std::move(reader), image, ropt,
                                       std::move(console));
  }
  auto snap = vmm::ReadSnapshotFile(opts.from);
  if (!snap.ok()) return snap.status();
  return replay::ReplaySession::Resume(std::move(kvm), std::move(reader), *snap,
                                       std::move(console));
}

}  // namespace

int ReplayCommand(const RunOptions& opts) {
  if (!opts.inspect.empty() && !opts.until) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--inspect needs --until POINT"));
  }
  if (opts.go_live_at && opts.until && *opts.until != *opts.go_live_at) {
    return Fail(kExitUsage,
                absl::InvalidArgumentError("--until and --go-live-at name different points"));
  }
  if (!opts.from.empty() && (!opts.disk.empty() || opts.debugging())) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "--from replays without a disk and without a debugger"));
  }
  auto reader = replay::LogReader::OpenFile(opts.log);
  if (!reader.ok()) return Fail(CodeFor(reader.status()), reader.status());
  auto image = vmm::ReadWholeFile(opts.guest, vmm::kMaxGuestImageSize);
  if (!image.ok()) return Fail(CodeFor(image.status()), image.status());
  replay::ReplayOptions ropt;
  ropt.host.disk = opts.disk;
  ropt.host.net = opts.net;
  ropt.image_name = opts.guest;
  ropt.log_name = opts.log;
  if (auto s = replay::ReplaySession::CheckInputs(reader->header(), *image, ropt); !s.ok()) {
    return Fail(CodeFor(s), s);
  }
  auto console = ConsoleWriter::Open(opts.console);
  if (!console.ok()) return Fail(kExitUsage, console.status());
  int code = 0;
  auto kvm = OpenKvm(opts, &code);
  if (!kvm.ok()) return Fail(code, kvm.status());
  auto session = OpenSession(opts, *std::move(reader), *image, ropt,
                             std::make_unique<vmm::Kvm>(*std::move(kvm)), ConsoleOf(**console));
  if (!session.ok()) return Fail(CodeFor(session.status()), session.status());
  if (opts.debugging()) {
    int rc = DebugCommand(opts, std::move(*session), *image);
    (*console)->Flush();
    return rc;
  }
  replay::ReplaySession& rs = **session;
  vmm::Machine& m = rs.machine();
  ConsoleWriter& cw = **console;
  if (!opts.from.empty()) {
    std::fprintf(stderr, "ftd: replay from %s at exit %llu\n", opts.from.c_str(),
                 static_cast<unsigned long long>(m.exit_index()));
  }
  if (!opts.checkpoint_at.empty()) {
    SetSignalTarget(&m);
    int rc = WriteCheckpoints(opts, rs);
    SetSignalTarget(nullptr);
    if (rc != 0) return rc;
  }

  vmm::RunLimits limits;
  limits.stop_at_exit_index = opts.go_live_at ? opts.go_live_at : opts.until;
  double t0 = Now();
  SetSignalTarget(&m);
  auto outcome = rs.Run(limits);
  SetSignalTarget(nullptr);
  double wall = Now() - t0;
  cw.Flush();
  auto summary = [&](const char* how) {
    const replay::Replayer& rp = rs.replayer();
    double guest_s = static_cast<double>(rp.last_guest_ns()) * 1e-9;
    std::fprintf(stderr,
                 "ftd: replay %s at exit %llu: %llu log entries, %llu epoch hashes verified; %.3f "
                 "s of guest "
                 "time in %.3f s (%.1fx real time)\n",
                 how, static_cast<unsigned long long>(m.exit_index()),
                 static_cast<unsigned long long>(rp.entries_replayed()),
                 static_cast<unsigned long long>(rp.epochs_checked()), guest_s, wall,
                 wall > 0 ? guest_s / wall : 0.0);
  };
  auto diverged = [&](const absl::Status& s) {
    summary("diverged");
    std::fprintf(stderr, "ftd: error: %s\n", std::string(s.message()).c_str());
    return kExitDivergence;
  };
  auto refused = [&](const absl::Status& s) {
    if (s.code() == absl::StatusCode::kAborted) return diverged(s);
    if (s.code() != absl::StatusCode::kDataLoss) return Fail(kExitInternal, s);
    summary("refused: the log is damaged");
    return Fail(kExitBadImage, s);
  };
  if (!outcome.ok()) return refused(outcome.status());
  if (auto s = rs.CheckFinalEpoch(*outcome); !s.ok()) return refused(s);
  if (!rs.tail_error().ok()) {  // a torn tail: what came before it was replayed
    std::fprintf(stderr, "ftd: warning: %s\n", std::string(rs.tail_error().message()).c_str());
  }
  switch (outcome->kind) {
    case vmm::RunOutcome::Kind::kGuestExit:
      summary("finished: the guest exited");
      return static_cast<int>(outcome->status & 0xff);
    case vmm::RunOutcome::Kind::kShutdown:
      summary("finished: the guest triple-faulted");
      return kExitGuestCrash;
    case vmm::RunOutcome::Kind::kStopRequested:
      summary("interrupted");
      return 0;
    case vmm::RunOutcome::Kind::kLogEnd:
      summary(rs.tail_error().ok() ? "reached the end of the log"
                                   : "reached a torn end of the log");
      break;
    case vmm::RunOutcome::Kind::kStoppedAtPoint:
    case vmm::RunOutcome::Kind::kDebugTrap:  // only a debugger sets traps
      summary("stopped");
      break;
  }
  if (!opts.inspect.empty()) {
    if (int rc = Inspect(m, opts.inspect); rc != 0) return rc;
  }
  if (!opts.go_live_at && !opts.go_live) return 0;
  if (auto s = rs.GoLive(); !s.ok()) return Fail(CodeFor(s), s);
  std::fprintf(stderr, "ftd: live at exit %llu (guest time %.3f s): real inputs from now on\n",
               static_cast<unsigned long long>(m.exit_index()),
               rs.replayer().last_guest_ns() * 1e-9);
  RunOptions live = opts;
  live.save_at_exit.reset();
  return Drive(m, cw, live);
}

int LogInfoCommand(const std::string& path, bool epochs, bool entries_list) {
  auto reader = replay::LogReader::OpenFile(path);
  if (!reader.ok()) return Fail(CodeFor(reader.status()), reader.status());
  const proto::LogHeader& h = reader->header();
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // count, bytes
  uint64_t entries = 0, first_exit = 0, last_exit = 0, first_ns = 0, last_ns = 0, encoded_bytes = 0;
  bool have_ns = false;
  std::string end = "none (the recording did not finish cleanly)";
  absl::Status tail;
  for (;;) {
    auto e = reader->Next();
    if (!e.ok()) {
      tail = e.status();
      break;
    }
    if (!e->has_value()) break;
    const proto::LogEntry& x = **e;
    if (epochs && x.has_epoch()) {
      std::printf("epoch at exit %llu (guest time %llu ns, %d pages)\n%s",
                  static_cast<unsigned long long>(x.exit_index()),
                  static_cast<unsigned long long>(x.epoch().guest_ns()),
                  x.epoch().page_numbers_size(), replay::FormatRegs(x.epoch().regs()).c_str());
    }
    if (entries_list) {
      std::string detail;
      if (x.has_clock())
        detail = absl::StrFormat(x.clock().timer() ? "timer %u" : "clock %u",
                                 x.clock().monotonic_ns());
      if (x.has_serial()) detail = absl::StrFormat("serial %u bytes", x.serial().data().size());
      if (x.has_block())
        detail = absl::StrFormat("block request %u status %u, %u bytes", x.block().request_id(),
                                 x.block().status(), x.block().data().size());
      if (x.has_net()) {
        detail = absl::StrFormat("net %u bytes |", x.net().frame().size());
        for (char ch : x.net().frame()) detail += (ch >= 32 && ch < 127) ? ch : '.';
        detail += "|";
      }
      if (x.has_epoch()) detail = "epoch";
      if (x.has_end()) detail = "end";
      std::printf("exit %llu seq %llu %s\n", static_cast<unsigned long long>(x.exit_index()),
                  static_cast<unsigned long long>(x.seq()), detail.c_str());
    }
    if (entries++ == 0) first_exit = x.exit_index();
    last_exit = x.exit_index();
    std::string type = x.has_clock()    ? (x.clock().timer() ? "timer" : "clock")
                       : x.has_serial() ? "serial"
                       : x.has_block()  ? "block"
                       : x.has_net()    ? "net"
                       : x.has_epoch()  ? "epoch"
                       : x.has_end()    ? "end"
                                        : "other";
    auto& t = by_type[type];
    ++t.first;
    const size_t encoded = x.ByteSizeLong();
    encoded_bytes += encoded;
    t.second += encoded + replay::kLogFrameHeaderSize;
    if (x.has_clock() && !x.clock().realtime()) {
      if (!have_ns) first_ns = x.clock().monotonic_ns();
      have_ns = true;
      last_ns = x.clock().monotonic_ns();
    }
    if (x.has_end()) {
      end = x.end().guest_exited()
                ? absl::StrFormat("guest exited with status %u", x.end().guest_status())
                : std::string("recording stopped");
    }
  }
  std::printf("log %s\n", path.c_str());
  std::printf("  format version %u, %llu bytes\n", h.format_version(),
              static_cast<unsigned long long>(reader->size()));
  std::printf("  image sha256 %s\n", replay::Hex(h.config().image_sha256()).c_str());
  std::printf("  memory %llu MiB, cmdline \"%s\"\n",
              static_cast<unsigned long long>(h.config().mem_size() >> 20),
              h.config().cmdline().c_str());
  if (h.disk_capacity() != 0) {
    std::printf("  disk %llu bytes%s, sha256 at start %s\n",
                static_cast<unsigned long long>(h.disk_capacity()),
                h.disk_read_only() ? " (read-only)" : "", replay::Hex(h.disk_sha256()).c_str());
  }
  std::printf("  network %s\n", h.config().net().empty() ? "none" : h.config().net().c_str());
  std::printf("  epoch interval %.0f ms\n", h.epoch_interval_ns() * 1e-6);
  std::printf("  entries %llu, exits %llu..%llu\n", static_cast<unsigned long long>(entries),
              static_cast<unsigned long long>(first_exit),
              static_cast<unsigned long long>(last_exit));
  for (const auto& [type, t] : by_type) {
    std::printf("    %-7s %10llu entries %12llu bytes\n", type.c_str(),
                static_cast<unsigned long long>(t.first),
                static_cast<unsigned long long>(t.second));
  }
  std::printf("  guest time %.3f s (clock reads from %.3f s to %.3f s)\n",
              (last_ns - first_ns) * 1e-9, first_ns * 1e-9, last_ns * 1e-9);
  // What the replication stream carries: the entries themselves, without the file's frames.
  std::printf("  entries encoded %llu bytes, %.0f B/s of guest time (the file adds %zu a frame)\n",
              static_cast<unsigned long long>(encoded_bytes),
              last_ns > 0 ? static_cast<double>(encoded_bytes) / (last_ns * 1e-9) : 0.0,
              replay::kLogFrameHeaderSize);
  std::printf("  end: %s\n", end.c_str());
  if (!tail.ok()) {
    std::printf("  %s: %s\n", replay::IsTornTail(tail) ? "torn tail" : "damaged",
                std::string(tail.message()).c_str());
    return Fail(CodeFor(tail), tail);
  }
  return 0;
}

}  // namespace ftd::cli
