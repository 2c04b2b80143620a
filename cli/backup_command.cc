// `ftd --role backup`: flags -> BackupRole (backup/backup_role.h), exit codes, signals.
#include <cstdio>
#include <cstdlib>

#include "backup/backup_role.h"
#include "cli/drive.h"
#include "cli/pair_command.h"
#include "cli/pair_common.h"

namespace ftd::cli {
namespace {

std::atomic<backup::BackupRole*> g_role{nullptr};
void StopRole() {
  if (auto* r = g_role.load()) r->RequestStop();
}

}  // namespace

int BackupCommand(const RunOptions& run, const PairOptions& pair) {
  if (auto s = CheckPairOptions(pair); !s.ok()) return Fail(kExitUsage, s);
  if (!run.net.empty() && run.net != "none") {
    if (auto s = CheckNetOption(run.net); !s.ok()) return Fail(kExitUsage, s);
  }
  auto promotion = failover::Promotion::Open(pair.arbiter, NodeName(pair), "backup");
  if (!promotion.ok()) return Fail(kExitUsage, promotion.status());
  auto console = ConsoleWriter::Open(run.console);  // outlives the role
  if (!console.ok()) return Fail(kExitUsage, console.status());
  int code = 0;
  auto kvm = OpenKvm(run, &code);
  if (!kvm.ok()) return Fail(code, kvm.status());

  backup::BackupOptions o;
  o.server.listen_address = WithDefaultPort(pair.listen);
  SetLinkOptions(pair, o.server);
  o.disk = run.disk;
  o.net = run.net;
  o.restore_at_boot = getenv("FTD_BACKUP_RESTORE") != nullptr;
  o.status_path = StatusPath(pair);
  backup::BackupRole role(std::move(o), *std::move(promotion),
                          std::make_unique<vmm::Kvm>(*std::move(kvm)), ConsoleOf(**console));
  g_role.store(&role);
  SetTerminateHook(StopRole);
  struct Unhook {
    ~Unhook() {
      SetTerminateHook(nullptr);
      g_role.store(nullptr);
    }
  } unhook;

  if (auto s = role.Listen(); !s.ok()) return Fail(CodeFor(s), s);
  if (!role.WaitForPrimary()) return 0;  // stopped before any primary came
  if (auto s = role.StartReplay(); !s.ok()) return Fail(CodeFor(s), s);
  SetSignalTarget(&role.machine());
  auto end = role.Replay();
  SetSignalTarget(nullptr);
  if (!end.ok()) {
    if (end.status().code() != absl::StatusCode::kAborted) return Fail(kExitInternal, end.status());
    std::fprintf(stderr, "ftd: error: backup: %s\n", std::string(end.status().message()).c_str());
    return kExitDivergence;
  }
  if (*end == backup::ReplayEnd::kGuestExited) return static_cast<int>(role.exit_status() & 0xff);
  if (*end == backup::ReplayEnd::kStopped) return 0;
  if (auto s = role.GoLive(); !s.ok()) {
    if (s.code() != absl::StatusCode::kPermissionDenied) return Fail(kExitInternal, s);
    std::fprintf(stderr, "ftd: halted: %s\n", std::string(s.message()).c_str());
    return kExitFenced;
  }
  RunOptions live = run;
  live.save_at_exit.reset();
  int rc = Drive(role.machine(), **console, live);
  role.Close();
  return rc;
}

}  // namespace ftd::cli
