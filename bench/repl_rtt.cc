// The plain gRPC stream round trip output commit pays: the replication stream with no VM
// behind it. `repl_rtt server ADDR:PORT` acknowledges entries as a backup does (and nothing
// else); `repl_rtt client ADDR:PORT N` sends N single-entry batches, each after the previous
// one was acknowledged, and prints the round trips as a table and one JSON line.
// TLS as the pair uses it: --ca F --cert F --key F, or --insecure.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backup/replication_server.h"
#include "primary/replication_client.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: repl_rtt server ADDR:PORT [--insecure | --ca F --cert F --key F]\n"
               "       repl_rtt client ADDR:PORT N [--insecure | --ca F --cert F --key F]\n");
  return 64;
}

volatile sig_atomic_t g_stop = 0;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string mode = argv[1], addr = argv[2];
  int n = 0;
  int first_opt = 3;
  if (mode == "client") {
    if (argc < 4 || (n = std::atoi(argv[3])) <= 0 || n > 1000000) return Usage();
    first_opt = 4;
  } else if (mode != "server") {
    return Usage();
  }
  bool insecure = false;
  ftd::repl::TlsFiles tls;
  for (int i = first_opt; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--insecure")
      insecure = true;
    else if (a == "--ca" && i + 1 < argc)
      tls.ca_cert = argv[++i];
    else if (a == "--cert" && i + 1 < argc)
      tls.cert = argv[++i];
    else if (a == "--key" && i + 1 < argc)
      tls.key = argv[++i];
    else
      return Usage();
  }
  if (mode == "server") {
    ftd::backup::ReplicationServerOptions o;
    o.listen_address = addr;
    o.insecure = insecure;
    o.tls = tls;
    ftd::backup::ReplicationCallbacks cb;
    cb.on_entries = [](const auto&) { return absl::OkStatus(); };
    cb.on_state = [](uint64_t, const std::string&, bool, uint64_t) { return absl::OkStatus(); };
    auto server = ftd::backup::ReplicationServer::Start(o, cb);
    if (!server.ok()) {
      std::fprintf(stderr, "repl_rtt: %s\n", std::string(server.status().message()).c_str());
      return 1;
    }
    signal(SIGTERM, [](int) { g_stop = 1; });
    signal(SIGINT, [](int) { g_stop = 1; });
    std::fprintf(stderr, "repl_rtt: listening on port %d\n", (*server)->port());
    for (int i = 0; i < 36000 && !g_stop; ++i) usleep(100'000);  // at most an hour
    return 0;
  }
  ftd::primary::ReplicationClientOptions o;
  o.target = addr;
  o.insecure = insecure;
  o.tls = tls;
  o.vm_id = "rtt";
  o.generation = 1;
  auto client = ftd::primary::ReplicationClient::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "repl_rtt: %s\n", std::string(client.status().message()).c_str());
    return 1;
  }
  auto& c = **client;
  // An empty state transfer starts a log at seq 1, as the pair does.
  if (!c.EnqueueStateChunk(0, "", true).ok() || !c.WaitForStateAck(std::chrono::seconds(10))) {
    std::fprintf(stderr, "repl_rtt: the server did not take the state transfer\n");
    return 1;
  }
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    ftd::proto::LogEntry e;
    e.set_seq(c.next_seq());
    e.set_exit_index(i);
    e.mutable_clock()->set_monotonic_ns(i);
    const uint64_t seq = e.seq();
    auto t0 = std::chrono::steady_clock::now();
    if (!c.Enqueue(std::move(e)).ok() || !c.WaitForAck(seq, std::chrono::seconds(10))) {
      std::fprintf(stderr, "repl_rtt: no ack for seq %llu\n", static_cast<unsigned long long>(seq));
      return 1;
    }
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  c.Close().IgnoreError();
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size() / 100))];
  };
  std::printf(
      "grpc stream round trip (%d acks): p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us\n", n,
      pct(50), pct(90), pct(99), us.back());
  std::printf(
      "{\"grpc_rtt_n\":%d,\"grpc_rtt_p50_us\":%.1f,\"grpc_rtt_p90_us\":%.1f,\"grpc_rtt_p99_us\":%."
      "1f}\n",
      n, pct(50), pct(90), pct(99));
  return 0;
}
