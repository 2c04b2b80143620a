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
int Drive(vmm::Machine& m, ConsoleWriter& console, const RunOptions& opts,
          const std::function<absl::Status(const vmm::RunOutcome&)>& on_outcome = nullptr);
// A machine booted from `run`-style options, with what it needs to live.
struct BootedVm {
  std::unique_ptr<vmm::Kvm> kvm;
  std::unique_ptr<ConsoleWriter> console;
  std::vector<uint8_t> image;
  std::unique_ptr<vmm::Machine> machine;  // last: destroyed first
};
// Checks the options, loads the guest, opens the console and KVM and boots the machine
// with `input` (nullptr: live) and `gate` (nullptr: outputs leave at once). On failure the
// error is printed and *code is ftd's exit code.
std::optional<BootedVm> BootFromOptions(const RunOptions& opts, std::unique_ptr<vmm::InputSource> input,
                                        vmm::OutputGate* gate, int* code);
// --net: "none" or "tap:IFNAME".
absl::Status CheckNetOption(const std::string& net);
// SIGINT/SIGTERM stop `m` (nullptr: nothing to stop) while it runs outside Drive().
void SetSignalTarget(vmm::Machine* m);
// SIGINT/SIGTERM also call `hook` (async-signal-safe code only; nullptr: none).
void SetTerminateHook(void (*hook)());
// Whether SIGINT/SIGTERM came.
bool TerminationRequested();
// The log header of a recording of `m`, booted from `image`.
absl::StatusOr<proto::LogHeader> RecordingHeader(vmm::Machine& m, std::span<const uint8_t> image,
                                                 const RunOptions& opts);

}  // namespace ftd::cli
