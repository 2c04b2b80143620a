// `ftd run` and `ftd resume`: an unprotected VM on this host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ftd::cli {

// Exit codes of ftd itself (sysexits.h); otherwise ftd exits with the guest's
// debug-exit status (low 8 bits).
inline constexpr int kExitUsage = 64;
inline constexpr int kExitBadImage = 65;    // EX_DATAERR: invalid image or snapshot
inline constexpr int kExitNoInput = 66;     // EX_NOINPUT: missing image or snapshot
inline constexpr int kExitNoKvm = 69;       // EX_UNAVAILABLE: no /dev/kvm
inline constexpr int kExitInternal = 70;    // EX_SOFTWARE: the VM failed
inline constexpr int kExitGuestCrash = 71;  // the guest triple-faulted or hung
inline constexpr int kExitNoPerm = 77;      // EX_NOPERM: /dev/kvm not accessible
inline constexpr int kExitDivergence = 76;  // EX_PROTOCOL: a replay diverged from its log

struct RunOptions {
  std::string guest;     // run: image path
  std::string snapshot;  // resume: snapshot path
  std::string mem = "64M";
  std::string cmdline;
  std::string console = "stdio";
  std::optional<uint64_t> save_at_exit;  // stop after this point and save
  std::string save_path;
  bool serial_stdin = true;
  std::string kvm_device = "/dev/kvm";
  std::string disk;                       // run: raw image for virtio-blk (empty: none)
  bool disk_readonly = false;             // run: open the image read-only (VIRTIO_BLK_F_RO)
  std::string net = "none";               // run: "none" or "tap:IFNAME"
  std::string mac = "52:54:00:12:34:56";  // run: the virtio-net MAC
  // record / replay
  std::string log;                     // the event log
  uint64_t epoch_ms = 100;             // record: guest time between epoch hashes
  std::optional<uint64_t> until;       // replay: stop after this exit
  std::string inspect;                 // replay: regs | devices | mem:ADDR:LEN at the stop
  std::optional<uint64_t> go_live_at;  // replay: switch to real inputs after this exit
  bool go_live = false;                // replay: switch to real inputs at the end of the log
  std::vector<uint64_t> checkpoint_at;  // replay: save the state at these exits (or just after)
  std::string checkpoint_dir = ".";     // replay: where --checkpoint-at writes exit-N.snap
  std::string from;                     // replay: continue from a --checkpoint-at snapshot
  // replay debugging (docs/debug.md)
  std::string gdb;                     // replay: serve gdb on [ADDR:]PORT
  std::vector<std::string> asserts;    // replay: --assert EXPR (repeatable)
  std::string assert_at = "every-point";  // replay: every-point | epoch | SYMBOL
  bool replay_asserts = false;         // replay: check the guest's FTD_REPLAY_ASSERTs
  uint64_t checkpoint_every = 2000;    // replay --gdb: points between checkpoints
  bool debugging() const { return !gdb.empty() || !asserts.empty() || replay_asserts; }
};

// Parses sizes like "64M", "1G", "65536" (bytes); nullopt when malformed.
std::optional<uint64_t> ParseSize(const std::string& s);

// Installs the SIGINT/SIGTERM handlers; call first thing in main, so a signal that comes
// while the machine is being built still stops (and saves) it instead of killing ftd.
void InstallTerminationHandlers();

// `run`, and `record` when opts.log is set.
int RunCommand(const RunOptions& opts, bool record = false);
int ResumeCommand(const RunOptions& opts);

}  // namespace ftd::cli
