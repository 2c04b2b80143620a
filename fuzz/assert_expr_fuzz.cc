// Replay-time assert expressions typed by a user or read from a guest image's .ftd_asserts:
// any text parses or gives an error, and any parsed expression evaluates or gives an error,
// in bounded time and stack, whatever memory and registers hold. Evaluating twice gives the
// same answer, and text() is the text. The same bytes are also read as an assert table, whose
// expressions go through the same path.
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "replay/debug/assert_expr.h"
#include "replay/debug/assert_table.h"
#include "tests/unit/debug/elf_builder.h"

namespace {

using namespace ftd::replay::debug;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr uint64_t kBase = 0x200000;

// A page of guest memory at kBase (from the input), registers from the input; anything else
// is unreadable.
class FuzzContext : public ExprContext {
 public:
  explicit FuzzContext(ftd::fuzz::Input& in) : mem_(256, 0) {
    for (auto& b : mem_) b = in.Take<uint8_t>();
    rax_ = in.Take<uint64_t>();
    rsp_ = kBase + in.Take<uint8_t>();
  }
  absl::StatusOr<uint64_t> Register(std::string_view name) override {
    if (name == "rax") return rax_;
    if (name == "rsp") return rsp_;
    return absl::UnavailableError("no such register here");
  }
  absl::Status ReadMemory(uint64_t addr, std::span<uint8_t> out) override {
    if (addr < kBase || addr - kBase > mem_.size() || out.size() > mem_.size() - (addr - kBase)) {
      return absl::OutOfRangeError("unmapped");
    }
    std::memcpy(out.data(), mem_.data() + (addr - kBase), out.size());
    return absl::OkStatus();
  }

 private:
  std::vector<uint8_t> mem_;
  uint64_t rax_, rsp_;
};

const ElfSymbols& Symbols() {
  using ftd::replay::debug::testing::ElfBuilder;
  static const ElfSymbols* symbols = [] {
    auto elf = ElfSymbols::Load(
        ElfBuilder()
            .Section(".text", SHT_PROGBITS, 0x100000, std::vector<uint8_t>(0x20, 0x90))
            .Section(".bss", SHT_NOBITS, kBase, {}, 0x100)
            .Sym({"f", 0x100000, 0x20, STT_FUNC})
            .Sym({"a", kBase, 1, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"b", kBase + 2, 2, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"c", kBase + 4, 4, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"d", kBase + 8, 8, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"t", kBase + 0x10, 0x40, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"l", kBase + 0x50, 0, STT_NOTYPE, STB_GLOBAL, 2})
            .Build());
    Check(elf.ok());
    return new ElfSymbols(*std::move(elf));
  }();
  return *symbols;
}

void Try(std::string_view text, FuzzContext& ctx) {
  auto e = Expr::Parse(text, &Symbols());
  if (!e.ok()) {
    Check(!e.status().message().empty());
    return;
  }
  Check(e->text() == text);
  for (const MemoryRange& r : e->reads()) Check(r.size >= 1 && r.size <= 8);
  auto first = e->Evaluate(ctx);
  auto second = e->Evaluate(ctx);
  Check(first.ok() == second.ok());
  if (first.ok()) Check(*first == *second);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftd::fuzz::Input in(data, size);
  const auto text_bytes = in.TakeBytes(in.Take<uint16_t>() % (Expr::kMaxText + 64));
  const std::string text(text_bytes.begin(), text_bytes.end());
  FuzzContext ctx(in);
  Try(text, ctx);

  auto table = ParseAssertTable(std::span<const uint8_t>(data, size));
  if (table.ok()) {
    Check(table->size() <= kMaxAssertSites);
    for (const AssertSite& site : *table) Try(site.expr, ctx);
  }
  return 0;
}
