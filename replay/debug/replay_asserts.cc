#include "replay/debug/replay_asserts.h"

#include "absl/strings/str_format.h"
#include "replay/debug/assert_table.h"
#include "replay/debug/x86_64_target.h"

namespace ftd::replay::debug {
namespace {

// Registers and guest memory of the debugger's current stop.
class DebuggerContext final : public ExprContext {
 public:
  explicit DebuggerContext(Debugger& d) : d_(d) {}
  absl::StatusOr<uint64_t> Register(std::string_view name) override {
    auto regs = d_.Regs();
    auto sregs = d_.Sregs();
    if (!regs.ok()) return regs.status();
    if (!sregs.ok()) return sregs.status();
    const kvm_regs& r = *regs;
    const kvm_sregs& s = *sregs;
    const std::pair<std::string_view, uint64_t> table[] = {
        {"rax", r.rax}, {"rbx", r.rbx}, {"rcx", r.rcx}, {"rdx", r.rdx}, {"rsi", r.rsi},
        {"rdi", r.rdi}, {"rbp", r.rbp}, {"rsp", r.rsp}, {"r8", r.r8}, {"r9", r.r9},
        {"r10", r.r10}, {"r11", r.r11}, {"r12", r.r12}, {"r13", r.r13}, {"r14", r.r14},
        {"r15", r.r15}, {"rip", r.rip}, {"eflags", r.rflags}, {"cs", s.cs.selector},
        {"ss", s.ss.selector}, {"ds", s.ds.selector}, {"es", s.es.selector},
        {"fs", s.fs.selector}, {"gs", s.gs.selector}, {"fs_base", s.fs.base},
        {"gs_base", s.gs.base}, {"cr0", s.cr0}, {"cr2", s.cr2}, {"cr3", s.cr3}, {"cr4", s.cr4},
        {"efer", s.efer}};
    for (const auto& [n, v] : table) {
      if (n == name) return v;
    }
    return absl::InvalidArgumentError(absl::StrFormat("no register $%s", name));
  }
  absl::Status ReadMemory(uint64_t addr, std::span<uint8_t> out) override {
    return d_.ReadMemory(addr, out);
  }

 private:
  Debugger& d_;
};

std::string Where(Debugger& d, const ElfSymbols& symbols) {
  auto regs = d.Regs();
  const uint64_t rip = regs.ok() ? regs->rip : 0;
  return absl::StrFormat("%s (rip=%#x %s)", Describe(d.position()), rip, symbols.Describe(rip));
}

struct Check {
  Expr expr;
  std::string what;  // for the report
};

// The first check that evaluates to 0 (or fails to evaluate) at the current stop.
absl::StatusOr<std::optional<AssertFailure>> Evaluate(Debugger& d, const ElfSymbols& symbols,
                                                      const std::vector<const Check*>& checks,
                                                      uint64_t* count) {
  DebuggerContext ctx(d);
  for (const Check* c : checks) {
    ++*count;
    auto v = c->expr.Evaluate(ctx);
    if (!v.ok()) {
      return AssertFailure{absl::StrFormat("%s could not be evaluated at %s: %s", c->what,
                                           Where(d, symbols), v.status().message())};
    }
    if (*v == 0) {
      return AssertFailure{absl::StrFormat("%s failed at %s", c->what, Where(d, symbols))};
    }
  }
  return std::optional<AssertFailure>();
}

}  // namespace

absl::StatusOr<std::optional<AssertFailure>> RunAsserts(Debugger& dbg, const ElfSymbols& symbols,
                                                        const AssertOptions& options,
                                                        uint64_t* checks) {
  *checks = 0;
  std::vector<Check> exprs;
  for (const std::string& text : options.exprs) {
    auto e = Expr::Parse(text, &symbols);
    if (!e.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--assert '%s': %s", text, e.status().message()));
    }
    exprs.push_back({std::move(*e), absl::StrFormat("assert '%s'", text)});
  }
  // Trigger-driven: a symbol's code, and the guest's compiled sites, by address.
  std::vector<std::pair<uint64_t, Check>> at_code;
  const bool by_points = options.at == "every-point" || options.at == "epoch";
  if (!by_points && !exprs.empty()) {
    auto sym = symbols.Find(options.at);
    if (!sym) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--assert-at '%s': expected every-point, epoch or a symbol of the image", options.at));
    }
    for (Check& c : exprs) at_code.emplace_back(sym->value, std::move(c));
    exprs.clear();
  }
  if (options.guest_asserts) {
    auto section = symbols.FindSection(".ftd_asserts");
    if (section) {
      auto sites = ParseAssertTable(section->bytes);
      if (!sites.ok()) return sites.status();
      for (const AssertSite& s : *sites) {
        auto e = Expr::Parse(s.expr, &symbols);
        if (!e.ok()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "FTD_REPLAY_ASSERT(%s) at %s:%u: %s", s.expr, s.file, s.line, e.status().message()));
        }
        at_code.emplace_back(
            s.site, Check{std::move(*e), absl::StrFormat("FTD_REPLAY_ASSERT(%s) at %s:%u", s.expr,
                                                         s.file, s.line)});
      }
    }
  }
  if (by_points && !exprs.empty() && !at_code.empty()) {
    return absl::InvalidArgumentError(
        "--assert-at every-point/epoch and --replay-asserts cannot run in one replay: run them "
        "one after the other");
  }
  if (!at_code.empty()) {
    if (dbg.options().point_granularity) {
      return absl::FailedPreconditionError(
          "this KVM cannot break in guest ring 3 (PVM): asserts at code addresses cannot be "
          "checked here; use --assert-at every-point");
    }
    for (const auto& [addr, c] : at_code) {
      if (auto s = dbg.AddTrigger({vmm::HwBreakpoint::Kind::kExec, addr, 1}); !s.ok()) return s;
    }
    for (;;) {
      auto stop = dbg.Continue();
      if (!stop.ok()) return stop.status();
      if (stop->kind == Stop::Kind::kEnd) return std::optional<AssertFailure>();
      if (stop->kind != Stop::Kind::kBreakpoint) continue;
      std::vector<const Check*> here;
      for (const auto& [addr, c] : at_code) {
        if (addr == stop->addr) here.push_back(&c);
      }
      auto f = Evaluate(dbg, symbols, here, checks);
      if (!f.ok() || f->has_value()) return f;
    }
  }
  if (exprs.empty()) return std::optional<AssertFailure>();
  std::vector<const Check*> all;
  for (const Check& c : exprs) all.push_back(&c);
  uint64_t epochs = dbg.session().replayer().epochs_checked();
  for (;;) {
    const uint64_t now = dbg.session().replayer().epochs_checked();
    if (options.at == "every-point" || now != epochs) {
      epochs = now;
      auto f = Evaluate(dbg, symbols, all, checks);
      if (!f.ok() || f->has_value()) return f;
    }
    auto stop = dbg.NextPoint();
    if (!stop.ok()) return stop.status();
    if (stop->kind == Stop::Kind::kEnd) return std::optional<AssertFailure>();
  }
}

}  // namespace ftd::replay::debug
