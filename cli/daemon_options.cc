#include "cli/daemon_options.h"

#include "cli/config_file.h"

namespace ftd::cli {

void AddDaemonOptions(CLI::App& app, DaemonFlags& f) {
  app.add_flag("-v,--verbose", f.verbose, "log what ftd does to standard error");
  app.add_option("--role", f.pair.role, "primary (runs the VM) or backup (replays it, takes over)")
      ->required()
      ->check(CLI::IsMember({"primary", "backup"}));
  app.add_option("--peer", f.pair.peer, "primary: the backup, HOST[:PORT] (port 7411 by default)");
  app.add_option("--listen", f.pair.listen, "backup: ADDR[:PORT] to listen on")
      ->capture_default_str();
  app.add_option("--guest", f.run.guest,
                 "primary: Multiboot image (the backup gets everything from the primary)");
  app.add_option("--mem", f.run.mem, "primary: guest RAM, e.g. 64M or 1G")->capture_default_str();
  app.add_option("--cmdline", f.run.cmdline, "primary: the guest's Multiboot command line");
  app.add_option(
      "--disk", f.run.disk,
      "the disk image: primary's image; backup's replica (replicated) or the shared image");
  app.add_option("--disk-mode", f.pair.disk_mode,
                 "replicated (each host its own copy) or shared (one image)")
      ->capture_default_str();
  app.add_option("--net", f.run.net, "none or tap:IFNAME (backup: default as on the primary)")
      ->capture_default_str();
  app.add_option("--mac", f.run.mac, "primary: the virtio-net MAC address")->capture_default_str();
  app.add_option("--epoch-ms", f.run.epoch_ms, "primary: guest time between epoch hashes")
      ->capture_default_str();
  app.add_option("--log", f.run.log,
                 "primary: also write the event log to this file (for ftd replay)");
  app.add_option("--arbiter", f.pair.arbiter,
                 "file:DIR on storage both hosts share (split-brain arbiter)");
  app.add_option("--node", f.pair.node, "this host's name at the arbiter (default: the hostname)");
  app.add_option("--vm-id", f.pair.vm_id, "the protected VM's name (both sides must agree)")
      ->capture_default_str();
  app.add_option("--ca", f.pair.ca, "the pair's CA certificate (PEM)");
  app.add_option("--cert", f.pair.cert, "this host's certificate (PEM)");
  app.add_option("--key", f.pair.key, "this host's private key (PEM)");
  app.add_flag("--insecure", f.pair.insecure,
               "plaintext replication without authentication (trusted labs only)");
  app.add_option("--heartbeat-ms", f.pair.heartbeat_ms, "heartbeat interval")->capture_default_str();
  app.add_option("--peer-timeout-ms", f.pair.peer_timeout_ms, "silence after which the peer is dead")
      ->capture_default_str();
  app.add_option("--peer-wait-s", f.pair.peer_wait_s,
                 "primary: how long to wait for the backup at start")
      ->capture_default_str();
  app.add_option("--max-unacked-entries", f.pair.max_unacked_entries,
                 "primary: unacknowledged log entries at which the guest pauses")
      ->capture_default_str();
  app.add_option(
         "--max-lag-entries", f.pair.max_lag_entries,
         "primary: entries the backup may hold unreplayed (bounds the failover time; 0: none)")
      ->capture_default_str();
  app.add_option("--max-unacked-bytes", f.pair.max_unacked_bytes,
                 "primary: unacknowledged log bytes at which the guest pauses")
      ->capture_default_str();
  app.add_option("--status-file", f.pair.status_file,
                 "where ftd keeps its status (default /run/ftd/ftd-ROLE.status)");
  app.add_option("--console", f.run.console, "guest console: stdio or file:PATH")
      ->capture_default_str();
  app.add_flag("--stdin,!--no-stdin", f.run.serial_stdin,
               "feed standard input to the guest's serial port");
  app.add_option("--kvm", f.run.kvm_device, "the KVM device")->capture_default_str();
  AddConfigOption(app);
}

}  // namespace ftd::cli
