// ftkv: a client, load generator and history checker for the guest's kv service. This file
// only parses the command line; see tools/ftkv/README.md.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "CLI/CLI.hpp"
#include "fmt/format.h"
#include "tools/ftkv/checker.h"
#include "tools/ftkv/client.h"
#include "tools/ftkv/fake_server.h"
#include "tools/ftkv/history.h"
#include "tools/ftkv/load.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

using namespace ftd::ftkv;

int Check(const std::string& path, bool all) {
  auto history = ReadHistoryFile(path);
  if (!history.ok()) {
    fmt::print(stderr, "ftkv check: {}\n", std::string(history.status().message()));
    return history.status().code() == absl::StatusCode::kNotFound ? kExitNoInput : kExitDataErr;
  }
  auto res = CheckHistory(*history);
  if (!res.ok()) {
    fmt::print(stderr, "ftkv check: {}: {}\n", path, std::string(res.status().message()));
    return kExitDataErr;
  }
  if (!res->violations.empty()) {
    size_t shown = all ? std::min<size_t>(res->violations.size(), 1000) : 1;
    for (size_t i = 0; i < shown; ++i) {
      fmt::print("ftkv check: {}: VIOLATION {}\n", path, res->violations[i].message);
    }
    fmt::print("ftkv check: {}: {}{}\n", path, res->Summary(),
               all || res->violations.size() == 1 ? "" : " (--all lists them)");
    return kExitViolation;
  }
  fmt::print("ftkv check: {}: {}\n", path, res->Summary());
  return kExitOk;
}

int Serve(FakeServerOptions o, double duration_s) {
  FakeKvServer server(o);
  if (auto s = server.Start(); !s.ok()) {
    fmt::print(stderr, "ftkv serve: {}\n", std::string(s.message()));
    return kExitInternal;
  }
  fmt::print(stderr, "ftkv serve: fake kv server on {}:{} (drop requests {}, replies {})\n",
             o.address, server.port(), o.drop_requests, o.drop_replies);
  auto t0 = std::chrono::steady_clock::now();
  // Runs until SIGINT/SIGTERM or --duration.
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (duration_s > 0 && el >= duration_s) break;
  }
  server.Stop();
  fmt::print(stderr, "ftkv serve: {} requests received, {} dropped\n", server.requests_received(),
             server.requests_dropped());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  CLI::App app{
      "ftkv: client, load generator and history checker for the ftd guest's kv service (UDP)\n"
      "  ftkv HOST set|get|incr|del KEY [VALUE]   one request\n"
      "  ftkv HOST load --clients N --duration S --history FILE   load, recording a history\n"
      "  ftkv check FILE                          check a history\n"
      "  ftkv serve                               a fake kv server (for testing clients)"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string host;
  uint16_t port = kDefaultPort;
  app.add_option("host", host, "the kv server (IPv4 address or name)");
  app.add_option("--port", port, "the kv server's UDP port")->capture_default_str();

  OpOptions op;
  auto add_op = [&](const std::string& name, Op kind, const std::string& help) {
    CLI::App* cmd = app.add_subcommand(name, help);
    cmd->add_option("key", op.key, "the key")->required();
    if (kind == Op::kSet) cmd->add_option("value", op.value, "the value")->required();
    cmd->add_option("--timeout", op.timeout_s, "give up after this many seconds")
        ->capture_default_str();
    cmd->add_option("--try", op.try_s, "resend (same ids) after this many seconds")
        ->capture_default_str();
    cmd->add_option("--client-id", op.client, "client id (default: from pid and time)");
    cmd->add_option("--request-no", op.seq, "request number (default: CLOCK_REALTIME ns)");
    cmd->callback([&op, kind] { op.op = kind; });
    return cmd;
  };
  CLI::App* set_cmd = add_op("set", Op::kSet, "SET KEY VALUE");
  CLI::App* get_cmd = add_op("get", Op::kGet, "GET KEY");
  CLI::App* incr_cmd = add_op("incr", Op::kIncr, "INCR KEY");
  CLI::App* del_cmd = add_op("del", Op::kDel, "DEL KEY");

  LoadOptions load;
  CLI::App* load_cmd =
      app.add_subcommand("load", "concurrent clients; records a history for check");
  load_cmd->add_option("--clients", load.clients, "concurrent clients (1..1000)")
      ->capture_default_str();
  load_cmd->add_option("--duration", load.duration_s, "seconds during which requests start")
      ->required();
  load_cmd->add_option("--rate", load.rate, "requests/s over all clients (0: closed loop)")
      ->capture_default_str();
  load_cmd->add_option("--history", load.history, "history file to write")->required();
  load_cmd->add_option("--keys", load.keys, "keys per kind (k0.. and c0..)")->capture_default_str();
  load_cmd->add_option("--seed", load.seed, "seed of the operation mix")->capture_default_str();
  load_cmd->add_option("--try", load.try_s, "resend an unanswered request after this long")
      ->capture_default_str();
  load_cmd->add_option("--grace", load.grace_s, "seconds to wait for replies after --duration")
      ->capture_default_str();
  load_cmd->add_option("--prefix", load.key_prefix, "key prefix (default: fresh per run)");
  load_cmd->add_option("--client-base", load.client_base,
                       "first client id (default: fresh per run)");

  std::string history_path;
  bool all = false;
  CLI::App* check_cmd = app.add_subcommand("check", "check a history written by load");
  check_cmd->add_option("file", history_path, "the history")->required();
  check_cmd->add_flag("--all", all, "list every violation (up to 1000), not just the first");

  FakeServerOptions serve;
  serve.address = "0.0.0.0";
  double serve_duration = 0;
  CLI::App* serve_cmd = app.add_subcommand("serve", "run a fake kv server (testing aid)");
  serve_cmd->add_option("--bind", serve.address, "IPv4 address to bind")->capture_default_str();
  serve_cmd->add_option("--drop-requests", serve.drop_requests, "fraction of requests ignored");
  serve_cmd->add_option("--drop-replies", serve.drop_replies, "fraction of replies not sent");
  serve_cmd->add_option("--seed", serve.seed, "seed of the drops");
  serve_cmd->add_option("--duration", serve_duration,
                        "stop after this many seconds (0: on SIGINT)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  bool needs_host = !(*check_cmd || *serve_cmd);
  if (needs_host && host.empty()) {
    fmt::print(stderr, "ftkv: this command needs HOST first: ftkv HOST {} ...\n",
               app.get_subcommands().front()->get_name());
    return kExitUsage;
  }
  if (!needs_host && !host.empty()) {
    fmt::print(stderr, "ftkv: {} takes no HOST\n", app.get_subcommands().front()->get_name());
    return kExitUsage;
  }

  if (*set_cmd || *get_cmd || *incr_cmd || *del_cmd) {
    op.host = host;
    op.port = port;
    OpResult r = RunOp(op);
    if (!r.out.empty()) fmt::print("{}\n", r.out);
    if (!r.err.empty()) fmt::print(stderr, "ftkv: {}\n", r.err);
    return r.exit_code;
  }
  if (*load_cmd) {
    load.host = host;
    load.port = port;
    load.stop = &g_stop;
    auto rep = RunLoad(load);
    if (!rep.ok()) {
      fmt::print(stderr, "ftkv load: {}\n", std::string(rep.status().message()));
      switch (rep.status().code()) {
        case absl::StatusCode::kInvalidArgument:
          return kExitUsage;
        case absl::StatusCode::kPermissionDenied:
        case absl::StatusCode::kDataLoss:
          return kExitCantCreate;
        default:
          return kExitInternal;
      }
    }
    fmt::print("{}{}\n", rep->Table(), rep->Json());
    std::fflush(stdout);
    if (rep->malformed > 0) {
      fmt::print(stderr, "ftkv load: {} malformed replies; the first: {}\n", rep->malformed,
                 rep->first_malformed);
      return kExitMalformed;
    }
    return kExitOk;
  }
  if (*check_cmd) return Check(history_path, all);
  if (*serve_cmd) {
    serve.port = port;
    return Serve(serve, serve_duration);
  }
  return kExitUsage;
}
