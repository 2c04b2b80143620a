// `ftd --role primary`: flags -> PrimaryRole (primary/primary_role.h), exit codes, signals.
#include <cstdio>

#include "cli/drive.h"
#include "cli/pair_command.h"
#include "cli/pair_common.h"
#include "primary/primary_role.h"

namespace ftd::cli {

int PrimaryCommand(const RunOptions& run, const PairOptions& pair) {
  if (auto s = CheckPairOptions(pair); !s.ok()) return Fail(kExitUsage, s);
  if (pair.peer.empty())
    return Fail(kExitUsage, absl::InvalidArgumentError("--role primary needs --peer HOST[:PORT]"));
  if (pair.disk_mode == "shared" && run.disk.empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "--disk-mode shared needs --disk PATH (the shared image)"));
  }
  auto max_bytes = ParseSize(pair.max_unacked_bytes);
  if (!max_bytes || *max_bytes == 0 || pair.max_unacked_entries == 0) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "--max-unacked-entries/--max-unacked-bytes must be positive"));
  }
  auto promotion = failover::Promotion::Open(pair.arbiter, NodeName(pair), "primary");
  if (!promotion.ok()) return Fail(kExitUsage, promotion.status());
  // The start rule first, before the tap, the disk or KVM are touched: a refused start
  // changes nothing on this host or at the arbiter (docs/pair.md "Start").
  if (auto s = (*promotion)->PrepareNewPrimary(); !s.ok()) {
    std::fprintf(stderr, "ftd: halted: %s\n", std::string(s.message()).c_str());
    return kExitFenced;
  }
  int code = 0;
  auto vm = PrepareFromOptions(run, &code);  // outlives the role: the machine writes to its console
  if (!vm) return code;

  primary::PrimaryOptions o;
  o.client.target = WithDefaultPort(pair.peer);
  SetLinkOptions(pair, o.client);
  o.limits = {pair.max_unacked_entries, *max_bytes, pair.max_lag_entries};
  o.disk_mode = pair.disk_mode;
  o.disk_path = run.disk;
  o.log_path = run.log;
  o.epoch_interval_ns = run.epoch_ms * 1'000'000;
  o.peer_wait = std::chrono::seconds(pair.peer_wait_s);
  o.status_path = StatusPath(pair);
  o.stop_requested = TerminationRequested;
  primary::PrimaryRole role(std::move(o), *std::move(promotion));
  if (auto s = role.Boot(std::move(vm->kvm), std::move(vm->guest), std::move(vm->image),
                         ConsoleOf(*vm->console));
      !s.ok()) {
    return BootFailure(s);
  }
  SetSignalTarget(&role.machine());  // a signal now stops the wait for the backup, then the machine
  if (auto s = role.Protect(); !s.ok()) {
    if (s.code() != absl::StatusCode::kPermissionDenied) return Fail(kExitInternal, s);
    std::fprintf(stderr, "ftd: halted: %s\n", std::string(s.message()).c_str());
    return kExitFenced;
  }
  int rc = Drive(
      role.machine(), *vm->console, run,
      [&role](const vmm::RunOutcome& o) { return role.Finish(o); },
      [&role] { return role.JoinAtStop(); });
  SetSignalTarget(nullptr);
  role.Close();
  return role.fenced() ? kExitFenced : rc;
}

}  // namespace ftd::cli
