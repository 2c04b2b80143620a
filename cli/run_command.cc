#include "cli/run_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "cli/console.h"
#include "cli/drive.h"
#include "replay/record_session.h"
#include "spdlog/spdlog.h"
#include "vmm/envelope.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

namespace ftd::cli {
namespace {

std::atomic<vmm::Machine*> g_machine{nullptr};

std::atomic<bool> g_terminate{false};
std::atomic<void (*)()> g_terminate_hook{nullptr};

// SIGINT/SIGTERM: stop at the next exit (and save, with --save). A signal that comes
// while the machine is still being built is remembered and honoured once it runs.
void OnTerminate(int) {
  g_terminate.store(true);
  if (vmm::Machine* m = g_machine.load()) m->RequestStop();
  if (auto hook = g_terminate_hook.load()) hook();
}

}  // namespace

int Fail(int code, const absl::Status& s) {
  std::fprintf(stderr, "ftd: error: %s\n", std::string(s.message()).c_str());
  return code;
}

int CodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return kExitNoInput;
    case absl::StatusCode::kPermissionDenied:
      return kExitNoPerm;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:  // e.g. another format version
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
      return kExitBadImage;
    default:
      return kExitInternal;
  }
}

absl::StatusOr<vmm::Kvm> OpenKvm(const RunOptions& opts, int* code) {
  auto kvm = vmm::Kvm::Open(opts.kvm_device.c_str());
  if (!kvm.ok()) {
    *code = kvm.status().code() == absl::StatusCode::kPermissionDenied ? kExitNoPerm : kExitNoKvm;
  }
  return kvm;
}

// Feeds ftd's stdin to the guest's serial port. Detached: a read() blocked on a terminal
// must not keep ftd alive after the guest exits. It posts only to the machine Drive() is
// running, under g_stdin_mu: once Drive() returns it touches no machine again.
std::mutex g_stdin_mu;
vmm::Machine* g_stdin_target = nullptr;
bool g_stdin_started = false;

void SetStdinTarget(vmm::Machine* m) {
  std::lock_guard lock(g_stdin_mu);
  g_stdin_target = m;
  if (m == nullptr || g_stdin_started) return;
  g_stdin_started = true;
  std::thread([] {
    uint8_t buf[256];
    for (;;) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) return;
      std::lock_guard lock(g_stdin_mu);
      if (g_stdin_target != nullptr) g_stdin_target->PostSerialInput({buf, static_cast<size_t>(n)});
    }
  }).detach();
}

int Drive(vmm::Machine& m, ConsoleWriter& console, const RunOptions& opts,
          const std::function<absl::Status(const vmm::RunOutcome&)>& on_outcome,
          const std::function<bool()>& resume_after_stop) {
  g_machine.store(&m);
  if (g_terminate.load()) m.RequestStop();
  if (opts.serial_stdin) SetStdinTarget(&m);
  vmm::RunLimits limits;
  limits.stop_at_exit_index = opts.save_at_exit;
  auto outcome = m.Run(limits);
  while (outcome.ok() && outcome->kind == vmm::RunOutcome::Kind::kStoppedAtPoint &&
         !(opts.save_at_exit && outcome->exit_index >= *opts.save_at_exit) && resume_after_stop &&
         resume_after_stop()) {
    outcome = m.Run(limits);
  }
  console.Flush();
  SetStdinTarget(nullptr);
  g_machine.store(nullptr);
  if (!outcome.ok()) return Fail(kExitInternal, outcome.status());
  if (on_outcome) {
    if (auto s = on_outcome(*outcome); !s.ok()) return Fail(kExitInternal, s);
  }
  switch (outcome->kind) {
    case vmm::RunOutcome::Kind::kGuestExit:
      if (opts.save_at_exit) {
        std::fprintf(stderr,
                     "ftd: warning: the guest exited at exit %llu, before --save-at-exit %llu: no "
                     "snapshot written\n",
                     static_cast<unsigned long long>(outcome->exit_index),
                     static_cast<unsigned long long>(*opts.save_at_exit));
      }
      spdlog::info("guest exited with status {} after {} exits", outcome->status,
                   outcome->exit_index);
      return static_cast<int>(outcome->status & 0xff);
    case vmm::RunOutcome::Kind::kShutdown:
      std::fprintf(stderr, "ftd: error: the guest triple-faulted (shutdown) at exit %llu\n",
                   static_cast<unsigned long long>(outcome->exit_index));
      return kExitGuestCrash;
    case vmm::RunOutcome::Kind::kLogEnd:
    case vmm::RunOutcome::Kind::kStopRequested:
    case vmm::RunOutcome::Kind::kDebugTrap:  // only a debugger sets traps
    case vmm::RunOutcome::Kind::kStoppedAtPoint: {
      if (opts.save_path.empty()) {
        std::fprintf(stderr, "ftd: stopped at exit %llu\n",
                     static_cast<unsigned long long>(outcome->exit_index));
        return 0;
      }
      auto snap = m.Save();
      if (!snap.ok()) return Fail(kExitInternal, snap.status());
      if (auto s = vmm::WriteSnapshotFile(opts.save_path, *snap); !s.ok())
        return Fail(kExitInternal, s);
      std::fprintf(stderr, "ftd: saved the machine at exit %llu to %s\n",
                   static_cast<unsigned long long>(outcome->exit_index), opts.save_path.c_str());
      return 0;
    }
  }
  return kExitInternal;
}

std::optional<uint64_t> ParseSize(const std::string& s) {
  if (s.empty()) return std::nullopt;
  uint64_t mult = 1;
  std::string digits = s;
  switch (s.back()) {
    case 'K':
    case 'k':
      mult = 1ull << 10;
      digits.pop_back();
      break;
    case 'M':
    case 'm':
      mult = 1ull << 20;
      digits.pop_back();
      break;
    case 'G':
    case 'g':
      mult = 1ull << 30;
      digits.pop_back();
      break;
    default:
      break;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(digits, &v) || v > (UINT64_MAX / mult)) return std::nullopt;
  return v * mult;
}

void SetSignalTarget(vmm::Machine* m) {
  g_machine.store(m);
  if (m != nullptr && g_terminate.load()) m->RequestStop();
}

void SetTerminateHook(void (*hook)()) {
  g_terminate_hook.store(hook);
  if (hook != nullptr && g_terminate.load()) hook();
}

bool TerminationRequested() { return g_terminate.load(); }

void InstallTerminationHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::optional<PreparedVm> PrepareFromOptions(const RunOptions& opts, int* code) {
  auto fail = [code](int c, const absl::Status& s) {
    *code = Fail(c, s);
    return std::nullopt;
  };
  auto mem = ParseSize(opts.mem);
  if (!mem)
    return fail(kExitUsage,
                absl::InvalidArgumentError("--mem '" + opts.mem + "': expected e.g. 64M or 1G"));
  if (opts.save_at_exit && opts.save_path.empty()) {
    return fail(kExitUsage, absl::InvalidArgumentError("--save-at-exit needs --save PATH"));
  }
  if (opts.disk_readonly && opts.disk.empty()) {
    return fail(kExitUsage, absl::InvalidArgumentError("--disk-readonly needs --disk PATH"));
  }
  if (opts.epoch_ms == 0)
    return fail(kExitUsage, absl::InvalidArgumentError("--epoch-ms must be positive"));
  if (auto s = CheckNetOption(opts.net); !s.ok()) return fail(kExitUsage, s);
  auto mac = vmm::ParseMac(opts.mac);
  if (!mac) {
    return fail(kExitUsage,
                absl::InvalidArgumentError(absl::StrFormat(
                    "--mac '%s': expected six hex bytes, e.g. 52:54:00:12:34:56", opts.mac)));
  }
  auto image = vmm::ReadWholeFile(opts.guest, vmm::kMaxGuestImageSize);
  if (!image.ok()) return fail(CodeFor(image.status()), image.status());
  vmm::MachineConfig config;
  config.mem_size = *mem;
  config.cmdline = opts.cmdline;
  config.disk_path = opts.disk;
  config.disk_read_only = opts.disk_readonly;
  config.net = opts.net;
  config.mac = *mac;
  auto guest = vmm::LoadGuest(config, *image);
  if (!guest.ok()) {
    if (guest.status().code() != absl::StatusCode::kInvalidArgument)
      return fail(kExitInternal, guest.status());
    return fail(kExitBadImage, absl::InvalidArgumentError(absl::StrFormat(
                                   "%s: %s", opts.guest, guest.status().message())));
  }
  auto console = ConsoleWriter::Open(opts.console);
  if (!console.ok()) return fail(kExitUsage, console.status());
  int kvm_code = 0;
  auto kvm = OpenKvm(opts, &kvm_code);
  if (!kvm.ok()) return fail(kvm_code, kvm.status());
  return PreparedVm{std::make_unique<vmm::Kvm>(*std::move(kvm)), *std::move(console),
                    *std::move(image), *std::move(guest)};
}

int BootFailure(const absl::Status& s) {
  // A disk or tap that cannot be opened is the user's to fix, not an internal failure.
  absl::StatusCode c = s.code();
  bool user = c == absl::StatusCode::kNotFound || c == absl::StatusCode::kPermissionDenied ||
              c == absl::StatusCode::kInvalidArgument;
  return Fail(user ? CodeFor(s) : kExitInternal, s);
}

vmm::ConsoleOutput ConsoleOf(ConsoleWriter& console) {
  return [cw = &console](std::span<const uint8_t> b) { cw->Write(b); };
}

absl::Status CheckNetOption(const std::string& net) {
  if (net == "none" || (net.rfind("tap:", 0) == 0 && net.size() > 4)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("--net '%s': expected 'none' or 'tap:IFNAME'", net));
}

int RunCommand(const RunOptions& opts, bool record) {
  int code = 0;
  auto vm = PrepareFromOptions(opts, &code);
  if (!vm) return code;
  ConsoleWriter& console = *vm->console;
  if (!record) {
    auto machine = vmm::Machine::Boot(*vm->kvm, std::move(vm->guest), ConsoleOf(console));
    if (!machine.ok()) return BootFailure(machine.status());
    return Drive(**machine, console, opts);
  }
  replay::RecordOptions ropt;
  ropt.open_sink =
      [path = opts.log](
          const proto::LogHeader& header) -> absl::StatusOr<std::unique_ptr<replay::LogSink>> {
    auto w = replay::LogWriter::Create(path, header);
    if (!w.ok()) return w.status();
    return std::unique_ptr<replay::LogSink>(*std::move(w));
  };
  ropt.epoch_interval_ns = opts.epoch_ms * 1'000'000;
  ropt.disk_path = opts.disk;
  auto session =
      replay::RecordSession::Boot(std::move(vm->kvm), std::move(vm->guest), std::move(vm->image),
                                  ConsoleOf(console), std::move(ropt));
  if (!session.ok()) return BootFailure(session.status());
  replay::RecordSession& rs = **session;
  if (auto s = rs.Start(); !s.ok()) return Fail(kExitUsage, s);
  return Drive(rs.machine(), console, opts, [&rs, &opts](const vmm::RunOutcome& o) {
    auto s = rs.Finish(o);
    if (s.ok()) {
      std::fprintf(stderr, "ftd: recorded %llu entries (%llu epochs) to exit %llu in %s\n",
                   static_cast<unsigned long long>(rs.recorder().entries()),
                   static_cast<unsigned long long>(rs.recorder().epochs()),
                   static_cast<unsigned long long>(o.exit_index), opts.log.c_str());
    }
    return s;
  });
}

int ResumeCommand(const RunOptions& opts) {
  auto snap = vmm::ReadSnapshotFile(opts.snapshot);
  if (!snap.ok()) return Fail(CodeFor(snap.status()), snap.status());
  auto console = ConsoleWriter::Open(opts.console);
  if (!console.ok()) return Fail(kExitUsage, console.status());
  int code = 0;
  auto kvm = OpenKvm(opts, &code);
  if (!kvm.ok()) return Fail(code, kvm.status());
  auto machine = vmm::Machine::Restore(*kvm, *snap, ConsoleOf(**console));
  if (!machine.ok()) return Fail(CodeFor(machine.status()), machine.status());
  return Drive(**machine, **console, opts);
}

}  // namespace ftd::cli
