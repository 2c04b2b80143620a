#include "cli/debug_command.h"

#include <cstdio>

#include "cli/drive.h"
#include "replay/debug/debugger.h"
#include "replay/debug/elf_symbols.h"
#include "replay/debug/gdb_server.h"
#include "replay/debug/replay_asserts.h"

namespace ftd::cli {

int DebugCommand(const RunOptions& opts, std::unique_ptr<replay::ReplaySession> session,
                 std::span<const uint8_t> image) {
  using namespace replay::debug;
  if (!opts.inspect.empty() || opts.go_live || opts.go_live_at) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "--gdb/--assert/--replay-asserts go with neither --inspect nor "
                                "--go-live (gdb inspects; `monitor point N` moves)"));
  }
  auto symbols = ElfSymbols::Load(image);
  if (!symbols.ok() && (!opts.asserts.empty() || opts.replay_asserts)) {
    return Fail(kExitBadImage, symbols.status());
  }
  std::unique_ptr<GdbServer> server;
  if (!opts.gdb.empty()) {  // listen first: a bad address fails before any replaying
    auto s = GdbServer::Listen(opts.gdb);
    if (!s.ok()) return Fail(kExitUsage, s.status());
    server = std::move(*s);
  }
  DebuggerOptions dopt;
  dopt.checkpoint_every = opts.checkpoint_every;
  dopt.point_granularity = !KvmTrapsRing3();
  auto dbg = Debugger::Create(std::move(session), dopt);
  if (!dbg.ok()) return Fail(kExitInternal, dbg.status());
  Debugger& d = **dbg;
  auto failed = [&](const absl::Status& s) {
    return Fail(s.code() == absl::StatusCode::kAborted ? kExitDivergence : kExitInternal, s);
  };
  if (opts.until) {
    auto stop = d.RunToPoint(*opts.until);
    if (!stop.ok()) return failed(stop.status());
  }
  int code = 0;
  if (!opts.asserts.empty() || opts.replay_asserts) {
    AssertOptions aopt{opts.asserts, opts.assert_at, opts.replay_asserts};
    uint64_t checks = 0;
    auto f = RunAsserts(d, *symbols, aopt, &checks);
    if (!f.ok()) {
      return f.status().code() == absl::StatusCode::kInvalidArgument ? Fail(kExitUsage, f.status())
                                                                       : failed(f.status());
    }
    if (f->has_value()) {
      std::fprintf(stderr, "ftd: %s\n", (*f)->report.c_str());
      code = 1;
    } else {
      std::fprintf(stderr,
                   "ftd: replay asserts: %llu checks held to the end of the recording (%s)\n",
                   static_cast<unsigned long long>(checks), Describe(d.position()).c_str());
    }
  }
  if (server) {
    std::fprintf(stderr, "ftd: gdb server on %s:%u at %s (gdb: target remote %s:%u)%s\n",
                 server->address().c_str(), server->port(), Describe(d.position()).c_str(),
                 server->address().c_str(), server->port(),
                 dopt.point_granularity ? "; this KVM traps at points only" : "");
    std::fflush(stderr);
    if (auto s = server->Serve(d); !s.ok()) return Fail(kExitInternal, s);
    std::fprintf(stderr, "ftd: gdb detached at %s; %llu epoch hashes verified\n",
                 Describe(d.position()).c_str(),
                 static_cast<unsigned long long>(d.session().replayer().epochs_checked()));
  }
  return code;
}

}  // namespace ftd::cli
