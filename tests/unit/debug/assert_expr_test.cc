#include "replay/debug/assert_expr.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>

#include "tests/unit/debug/elf_builder.h"

namespace ftd::replay::debug {
namespace {

using testing::ElfBuilder;

constexpr uint64_t kBase = 0x200000;

// Guest memory: one page at kBase; registers: a map.
class FakeContext : public ExprContext {
 public:
  FakeContext() : mem_(0x1000, 0) {}
  absl::StatusOr<uint64_t> Register(std::string_view name) override {
    auto it = regs.find(std::string(name));
    if (it == regs.end()) return absl::UnavailableError("not in this context");
    return it->second;
  }
  absl::Status ReadMemory(uint64_t addr, std::span<uint8_t> out) override {
    ++reads;
    if (addr < kBase || addr - kBase > mem_.size() || out.size() > mem_.size() - (addr - kBase)) {
      return absl::OutOfRangeError("unmapped");
    }
    std::memcpy(out.data(), mem_.data() + (addr - kBase), out.size());
    return absl::OkStatus();
  }
  template <typename T>
  void Put(uint64_t addr, T v) {
    std::memcpy(mem_.data() + (addr - kBase), &v, sizeof(v));
  }

  std::map<std::string, uint64_t> regs;
  int reads = 0;

 private:
  std::vector<uint8_t> mem_;
};

class AssertExprTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto elf = ElfSymbols::Load(
        ElfBuilder()
            .Section(".text", SHT_PROGBITS, 0x100000, std::vector<uint8_t>(0x20, 0x90))
            .Section(".bss", SHT_NOBITS, kBase, {}, 0x1000)
            .Sym({"kv_put", 0x100000, 0x20, STT_FUNC})
            .Sym({"kv_count", kBase, 4, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"tick_count", kBase + 8, 8, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"flags", kBase + 0x10, 1, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"small", kBase + 0x12, 2, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"ftd_irq_total", kBase + 0x18, 0, STT_NOTYPE, STB_GLOBAL, 2})
            .Sym({"neg", kBase + 0x20, 4, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"table", kBase + 0x40, 64, STT_OBJECT, STB_GLOBAL, 2})
            .Sym({"count.0", kBase + 0x80, 8, STT_OBJECT, STB_LOCAL, 2})
            .Build());
    ASSERT_TRUE(elf.ok()) << elf.status();
    symbols_.emplace(*std::move(elf));
    ctx_.Put<uint32_t>(kBase, 5);                  // kv_count
    ctx_.Put<uint64_t>(kBase + 8, 1000);           // tick_count
    ctx_.Put<uint8_t>(kBase + 0x10, 0x3);          // flags
    ctx_.Put<uint16_t>(kBase + 0x12, 0xbeef);      // small
    ctx_.Put<uint64_t>(kBase + 0x18, 3);           // ftd_irq_total
    ctx_.Put<uint32_t>(kBase + 0x20, 0xfffffffe);  // neg
    for (uint32_t i = 0; i < 16; ++i) ctx_.Put<uint32_t>(kBase + 0x40 + 4 * i, i * i - 2);
    ctx_.Put<uint64_t>(kBase + 0x80, 42);      // count.0
    ctx_.Put<uint64_t>(kBase + 0x100, kBase);  // a pointer to kv_count
    ctx_.regs = {{"rax", 0x10}, {"rsp", kBase + 0x100}};
  }

  absl::StatusOr<uint64_t> Eval(std::string_view text) {
    auto e = Expr::Parse(text, &*symbols_);
    if (!e.ok()) return e.status();
    return e->Evaluate(ctx_);
  }
  uint64_t Value(std::string_view text) {
    auto v = Eval(text);
    EXPECT_TRUE(v.ok()) << text << ": " << v.status();
    return v.ok() ? *v : 0xdeadbeef;
  }
  // The error for `text` (at parse or evaluation), which must mention `what`.
  void ExpectError(std::string_view text, std::string_view what) {
    auto v = Eval(text);
    ASSERT_FALSE(v.ok()) << text << " gave " << *v;
    EXPECT_NE(std::string(v.status().message()).find(what), std::string_view::npos)
        << text << ": " << v.status();
  }

  std::optional<ElfSymbols> symbols_;
  FakeContext ctx_;
};

TEST_F(AssertExprTest, Literals) {
  EXPECT_EQ(Value("10"), 10u);
  EXPECT_EQ(Value("0x1F"), 31u);
  EXPECT_EQ(Value("0X10"), 16u);
  EXPECT_EQ(Value("010"), 8u);  // octal, as in C
  EXPECT_EQ(Value("0"), 0u);
  EXPECT_EQ(Value("10u + 1UL + 2ull + 3LL"), 16u);
  EXPECT_EQ(Value("0xffffffffffffffff"), ~uint64_t{0});
  EXPECT_EQ(Value("18446744073709551615"), ~uint64_t{0});
  ExpectError("18446744073709551616", "does not fit");
  ExpectError("0x", "bad integer literal");
  ExpectError("08", "bad integer literal");
  ExpectError("1x", "bad integer literal");
  ExpectError("1uuuu", "bad integer literal");
}

TEST_F(AssertExprTest, Precedence) {
  EXPECT_EQ(Value("1 + 2 * 3"), 7u);
  EXPECT_EQ(Value("(1 + 2) * 3"), 9u);
  EXPECT_EQ(Value("1 << 2 + 1"), 8u);
  EXPECT_EQ(Value("1 | 2 ^ 3 & 1"), 3u);
  EXPECT_EQ(Value("6 & 3 == 3"), 0u);  // == before &, as in C
  EXPECT_EQ(Value("1 < 2 == 1"), 1u);
  EXPECT_EQ(Value("5 - 3 - 1"), 1u);
  EXPECT_EQ(Value("100 / 10 / 5"), 2u);
  EXPECT_EQ(Value("2 * 3 % 4"), 2u);
  EXPECT_EQ(Value("!0 + 1"), 2u);
  EXPECT_EQ(Value("-2 * 3"), static_cast<uint64_t>(-6));
  EXPECT_EQ(Value("~0 == 0xffffffffffffffff"), 1u);
  EXPECT_EQ(Value("1 || 0 && 0"), 1u);
  EXPECT_EQ(Value("0 && 1 || 1"), 1u);
  EXPECT_EQ(Value("2 > 1 && 3 >= 3 && 1 <= 0 || 4 != 4"), 0u);
  EXPECT_EQ(Value("- -3"), 3u);
  EXPECT_EQ(Value("+3"), 3u);
  EXPECT_EQ(Value("!!7"), 1u);
}

TEST_F(AssertExprTest, ShortCircuit) {
  EXPECT_EQ(Value("0 && *(u64*)0 == 1"), 0u);
  EXPECT_EQ(Value("1 || 1 / 0"), 1u);
  EXPECT_EQ(Value("$rax == 0x10 || *(u64*)0"), 1u);
  ExpectError("1 && 1 / 0", "division by zero");
  ctx_.reads = 0;
  EXPECT_EQ(Value("$rax != 0x10 && tick_count"), 0u);
  EXPECT_EQ(ctx_.reads, 0);
  EXPECT_EQ(Value("$rax == 0x10 && tick_count"), 1u);
  EXPECT_EQ(ctx_.reads, 1);
  EXPECT_EQ(Value("5 && 7"), 1u);  // the result is 0 or 1
  EXPECT_EQ(Value("0 || 7"), 1u);
}

TEST_F(AssertExprTest, Symbols) {
  EXPECT_EQ(Value("kv_count"), 5u);
  EXPECT_EQ(Value("kv_count <= 1024"), 1u);
  EXPECT_EQ(Value("tick_count != 0"), 1u);
  EXPECT_EQ(Value("flags"), 3u);
  EXPECT_EQ(Value("flags & 0x4"), 0u);
  EXPECT_EQ(Value("!(flags & 0x4)"), 1u);
  EXPECT_EQ(Value("small"), 0xbeefu);
  EXPECT_EQ(Value("count.0"), 42u);
  EXPECT_EQ(Value("&kv_count"), kBase);
  EXPECT_EQ(Value("*&kv_count"), 5u);     // &sym points to the symbol's width
  EXPECT_EQ(Value("kv_put"), 0x100000u);  // a function: its address
  EXPECT_EQ(Value("&kv_put"), 0x100000u);
  EXPECT_EQ(Value("*(u64*)&ftd_irq_total >= 3"), 1u);
  EXPECT_EQ(Value("*(u8*)&ftd_irq_total"), 3u);
  EXPECT_EQ(Value("&ftd_irq_total"), kBase + 0x18);
  ExpectError("ftd_irq_total", "use *(u64*)&ftd_irq_total");
  ExpectError("ftd_irq_total == 3", "column 1:");
  ExpectError("1 + table", "column 5: symbol 'table'");
  ExpectError("nope", "unknown symbol 'nope'");
  ExpectError("&1", "'&' needs a symbol");
  ExpectError("&(kv_count + 1)", "'&' needs a symbol");
  EXPECT_EQ(Value("&(kv_count)"), kBase);
}

TEST_F(AssertExprTest, NoSymbols) {
  auto e = Expr::Parse("kv_count == 1", nullptr);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("no symbols"), std::string_view::npos)
      << e.status();
  e = Expr::Parse("$rax == 0x10", nullptr);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e->Evaluate(ctx_), 1u);
}

TEST_F(AssertExprTest, PointersAndIndexing) {
  EXPECT_EQ(Value("((u32*)&table)[3] == 7"), 1u);
  EXPECT_EQ(Value("((u32*)&table)[0]"), static_cast<uint32_t>(-2));
  EXPECT_EQ(Value("((i32*)&table)[0] == -2"), 1u);
  EXPECT_EQ(Value("((u8*)&table)[12]"), 7u);
  EXPECT_EQ(Value("((u16*)&table)[6]"), 7u);
  EXPECT_EQ(Value("((u64*)&table)[1]"), (uint64_t{7} << 32) | 2);
  EXPECT_EQ(Value("*((u32*)&table + 3)"), 7u);  // p + i steps in elements
  EXPECT_EQ(Value("*(3 + (u32*)&table)"), 7u);
  EXPECT_EQ(Value("*((u32*)&table + 5 - 2)"), 7u);
  EXPECT_EQ(Value("(u32*)&table + 3 - (u32*)&table"), 3u);  // p - q counts elements
  EXPECT_EQ(Value("(u8*)&table - (u8*)&kv_count"), 0x40u);
  EXPECT_EQ(Value("(u32*)&kv_count - (u32*)&table"), static_cast<uint64_t>(-16));
  EXPECT_EQ(Value("(u32*)&kv_count - (u32*)&table < 0"), 1u);
  EXPECT_EQ(Value("&kv_count + 1"), kBase + 4);
  EXPECT_EQ(Value("&ftd_irq_total + 1"), kBase + 0x19);  // no width: a plain address
  EXPECT_EQ(Value("((u32*)&table)[kv_count - 2]"), 7u);
  EXPECT_EQ(Value("**(u32**)0x200100"), 5u);
  EXPECT_EQ(Value("*(u32*)*(u64*)$rsp"), 5u);
  EXPECT_EQ(Value("*0x200008"), 1000u);  // through an integer: a u64
  EXPECT_EQ(Value("*(u64*)&tick_count"), 1000u);
  ExpectError("table[3]", "indexing needs a pointer: write ((T*)&table)[i]");
  ExpectError("kv_count[0]", "indexing needs a pointer");
  ExpectError("((u32*)&table)[(u32*)0]", "must be an integer");
  ExpectError("((u32*)&table)[3", "expected ']'");
}

TEST_F(AssertExprTest, Casts) {
  EXPECT_EQ(Value("(u8)0x1234"), 0x34u);
  EXPECT_EQ(Value("(uint16_t)0x12345"), 0x2345u);
  EXPECT_EQ(Value("(u32)-1"), 0xffffffffu);
  EXPECT_EQ(Value("(unsigned)-1"), 0xffffffffu);
  EXPECT_EQ(Value("(i8)0xff"), ~uint64_t{0});
  EXPECT_EQ(Value("(i8)0xff == -1"), 1u);
  EXPECT_EQ(Value("(i8)0x7f"), 0x7fu);
  EXPECT_EQ(Value("(int8_t)0x80 < 0"), 1u);
  EXPECT_EQ(Value("(u8)0xff < 0"), 0u);
  EXPECT_EQ(Value("(int)0xffffffff < 0"), 1u);
  EXPECT_EQ(Value("(short)0x18000 == -32768"), 1u);
  EXPECT_EQ(Value("(char)200 < 0"), 1u);
  EXPECT_EQ(Value("(unsigned char)200 < 0"), 0u);
  EXPECT_EQ(Value("(long)-1 < 0"), 1u);
  EXPECT_EQ(Value("(unsigned long long)-1 > 0"), 1u);
  EXPECT_EQ(Value("(long long int)-1 < 0"), 1u);
  EXPECT_EQ(Value("(const volatile u64)7"), 7u);
  EXPECT_EQ(Value("(u16)(u8)0x1ff"), 0xffu);
  EXPECT_EQ(Value("(u8)0x1ff + 1"), 0x100u);  // 64-bit arithmetic after the cast
  EXPECT_EQ(Value("*(i32*)&neg == -2"), 1u);
  EXPECT_EQ(Value("*(i32*)&neg < 0"), 1u);
  EXPECT_EQ(Value("*(u32*)&neg > 0"), 1u);
  EXPECT_EQ(Value("*(i16*)&small"), static_cast<uint64_t>(int16_t(0xbeef)));
  ExpectError("(unsigned signed)1", "bad type");
  ExpectError("(long short)1", "bad type");
  ExpectError("(char int)1", "bad type");
  ExpectError("(u8 u16)1", "bad type");
  ExpectError("(u8)", "expected an operand");
  ExpectError("u8", "outside a cast");
}

TEST_F(AssertExprTest, SignRules) {
  EXPECT_EQ(Value("-1 < 0"), 1u);
  EXPECT_EQ(Value("-1 > 0"), 0u);
  EXPECT_EQ(Value("0xffffffffffffffff < 0"), 0u);  // literals are unsigned
  EXPECT_EQ(Value("kv_count > -1"), 1u);           // a signed side wins (unlike C)
  EXPECT_EQ(Value("neg < 0"), 0u);                 // symbols read unsigned
  EXPECT_EQ(Value("$rax - 0x20 < 0"), 0u);         // registers are unsigned
  EXPECT_EQ(Value("(i64)$rax - 0x20 < 0"), 1u);    // signed propagates through arithmetic
  EXPECT_EQ(Value("-7 / 2 == -3"), 1u);
  EXPECT_EQ(Value("-7 % 2 == -1"), 1u);
  EXPECT_EQ(Value("0xfffffffffffffff9 / 2"), 0x7ffffffffffffffcu);
  EXPECT_EQ(Value("-8 >> 1 == -4"), 1u);
  EXPECT_EQ(Value("0xfffffffffffffff8 >> 1"), 0x7ffffffffffffffcu);
  EXPECT_EQ(Value("1 >> -1 + 1"), 1u);  // the right side's sign does not matter for shifts
  EXPECT_EQ(Value("~(i8)0 < 0"), 1u);
  EXPECT_EQ(Value("!(i8)-1 < 1"), 1u);
  EXPECT_EQ(Value("(1 < 2) > -1"), 1u);
  // The one signed division that overflows wraps instead.
  EXPECT_EQ(Value("(i64)0x8000000000000000 / -1"), uint64_t{1} << 63);
  EXPECT_EQ(Value("(i64)0x8000000000000000 % -1"), 0u);
  EXPECT_EQ(Value("0x7fffffffffffffff + 1"), uint64_t{1} << 63);  // wraps
  EXPECT_EQ(Value("-0x8000000000000000"), uint64_t{1} << 63);
}

TEST_F(AssertExprTest, Registers) {
  EXPECT_EQ(Value("$rax == 0x10 && tick_count != 0"), 1u);
  EXPECT_EQ(Value("$rsp"), kBase + 0x100);
  ExpectError("$nope", "unknown register '$nope'");
  ExpectError("$", "register name");
  ExpectError("$rbx", "$rbx: not in this context");
  for (const char* r : {"$r8", "$r15", "$rip", "$eflags", "$fs_base", "$cr3", "$efer", "$gs"}) {
    auto e = Expr::Parse(r, nullptr);
    EXPECT_TRUE(e.ok()) << r << ": " << e.status();
  }
}

TEST_F(AssertExprTest, Errors) {
  ExpectError("1 +", "column 4: expected an operand, found the end");
  ExpectError("(1", "column 3: expected ')'");
  ExpectError("1 2", "column 3: expected an operator or the end, found '2'");
  ExpectError("1 @ 2", "column 3: unexpected character '@'");
  ExpectError("1 \x01", "unexpected byte 0x01");
  ExpectError("", "column 1: expected an operand, found the end");
  ExpectError("1 = 2", "unexpected character '='");
  ExpectError(")", "found ')'");
  ExpectError("1 / 0", "column 3: division by zero");
  ExpectError("kv_count % (kv_count - 5)", "division by zero");
  ExpectError("1 << 64", "shift by 64");
  ExpectError("1 >> -1", "shift by -1");
  ExpectError("*(u64*)0x10", "reading 8 bytes at 0x10: unmapped");
  ExpectError("((u32*)&table)[0x1000]", "reading 4 bytes at 0x204040");
  ExpectError("kv_put(1)", "expected an operator or the end, found '('");
  ExpectError("kv->count", "unknown symbol 'kv'");  // no struct members (nor locals)
}

TEST_F(AssertExprTest, Limits) {
  auto nested = [](int n) { return std::string(n, '(') + "1" + std::string(n, ')'); };
  EXPECT_EQ(Value(nested(40)), 1u);
  ExpectError(nested(100), "nested more than 64");
  ExpectError(nested(2000), "nested more than 64");
  ExpectError(std::string(3000, '-') + "1", "nested more than 64");
  ExpectError(std::string(3000, '!') + "1", "nested more than 64");
  std::string chain = "1";
  for (int i = 0; i < 99; ++i) chain += "+1";
  EXPECT_EQ(Value(chain), 100u);
  for (int i = 0; i < 1000; ++i) chain += "+1";
  ExpectError(chain, "operators deep");
  ExpectError(std::string(4097, ' '), "at most 4096");
  EXPECT_FALSE(Eval(std::string(4096, ' ')).ok());  // long enough, but empty
}

TEST_F(AssertExprTest, TextAndReads) {
  auto e = Expr::Parse(
      "kv_count == 1 && *(u64*)&ftd_irq_total > ((u32*)&table)[3] + $rax + *(u64*)$rsp "
      "|| kv_count == 2 || *(u8*)0x200010 || **(u32**)0x200100",
      &*symbols_);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->reads(), (std::vector<MemoryRange>{{kBase, 4},
                                                  {kBase + 0x10, 1},
                                                  {kBase + 0x18, 8},
                                                  {kBase + 0x4c, 4},
                                                  {kBase + 0x100, 8}}));
  EXPECT_NE(e->text().find("ftd_irq_total"), std::string::npos);
  // &sym reads nothing.
  e = Expr::Parse("&kv_count == 0 && *&kv_put", &*symbols_);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->reads(), (std::vector<MemoryRange>{{0x100000, 8}}));
}

TEST_F(AssertExprTest, CopiesEvaluateAlike) {
  auto e = Expr::Parse("((u32*)&table)[kv_count - 2] == 7", &*symbols_);
  ASSERT_TRUE(e.ok()) << e.status();
  Expr copy = *e;
  e = Expr::Parse("0", nullptr);
  EXPECT_EQ(*copy.Evaluate(ctx_), 1u);
  EXPECT_EQ(copy.text(), "((u32*)&table)[kv_count - 2] == 7");
}

}  // namespace
}  // namespace ftd::replay::debug
