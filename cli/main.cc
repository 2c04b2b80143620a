// ftd: the fault-tolerance daemon. This file only parses the command line.
#include <signal.h>

#include "CLI/CLI.hpp"
#include "cli/run_command.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  // Standard output carries only the guest's console: ftd's own messages go to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("ftd"));
  spdlog::set_pattern("ftd: %l: %v");
  spdlog::set_level(spdlog::level::warn);
  signal(SIGPIPE, SIG_IGN);
  ftd::cli::InstallTerminationHandlers();

  CLI::App app{"ftd: fault-tolerant KVM virtual machines (record, replay, protect)"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log what ftd does to standard error");

  ftd::cli::RunOptions run;
  auto add_run_options = [&run](CLI::App* cmd) {
    cmd->add_option("--console", run.console, "guest console: stdio or file:PATH")->capture_default_str();
    cmd->add_option("--save-at-exit", run.save_at_exit,
                    "stop after the guest's Nth exit (a point) and save the machine to --save");
    cmd->add_option("--save", run.save_path, "snapshot file written at --save-at-exit or on SIGINT/SIGTERM");
    cmd->add_flag("!--no-stdin", run.serial_stdin, "do not feed standard input to the guest's serial port");
    cmd->add_option("--kvm", run.kvm_device, "the KVM device")->capture_default_str();
  };

  CLI::App* run_cmd = app.add_subcommand("run", "run a Multiboot guest unprotected on this host");
  run_cmd->add_option("--guest", run.guest, "Multiboot image (ELF with the a.out kludge, or ELF32)")->required();
  run_cmd->add_option("--mem", run.mem, "guest RAM, e.g. 64M or 1G")->capture_default_str();
  run_cmd->add_option("--cmdline", run.cmdline, "the guest's Multiboot command line");
  run_cmd->add_option("--disk", run.disk,
                      "raw disk image (size a multiple of 512) as virtio-blk at 0xd0000000, IRQ 10");
  run_cmd->add_flag("--disk-readonly", run.disk_readonly, "open --disk read-only (VIRTIO_BLK_F_RO)");
  run_cmd->add_option("--net", run.net, "virtio-net back end at 0xd0000200, IRQ 11: none or tap:IFNAME")
      ->capture_default_str();
  run_cmd->add_option("--mac", run.mac, "the virtio-net MAC address")->capture_default_str();
  add_run_options(run_cmd);

  CLI::App* resume_cmd = app.add_subcommand("resume", "continue a machine saved by run --save");
  resume_cmd->add_option("--snapshot", run.snapshot, "snapshot file")->required();
  add_run_options(resume_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? 0 : ftd::cli::kExitUsage;
  }
  if (verbose) spdlog::set_level(spdlog::level::info);
  if (*run_cmd) return ftd::cli::RunCommand(run);
  if (*resume_cmd) return ftd::cli::ResumeCommand(run);
  return ftd::cli::kExitUsage;
}
