// Pieces the ftd commands share: error reporting with ftd's exit codes, opening KVM,
// and driving a machine to its outcome (signals, stdin, snapshots on stop).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/console.h"
#include "cli/run_command.h"
#include "log.pb.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"

namespace ftd::cli {

// Prints "ftd: error: ..." and returns `code`.
int Fail(int code, const absl::Status& s);
// The exit code for an error about the user's input (missing, unreadable, malformed).
int CodeFor(const absl::Status& s);
absl::StatusOr<vmm::Kvm> OpenKvm(const RunOptions& opts, int* code);
// Runs `m` until its outcome and turns it into ftd's exit code; `on_outcome` (optional)
// sees the outcome first (the recorder closes its log there).
// `resume_after_stop` (optional) is asked at a stop at a point that --save-at did not ask
// for (Machine::RequestStopAtPoint from another thread): true, it did its work there and the
// machine runs on.
int Drive(vmm::Machine& m, ConsoleWriter& console, const RunOptions& opts,
          const std::function<absl::Status(const vmm::RunOutcome&)>& on_outcome = nullptr,
          const std::function<bool()>& resume_after_stop = nullptr);
// What `run`-style options give before a machine exists: KVM, the console, the image and
// the guest loaded into its memory.
struct PreparedVm {
  std::unique_ptr<vmm::Kvm> kvm;
  std::unique_ptr<ConsoleWriter> console;
  std::vector<uint8_t> image;
  vmm::LoadedGuest guest;
};
// Checks the options, loads the guest, opens the console and KVM. On failure the error is
// printed and *code is ftd's exit code.
std::optional<PreparedVm> PrepareFromOptions(const RunOptions& opts, int* code);
// Prints a failure to build the machine and returns its exit code (the user's disk or tap
// that cannot be opened: the user's; anything else: internal).
int BootFailure(const absl::Status& s);
// The machine's console output, written to `console` (which must outlive the machine).
vmm::ConsoleOutput ConsoleOf(ConsoleWriter& console);
// --net: "none" or "tap:IFNAME".
absl::Status CheckNetOption(const std::string& net);
// SIGINT/SIGTERM stop `m` (nullptr: nothing to stop) while it runs outside Drive().
void SetSignalTarget(vmm::Machine* m);
// SIGINT/SIGTERM also call `hook` (async-signal-safe code only; nullptr: none).
void SetTerminateHook(void (*hook)());
// Whether SIGINT/SIGTERM came.
bool TerminationRequested();
}  // namespace ftd::cli
