// ftd: the fault-tolerance daemon. This file only parses the command line.
#include <signal.h>

#include "CLI/CLI.hpp"
#include "cli/config_file.h"
#include "cli/daemon_options.h"
#include "cli/pair_command.h"
#include "cli/replay_command.h"
#include "cli/run_command.h"
#include "cli/status_command.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace {

bool DaemonMode(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--role" || a.rfind("--role=", 0) == 0) return true;
    if (a == "--config" || a.rfind("--config=", 0) == 0) return true;  // the role may be in it
  }
  return false;
}

// `ftd --role primary|backup ...`: the fault-tolerant pair.
int DaemonMain(int argc, char** argv) {
  CLI::App app{"ftd --role primary|backup: one host of a fault-tolerant VM pair"};
  ftd::cli::DaemonFlags f;
  ftd::cli::AddDaemonOptions(app, f);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {  // names the file and the line
    std::fprintf(stderr, "ftd: error: %s\n", e.what());
    return ftd::cli::kExitUsage;
  } catch (const CLI::FileError& e) {
    std::fprintf(stderr, "ftd: error: --config: %s\n", e.what());
    return ftd::cli::kExitNoInput;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "ftd: error: %s\n",
                 ftd::cli::DescribeParseError(app, e, argc, argv).c_str());
    return ftd::cli::kExitUsage;
  }
  if (f.verbose) spdlog::set_level(spdlog::level::info);
  if (f.pair.role == "primary") {
    if (f.run.guest.empty()) {
      std::fprintf(stderr, "ftd: error: --role primary needs --guest IMAGE\n");
      return ftd::cli::kExitUsage;
    }
    return ftd::cli::PrimaryCommand(f.run, f.pair);
  }
  return ftd::cli::BackupCommand(f.run, f.pair);
}

}  // namespace

int main(int argc, char** argv) {
  // Standard output carries only the guest's console: ftd's own messages go to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("ftd"));
  spdlog::set_pattern("ftd: %l: %v");
  spdlog::set_level(spdlog::level::warn);
  signal(SIGPIPE, SIG_IGN);
  ftd::cli::InstallTerminationHandlers();
  if (DaemonMode(argc, argv)) return DaemonMain(argc, argv);

  CLI::App app{
      "ftd: fault-tolerant KVM virtual machines (record, replay, protect)\n"
      "The pair: ftd --role primary --peer HOST ... / ftd --role backup ... (ftd --role primary "
      "--help)"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log what ftd does to standard error");

  ftd::cli::RunOptions run;
  auto add_run_options = [&run](CLI::App* cmd) {
    cmd->add_option("--console", run.console, "guest console: stdio or file:PATH")
        ->capture_default_str();
    cmd->add_option("--save-at-exit", run.save_at_exit,
                    "stop after the guest's Nth exit (a point) and save the machine to --save");
    cmd->add_option("--save", run.save_path,
                    "snapshot file written at --save-at-exit or on SIGINT/SIGTERM");
    cmd->add_flag("!--no-stdin", run.serial_stdin,
                  "do not feed standard input to the guest's serial port");
    cmd->add_option("--kvm", run.kvm_device, "the KVM device")->capture_default_str();
  };

  CLI::App* run_cmd = app.add_subcommand("run", "run a Multiboot guest unprotected on this host");
  run_cmd->add_option("--guest", run.guest, "Multiboot image (ELF with the a.out kludge, or ELF32)")
      ->required();
  run_cmd->add_option("--mem", run.mem, "guest RAM, e.g. 64M or 1G")->capture_default_str();
  run_cmd->add_option("--cmdline", run.cmdline, "the guest's Multiboot command line");
  run_cmd->add_option(
      "--disk", run.disk,
      "raw disk image (size a multiple of 512) as virtio-blk at 0xd0000000, IRQ 10");
  run_cmd->add_flag("--disk-readonly", run.disk_readonly,
                    "open --disk read-only (VIRTIO_BLK_F_RO)");
  run_cmd
      ->add_option("--net", run.net,
                   "virtio-net back end at 0xd0000200, IRQ 11: none or tap:IFNAME")
      ->capture_default_str();
  run_cmd->add_option("--mac", run.mac, "the virtio-net MAC address")->capture_default_str();
  add_run_options(run_cmd);

  CLI::App* record_cmd =
      app.add_subcommand("record", "run a guest and record its inputs to an event log");
  record_cmd->add_option("--guest", run.guest, "Multiboot image")->required();
  record_cmd->add_option("--log", run.log, "the event log to write")->required();
  record_cmd->add_option("--epoch-ms", run.epoch_ms, "guest time between epoch hashes")
      ->capture_default_str();
  record_cmd->add_option("--mem", run.mem, "guest RAM, e.g. 64M or 1G")->capture_default_str();
  record_cmd->add_option("--cmdline", run.cmdline, "the guest's Multiboot command line");
  record_cmd->add_option("--disk", run.disk, "raw disk image as virtio-blk");
  record_cmd->add_flag("--disk-readonly", run.disk_readonly, "open --disk read-only");
  record_cmd->add_option("--net", run.net, "none or tap:IFNAME")->capture_default_str();
  record_cmd->add_option("--mac", run.mac, "the virtio-net MAC address")->capture_default_str();
  add_run_options(record_cmd);

  CLI::App* replay_cmd =
      app.add_subcommand("replay", "replay an event log exactly; inspect; go live");
  replay_cmd->add_option("--log", run.log, "the event log")->required();
  replay_cmd->add_option("--guest", run.guest, "the image the log was recorded with")->required();
  replay_cmd->add_option("--disk", run.disk,
                         "a copy of the disk as it was when recording began (needed to go live)");
  replay_cmd->add_option("--until", run.until, "stop after this exit (point)");
  replay_cmd->add_option("--inspect", run.inspect, "at --until: regs, devices or mem:HEXADDR:LEN");
  replay_cmd->add_option("--go-live-at", run.go_live_at, "switch to real inputs after this exit");
  replay_cmd->add_flag("--go-live", run.go_live, "switch to real inputs at the end of the log");
  replay_cmd->add_option("--checkpoint-at", run.checkpoint_at,
                         "save the state at these exits (the first quiet point at or after each) "
                         "as DIR/exit-N.snap, and replay on")
      ->delimiter(',');
  replay_cmd->add_option("--checkpoint-dir", run.checkpoint_dir, "where --checkpoint-at writes");
  replay_cmd->add_option("--from", run.from,
                         "replay the rest of the log from a --checkpoint-at snapshot (no --disk)");
  replay_cmd->add_option("--gdb", run.gdb,
                         "serve the gdb remote protocol on [ADDR:]PORT (reverse execution too)");
  replay_cmd->add_option("--assert", run.asserts,
                         "an expression over registers ($rip) and guest memory by symbol that "
                         "must hold (repeatable); the replay stops where it fails");
  replay_cmd->add_option("--assert-at", run.assert_at,
                         "where --assert is checked: every-point, epoch or a SYMBOL's code")
      ->capture_default_str();
  replay_cmd->add_flag("--replay-asserts", run.replay_asserts,
                       "check the guest's FTD_REPLAY_ASSERT sites (compiled in, free when recording)");
  replay_cmd->add_option("--checkpoint-every", run.checkpoint_every,
                         "--gdb: points between the checkpoints reverse execution starts from")
      ->capture_default_str();
  replay_cmd->add_option("--net", run.net,
                         "after go-live: none or tap:IFNAME (default: as recorded)");
  add_run_options(replay_cmd);

  CLI::App* log_cmd = app.add_subcommand("log", "event log tools");
  CLI::App* log_info_cmd =
      log_cmd->add_subcommand("info", "header, entry counts by type, bytes, guest time");
  std::string log_path;
  log_info_cmd->add_option("LOG", log_path, "the event log")->required();
  bool log_epochs = false, log_entries = false;
  log_info_cmd->add_flag("--epochs", log_epochs, "print every epoch hash's point and registers");
  log_info_cmd->add_flag("--entries", log_entries, "print every entry (frames as printable text)");
  log_cmd->require_subcommand(1);

  CLI::App* resume_cmd = app.add_subcommand("resume", "continue a machine saved by run --save");
  resume_cmd->add_option("--snapshot", run.snapshot, "snapshot file")->required();
  add_run_options(resume_cmd);

  CLI::App* status_cmd =
      app.add_subcommand("status", "what a running `ftd --role` reports about itself");
  std::string status_file = "/run/ftd/ftd-primary.status";
  bool status_json = false;
  status_cmd->add_option("--status-file", status_file, "the daemon's --status-file")
      ->capture_default_str();
  status_cmd->add_flag("--json", status_json, "print the raw JSON report");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? 0 : ftd::cli::kExitUsage;
  }
  if (verbose) spdlog::set_level(spdlog::level::info);
  if (*run_cmd) return ftd::cli::RunCommand(run);
  if (*record_cmd) return ftd::cli::RunCommand(run, /*record=*/true);
  if (*replay_cmd) return ftd::cli::ReplayCommand(run);
  if (*log_info_cmd) return ftd::cli::LogInfoCommand(log_path, log_epochs, log_entries);
  if (*resume_cmd) return ftd::cli::ResumeCommand(run);
  if (*status_cmd) return ftd::cli::StatusCommand(status_file, status_json);
  return ftd::cli::kExitUsage;
}
