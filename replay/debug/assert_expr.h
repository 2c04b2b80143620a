// Replay-time asserts: a small C-like expression over guest symbols, registers and memory,
// checked at stops during a replay (`kv_count <= 1024`, `$rax == 0x10 && tick_count != 0`,
// `*(u64*)&ftd_irq_total >= 3`, `((u32*)&table)[3] == 7`). The guest kit's assert macro
// stringifies its C condition into .ftd_asserts, so the language follows C where it can.
//
// Grammar, C precedence (loosest first): || && | ^ & (== !=) (< <= > >=) (<< >>) (+ -)
// (* / %), then unary - + ! ~ * & and casts, then indexing p[i]; && and || short-circuit.
//  - Integer literals: decimal, 0x hex, C octal (leading 0); u/U/l/L suffixes are ignored.
//  - An identifier is an ELF symbol. A function's value is its address (as in C). Any other
//    symbol's value is the memory at its address, read unsigned with the width of its ELF size,
//    which must be 1, 2, 4 or 8: for other sizes (assembler labels have none) write
//    *(u64*)&sym. &sym is its address (a pointer to the symbol's width, when it has one).
//  - $reg is a register: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip eflags cs ss ds es fs gs
//    fs_base gs_base cr0 cr2 cr3 cr4 efer.
//  - Types T: u8 u16 u32 u64 i8 i16 i32 i64, uint8_t..uint64_t, int8_t..int64_t, size_t,
//    uintptr_t, and C's char (signed), short, int, long, long long with signed/unsigned.
//    (T)x truncates to T's width and sign- or zero-extends; (T*)x, (T**)x make pointers.
//  - *p reads through a pointer p with its target's width; * of a plain integer reads a u64.
//    p[i] is *(p + i). Indexing needs a pointer, so a symbol's elements are
//    ((T*)&sym)[i], with the element type spelled out. Pointer + integer scales by the target's
//    width as in C; pointer - pointer counts elements.
//
// Signedness (decided at parse time): a value is signed when it comes from a signed cast or
// dereference ((i32)x, *(i8*)p, (int)x), a negative literal (-5), or arithmetic (+ - * / % &
// | ^ ~ unary -) with a signed operand; << and >> take their left side's. Everything else
// (literals, symbols, registers, pointers, unsigned casts, results of comparisons and of ! &&
// ||) is unsigned. < <= > >= / % are signed when either side is signed, and >> is arithmetic
// when its left side is. Unlike C, a signed side wins over an unsigned 64-bit one, so
// `count > -1` is what it reads as. All arithmetic wraps at 64 bits.
//
// Errors are statuses: bad syntax (with the 1-based column), unknown symbols and registers,
// symbol sizes, nesting deeper than 64, text longer than 4 KiB at Parse; division by zero,
// shifts by 64 or more, unreadable memory and registers at Evaluate.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replay/debug/elf_symbols.h"

namespace ftd::replay::debug {

// What an expression is evaluated against: a stopped vCPU and its guest's memory.
class ExprContext {
 public:
  virtual ~ExprContext() = default;
  virtual absl::StatusOr<uint64_t> Register(std::string_view name) = 0;
  virtual absl::Status ReadMemory(uint64_t guest_virtual, std::span<uint8_t> out) = 0;
};

// A range of guest-virtual memory an expression reads at a fixed address.
struct MemoryRange {
  uint64_t addr = 0;
  uint64_t size = 0;
  friend bool operator==(const MemoryRange&, const MemoryRange&) = default;
};

class Expr {
 public:
  static constexpr size_t kMaxText = 4096;
  static constexpr int kMaxDepth = 64;

  // Symbols are resolved here (their addresses and sizes are copied): `symbols` need not
  // outlive the Expr, and may be null, in which case identifiers are errors.
  static absl::StatusOr<Expr> Parse(std::string_view text, const ElfSymbols* symbols);

  // The value (non-zero: the assert holds). Reads only what the short-circuit rules reach.
  absl::StatusOr<uint64_t> Evaluate(ExprContext& ctx) const;

  const std::string& text() const { return text_; }

  // The memory read at addresses fixed at parse time: symbol values and dereferences of
  // constant addresses (*(u64*)&sym, ((u32*)&table)[3]), sorted, without duplicates, for
  // watchpoint-style checks. Reads through registers or memory are not here; reads that
  // short-circuiting may skip are.
  const std::vector<MemoryRange>& reads() const { return reads_; }

  // The parsed tree; an implementation detail, public only for assert_expr.cc's helpers.
  // clang-format off
  enum class Op : uint8_t {
    kConst, kRegister, kDeref, kCast, kNeg, kNot, kCompl,
    kMul, kDiv, kMod, kAdd, kSub, kShl, kShr, kLt, kLe, kGt, kGe, kEq, kNe,
    kAnd, kXor, kOr, kLogicalAnd, kLogicalOr,
    kUnsized,  // a symbol with no usable size: only &sym may use it
  };
  // clang-format on
  struct Type {
    uint8_t width = 8;       // of the integer, or of the integer a pointer finally points to
    bool is_signed = false;  // ditto
    uint8_t pointer = 0;     // levels of indirection: 0 for an integer
  };
  struct Node {
    Op op = Op::kConst;
    Type type;                      // of the result
    bool signed_op = false;         // < <= > >= / % >>: signed semantics
    bool function = false;          // kConst: a function's address (so &f is allowed)
    int a = -1, b = -1;             // operands
    int column = 0;                 // 1-based, for messages
    int depth = 1;                  // of the subtree
    std::optional<uint64_t> value;  // kConst, and whatever folds to a constant
    std::string name;               // kRegister; kUnsized: the symbol
  };

 private:
  absl::StatusOr<uint64_t> Eval(ExprContext& ctx, int node) const;

  std::string text_;
  std::vector<Node> nodes_;
  int root_ = 0;
  std::vector<MemoryRange> reads_;
};

}  // namespace ftd::replay::debug
