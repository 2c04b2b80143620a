#include "replay/debug/assert_expr.h"

#include <elf.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"

namespace ftd::replay::debug {
namespace {

using Op = Expr::Op;
using Node = Expr::Node;
using Type = Expr::Type;

// Evaluation recurses once per tree level: a left-leaning chain (a + b + c ...) does not nest
// in the text, so the tree has its own, looser, bound.
constexpr int kMaxTreeDepth = 256;

constexpr Type kU64{8, false, 0};
constexpr Type kI64{8, true, 0};

constexpr std::string_view kRegisters[] = {
    "rax", "rbx", "rcx",     "rdx",     "rsi", "rdi", "rbp",    "rsp", "r8",  "r9", "r10",
    "r11", "r12", "r13",     "r14",     "r15", "rip", "eflags", "cs",  "ss",  "ds", "es",
    "fs",  "gs",  "fs_base", "gs_base", "cr0", "cr2", "cr3",    "cr4", "efer"};

struct TypeName {
  std::string_view name;
  uint8_t width;
  bool is_signed;
};
constexpr TypeName kTypeNames[] = {
    {"u8", 1, false},      {"u16", 2, false},       {"u32", 4, false},      {"u64", 8, false},
    {"i8", 1, true},       {"i16", 2, true},        {"i32", 4, true},       {"i64", 8, true},
    {"uint8_t", 1, false}, {"uint16_t", 2, false},  {"uint32_t", 4, false}, {"uint64_t", 8, false},
    {"int8_t", 1, true},   {"int16_t", 2, true},    {"int32_t", 4, true},   {"int64_t", 8, true},
    {"size_t", 8, false},  {"uintptr_t", 8, false}, {"intptr_t", 8, true},  {"ssize_t", 8, true},
};
// C's own type words, combined as C combines them ("unsigned long long", "short int").
constexpr std::string_view kTypeWords[] = {"unsigned", "signed", "char", "short", "int", "long"};
// Qualifiers a C condition may carry in its casts; they change nothing here.
constexpr std::string_view kQualifiers[] = {"const", "volatile"};

template <typename Range>
bool Contains(const Range& r, std::string_view s) {
  return std::find(std::begin(r), std::end(r), s) != std::end(r);
}
const TypeName* FindTypeName(std::string_view s) {
  for (const TypeName& t : kTypeNames) {
    if (t.name == s) return &t;
  }
  return nullptr;
}

bool IsSigned(Type t) { return t.pointer == 0 && t.is_signed; }
// What p + 1 advances by, and what *p reads.
uint64_t ElementSize(Type pointer) { return pointer.pointer > 1 ? 8 : pointer.width; }
uint64_t ReadWidth(Type result) { return result.pointer > 0 ? 8 : result.width; }

// Truncates to the type's width and extends back to 64 bits as the type says.
uint64_t Convert(Type t, uint64_t v) {
  if (t.pointer > 0 || t.width >= 8) return v;
  const unsigned bits = 8u * t.width;
  v &= (uint64_t{1} << bits) - 1;
  if (t.is_signed && (v >> (bits - 1)) != 0) v |= ~uint64_t{0} << bits;
  return v;
}

absl::Status ErrorAt(int column, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrFormat("column %d: %s", column, message));
}

// The operators that do not short-circuit, on operand values.
absl::StatusOr<uint64_t> Apply(const Node& n, uint64_t a, uint64_t b) {
  const auto sa = static_cast<int64_t>(a), sb = static_cast<int64_t>(b);
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  switch (n.op) {
    case Op::kNeg:
      return uint64_t{0} - a;
    case Op::kNot:
      return uint64_t{a == 0};
    case Op::kCompl:
      return ~a;
    case Op::kCast:
      return Convert(n.type, a);
    case Op::kMul:
      return a * b;
    case Op::kDiv:
    case Op::kMod:
      if (b == 0) return ErrorAt(n.column, "division by zero");
      if (!n.signed_op) return n.op == Op::kDiv ? a / b : a % b;
      if (sa == kMin && sb == -1) return n.op == Op::kDiv ? a : 0;  // wraps, as the rest does
      return static_cast<uint64_t>(n.op == Op::kDiv ? sa / sb : sa % sb);
    case Op::kAdd:
      return a + b;
    case Op::kSub:
      return a - b;
    case Op::kShl:
    case Op::kShr:
      if (b >= 64) {
        return ErrorAt(n.column, absl::StrFormat("shift by %d is outside 0..63", sb));
      }
      if (n.op == Op::kShl) return a << b;
      return n.signed_op ? static_cast<uint64_t>(sa >> b) : a >> b;
    case Op::kLt:
      return uint64_t{n.signed_op ? sa < sb : a < b};
    case Op::kLe:
      return uint64_t{n.signed_op ? sa <= sb : a <= b};
    case Op::kGt:
      return uint64_t{n.signed_op ? sa > sb : a > b};
    case Op::kGe:
      return uint64_t{n.signed_op ? sa >= sb : a >= b};
    case Op::kEq:
      return uint64_t{a == b};
    case Op::kNe:
      return uint64_t{a != b};
    case Op::kAnd:
      return a & b;
    case Op::kXor:
      return a ^ b;
    case Op::kOr:
      return a | b;
    case Op::kLogicalAnd:
      return uint64_t{a != 0 && b != 0};
    case Op::kLogicalOr:
      return uint64_t{a != 0 || b != 0};
    default:
      return absl::InternalError("assert expression: not an operator");
  }
}

struct Token {
  enum Kind { kEnd, kNumber, kIdent, kRegister, kPunct } kind = kEnd;
  std::string_view text;
  uint64_t value = 0;
  int column = 0;
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
// '.' too: GCC names function-local statics "count.0".
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

absl::StatusOr<uint64_t> ParseNumber(std::string_view t, int column) {
  unsigned base = 10;
  size_t i = 0;
  if (t.size() > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    i = 2;
  } else if (t.size() > 1 && t[0] == '0' && std::isdigit(static_cast<unsigned char>(t[1]))) {
    base = 8;  // as in C: 010 is 8
    i = 1;
  }
  const size_t digits_start = i;
  uint64_t v = 0;
  for (; i < t.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(t[i])));
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f' && base == 16) {
      d = c - 'a' + 10;
    } else {
      break;
    }
    if (d >= base) break;
    if (v > (std::numeric_limits<uint64_t>::max() - d) / base) {
      return ErrorAt(column, absl::StrFormat("integer literal '%s' does not fit in 64 bits", t));
    }
    v = v * base + d;
  }
  const std::string_view suffix = t.substr(i);
  const bool suffix_ok = suffix.size() <= 3 && suffix.find_first_not_of("uUlL") == suffix.npos;
  if (i == digits_start || !suffix_ok) {
    return ErrorAt(column, absl::StrFormat("bad integer literal '%s'", t));
  }
  return v;
}

absl::StatusOr<std::vector<Token>> Lex(std::string_view s) {
  static constexpr std::string_view kTwoChar[] = {"<<", ">>", "<=", ">=", "==", "!=", "&&", "||"};
  static constexpr std::string_view kOneChar = "+-*/%<>&|^!~()[]";
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const int column = static_cast<int>(i) + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.column = column;
    size_t end = i + 1;
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (end < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) {
        ++end;
      }
      t.kind = Token::kNumber;
      auto v = ParseNumber(s.substr(i, end - i), column);
      if (!v.ok()) return v.status();
      t.value = *v;
    } else if (IsIdentStart(c)) {
      while (end < s.size() && IsIdentChar(s[end])) ++end;
      t.kind = Token::kIdent;
    } else if (c == '$') {
      while (end < s.size() && IsIdentChar(s[end])) ++end;
      if (end == i + 1) return ErrorAt(column, "'$' must be followed by a register name");
      t.kind = Token::kRegister;
    } else if (i + 1 < s.size() && Contains(kTwoChar, s.substr(i, 2))) {
      end = i + 2;
      t.kind = Token::kPunct;
    } else if (kOneChar.find(c) != kOneChar.npos) {
      t.kind = Token::kPunct;
    } else if (std::isprint(static_cast<unsigned char>(c))) {
      return ErrorAt(column, absl::StrFormat("unexpected character '%c'", c));
    } else {
      return ErrorAt(column, absl::StrFormat("unexpected byte 0x%02x", static_cast<uint8_t>(c)));
    }
    t.text = s.substr(i, end - i);
    if (t.kind == Token::kRegister) t.text.remove_prefix(1);
    out.push_back(t);
    i = end;
  }
  Token end_token;
  end_token.column = static_cast<int>(s.size()) + 1;
  out.push_back(end_token);
  return out;
}

// 0: not a binary operator.
int Precedence(std::string_view op) {
  static constexpr std::pair<std::string_view, int> kTable[] = {
      {"||", 1}, {"&&", 2}, {"|", 3},  {"^", 4},  {"&", 5},  {"==", 6},
      {"!=", 6}, {"<", 7},  {"<=", 7}, {">", 7},  {">=", 7}, {"<<", 8},
      {">>", 8}, {"+", 9},  {"-", 9},  {"*", 10}, {"/", 10}, {"%", 10}};
  for (const auto& [text, prec] : kTable) {
    if (text == op) return prec;
  }
  return 0;
}

Op BinaryOp(std::string_view t) {
  static constexpr std::pair<std::string_view, Op> kTable[] = {
      {"||", Op::kLogicalOr}, {"&&", Op::kLogicalAnd}, {"|", Op::kOr},  {"^", Op::kXor},
      {"&", Op::kAnd},        {"==", Op::kEq},         {"!=", Op::kNe}, {"<", Op::kLt},
      {"<=", Op::kLe},        {">", Op::kGt},          {">=", Op::kGe}, {"<<", Op::kShl},
      {">>", Op::kShr},       {"+", Op::kAdd},         {"-", Op::kSub}, {"*", Op::kMul},
      {"/", Op::kDiv},        {"%", Op::kMod}};
  for (const auto& [text, op] : kTable) {
    if (text == t) return op;
  }
  return Op::kConst;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ElfSymbols* symbols)
      : tokens_(std::move(tokens)), symbols_(symbols) {}

  absl::StatusOr<int> Parse() {
    auto root = ParseBinary(1);
    if (!root.ok()) return root.status();
    if (Peek().kind != Token::kEnd) return Unexpected(Peek(), "an operator or the end");
    if (auto s = CheckValue(*root); !s.ok()) return s;
    return root;
  }
  std::vector<Node> TakeNodes() { return std::move(nodes_); }

 private:
  // Counts the parser's nesting (parentheses, unary operators, casts) while in scope.
  class Nest {
   public:
    explicit Nest(int& depth) : depth_(depth) { ++depth_; }
    ~Nest() { --depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    int& depth_;
  };

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsPunct(const Token& t, std::string_view text) const {
    return t.kind == Token::kPunct && t.text == text;
  }
  absl::Status Unexpected(const Token& t, std::string_view wanted) const {
    if (t.kind == Token::kEnd) {
      return ErrorAt(t.column, absl::StrFormat("expected %s, found the end", wanted));
    }
    return ErrorAt(t.column, absl::StrFormat("expected %s, found '%s%s'", wanted,
                                             t.kind == Token::kRegister ? "$" : "", t.text));
  }
  absl::Status Expect(std::string_view punct) {
    if (!IsPunct(Peek(), punct)) return Unexpected(Peek(), absl::StrFormat("'%s'", punct));
    Next();
    return absl::OkStatus();
  }
  bool StartsType(const Token& t) const {
    return t.kind == Token::kIdent &&
           (FindTypeName(t.text) != nullptr || Contains(kTypeWords, t.text) ||
            Contains(kQualifiers, t.text));
  }

  absl::StatusOr<int> Add(Node n) {
    for (int child : {n.a, n.b}) {
      if (child >= 0) n.depth = std::max(n.depth, nodes_[child].depth + 1);
    }
    if (n.depth > kMaxTreeDepth) {
      return ErrorAt(n.column, absl::StrFormat("more than %d operators deep", kMaxTreeDepth));
    }
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }
  absl::StatusOr<int> Const(uint64_t v, Type type, int column) {
    Node n;
    n.op = Op::kConst;
    n.type = type;
    n.value = v;
    n.column = column;
    return Add(std::move(n));
  }
  // An operand used for its value: a symbol without a usable size has none.
  absl::Status CheckValue(int i) const {
    const Node& n = nodes_[i];
    if (n.op != Op::kUnsized) return absl::OkStatus();
    return ErrorAt(
        n.column, absl::StrFormat("symbol '%s' has no size of 1, 2, 4 or 8 bytes to read it "
                                  "with: use *(u64*)&%s (or another width), or &%s for its address",
                                  n.name, n.name, n.name));
  }
  // Folds `n` when its operands are constants (and it does not fail on them).
  absl::StatusOr<int> Fold(Node n) {
    const bool a_const = n.a < 0 || nodes_[n.a].value.has_value();
    const bool b_const = n.b < 0 || nodes_[n.b].value.has_value();
    if (a_const && b_const && n.op != Op::kDeref && n.op != Op::kRegister) {
      auto v = Apply(n, n.a >= 0 ? *nodes_[n.a].value : 0, n.b >= 0 ? *nodes_[n.b].value : 0);
      if (v.ok()) n.value = *v;
    }
    return Add(std::move(n));
  }

  absl::StatusOr<int> ParseBinary(int min_precedence) {
    auto lhs = ParseUnary();
    if (!lhs.ok()) return lhs;
    for (;;) {
      const Token& t = Peek();
      const int prec = t.kind == Token::kPunct ? Precedence(t.text) : 0;
      if (prec == 0 || prec < min_precedence) return lhs;
      Next();
      auto rhs = ParseBinary(prec + 1);
      if (!rhs.ok()) return rhs;
      lhs = MakeBinary(BinaryOp(t.text), *lhs, *rhs, t.column);
      if (!lhs.ok()) return lhs;
    }
  }

  absl::StatusOr<int> ParseUnary() {
    Nest nest(depth_);
    const Token& t = Peek();
    if (depth_ > Expr::kMaxDepth) {
      return ErrorAt(t.column, absl::StrFormat("nested more than %d deep", Expr::kMaxDepth));
    }
    if (t.kind == Token::kPunct) {
      if (t.text == "-" && Peek(1).kind == Token::kNumber) {  // a negative literal is signed
        Next();
        return Const(uint64_t{0} - Next().value, kI64, t.column);
      }
      if (t.text == "-" || t.text == "!" || t.text == "~" || t.text == "+" || t.text == "*" ||
          t.text == "&") {
        Next();
        auto operand = ParseUnary();
        if (!operand.ok()) return operand;
        if (t.text == "&") return AddressOf(*operand, t.column);
        if (auto s = CheckValue(*operand); !s.ok()) return s;
        if (t.text == "+") return operand;
        if (t.text == "*") return MakeDeref(*operand, t.column);
        Node n;
        n.op = t.text == "-" ? Op::kNeg : t.text == "!" ? Op::kNot : Op::kCompl;
        n.type = n.op == Op::kNot ? kU64 : Type{8, IsSigned(nodes_[*operand].type), 0};
        n.a = *operand;
        n.column = t.column;
        return Fold(std::move(n));
      }
      if (t.text == "(" && StartsType(Peek(1))) {
        Next();
        auto type = ParseType();
        if (!type.ok()) return type.status();
        if (auto s = Expect(")"); !s.ok()) return s;
        auto operand = ParseUnary();
        if (!operand.ok()) return operand;
        if (auto s = CheckValue(*operand); !s.ok()) return s;
        Node n;
        n.op = Op::kCast;
        n.type = *type;
        n.a = *operand;
        n.column = t.column;
        return Fold(std::move(n));
      }
    }
    return ParsePostfix();
  }

  absl::StatusOr<Type> ParseType() {
    const int column = Peek().column;
    Type type;
    int words = 0, unsigned_ = 0, signed_ = 0, chars = 0, shorts = 0, ints = 0, longs = 0;
    const TypeName* named = nullptr;
    for (;;) {
      const Token& t = Peek();
      if (t.kind != Token::kIdent) break;
      if (Contains(kQualifiers, t.text)) {
        Next();
        continue;
      }
      if (const TypeName* n = FindTypeName(t.text)) {
        if (named != nullptr || words > 0) return ErrorAt(t.column, "bad type");
        named = n;
      } else if (Contains(kTypeWords, t.text)) {
        if (named != nullptr) return ErrorAt(t.column, "bad type");
        ++words;
        unsigned_ += t.text == "unsigned";
        signed_ += t.text == "signed";
        chars += t.text == "char";
        shorts += t.text == "short";
        ints += t.text == "int";
        longs += t.text == "long";
      } else {
        break;
      }
      Next();
    }
    if (named != nullptr) {
      type.width = named->width;
      type.is_signed = named->is_signed;
    } else {
      const bool ok = words > 0 && unsigned_ + signed_ <= 1 && chars <= 1 && shorts <= 1 &&
                      ints <= 1 && longs <= 2 && (chars == 0 || shorts + ints + longs == 0) &&
                      (shorts == 0 || longs == 0);
      if (!ok) return ErrorAt(column, "bad type");
      type.width = chars ? 1 : shorts ? 2 : longs ? 8 : 4;
      type.is_signed = unsigned_ == 0;  // char is signed on x86-64
    }
    while (IsPunct(Peek(), "*")) {
      if (type.pointer == 8) return ErrorAt(Peek().column, "more than 8 levels of pointer");
      Next();
      ++type.pointer;
    }
    return type;
  }

  absl::StatusOr<int> ParsePostfix() {
    auto base = ParsePrimary();
    if (!base.ok()) return base;
    while (IsPunct(Peek(), "[")) {
      const int column = Next().column;
      auto index = ParseBinary(1);
      if (!index.ok()) return index;
      if (auto s = Expect("]"); !s.ok()) return s;
      const Node& b = nodes_[*base];
      if (b.op == Op::kUnsized || b.type.pointer == 0) {
        return ErrorAt(column, absl::StrFormat("indexing needs a pointer: write ((T*)&%s)[i] "
                                               "with T the element type",
                                               b.op == Op::kUnsized ? b.name : "sym"));
      }
      if (auto s = CheckValue(*index); !s.ok()) return s;
      if (nodes_[*index].type.pointer != 0) return ErrorAt(column, "an index must be an integer");
      auto element = MakeBinary(Op::kAdd, *base, *index, column);
      if (!element.ok()) return element;
      base = MakeDeref(*element, column);
      if (!base.ok()) return base;
    }
    return base;
  }

  absl::StatusOr<int> ParsePrimary() {
    const Token& t = Next();
    switch (t.kind) {
      case Token::kNumber:
        return Const(t.value, kU64, t.column);
      case Token::kRegister: {
        if (!Contains(kRegisters, t.text)) {
          return ErrorAt(t.column, absl::StrFormat("unknown register '$%s'", t.text));
        }
        Node n;
        n.op = Op::kRegister;
        n.name = std::string(t.text);
        n.column = t.column;
        return Add(std::move(n));
      }
      case Token::kIdent:
        return Symbol(t);
      case Token::kPunct:
        if (t.text == "(") {
          auto inner = ParseBinary(1);
          if (!inner.ok()) return inner;
          if (auto s = Expect(")"); !s.ok()) return s;
          return inner;
        }
        break;
      case Token::kEnd:
        break;
    }
    return Unexpected(t, "an operand");
  }

  absl::StatusOr<int> Symbol(const Token& t) {
    if (StartsType(t)) {
      return ErrorAt(t.column, absl::StrFormat("type '%s' outside a cast", t.text));
    }
    if (symbols_ == nullptr) {
      return ErrorAt(t.column,
                     absl::StrFormat("'%s': no symbols to look it up in (no guest ELF)", t.text));
    }
    const std::optional<debug::Symbol> sym = symbols_->Find(t.text);
    if (!sym) return ErrorAt(t.column, absl::StrFormat("unknown symbol '%s'", t.text));
    if (sym->type == STT_FUNC) {  // a function designator: its address, as in C
      auto c = Const(sym->value, kU64, t.column);
      if (c.ok()) nodes_[*c].function = true;
      return c;
    }
    if (sym->size == 1 || sym->size == 2 || sym->size == 4 || sym->size == 8) {
      auto addr = Const(sym->value, Type{static_cast<uint8_t>(sym->size), false, 1}, t.column);
      if (!addr.ok()) return addr;
      return MakeDeref(*addr, t.column);
    }
    Node n;
    n.op = Op::kUnsized;
    n.value = sym->value;
    n.name = sym->name;
    n.column = t.column;
    return Add(std::move(n));
  }

  absl::StatusOr<int> AddressOf(int operand, int column) {
    const Node& n = nodes_[operand];
    if (n.op == Op::kDeref) return n.a;
    if (n.op == Op::kUnsized) return Const(*n.value, kU64, n.column);
    if (n.op == Op::kConst && n.function) return operand;
    return ErrorAt(column, "'&' needs a symbol or a dereference");
  }

  absl::StatusOr<int> MakeDeref(int operand, int column) {
    const Type t = nodes_[operand].type;
    Node n;
    n.op = Op::kDeref;
    // Through a plain integer, a u64.
    n.type =
        t.pointer == 0 ? kU64 : Type{t.width, t.is_signed, static_cast<uint8_t>(t.pointer - 1)};
    n.a = operand;
    n.column = column;
    return Add(std::move(n));
  }

  // i * size, for pointer arithmetic.
  absl::StatusOr<int> Scale(int i, uint64_t size, int column) {
    if (size == 1) return i;
    auto c = Const(size, kU64, column);
    if (!c.ok()) return c;
    Node n;
    n.op = Op::kMul;
    n.type = nodes_[i].type;
    n.a = i;
    n.b = *c;
    n.column = column;
    return Fold(std::move(n));
  }

  absl::StatusOr<int> MakeBinary(Op op, int a, int b, int column) {
    if (auto s = CheckValue(a); !s.ok()) return s;
    if (auto s = CheckValue(b); !s.ok()) return s;
    const Type ta = nodes_[a].type, tb = nodes_[b].type;
    Node n;
    n.op = op;
    n.a = a;
    n.b = b;
    n.column = column;
    // Pointer arithmetic, as in C: p + i, i + p and p - i step in elements; p - q counts them.
    if (op == Op::kAdd && ta.pointer == 0 && tb.pointer > 0) std::swap(n.a, n.b);
    const Type pa = nodes_[n.a].type, pb = nodes_[n.b].type;
    if ((op == Op::kAdd || op == Op::kSub) && pa.pointer > 0 && pb.pointer == 0) {
      auto scaled = Scale(n.b, ElementSize(pa), column);
      if (!scaled.ok()) return scaled;
      n.b = *scaled;
      n.type = pa;
      return Fold(std::move(n));
    }
    if (op == Op::kSub && pa.pointer > 0 && pb.pointer > 0 && ElementSize(pa) == ElementSize(pb)) {
      n.type = kI64;
      auto bytes = Fold(std::move(n));
      if (!bytes.ok() || ElementSize(pa) == 1) return bytes;
      auto size = Const(ElementSize(pa), kU64, column);
      if (!size.ok()) return size;
      Node d;
      d.op = Op::kDiv;
      d.type = kI64;
      d.signed_op = true;
      d.a = *bytes;
      d.b = *size;
      d.column = column;
      return Fold(std::move(d));
    }
    // Anything else takes pointers for plain (unsigned) integers.
    const bool either_signed = IsSigned(ta) || IsSigned(tb);
    switch (op) {
      case Op::kShl:
      case Op::kShr:
        n.signed_op = IsSigned(ta);
        n.type = Type{8, IsSigned(ta), 0};
        break;
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe:
        n.signed_op = either_signed;
        n.type = kU64;
        break;
      case Op::kEq:
      case Op::kNe:
      case Op::kLogicalAnd:
      case Op::kLogicalOr:
        n.type = kU64;
        break;
      default:
        n.signed_op = either_signed;
        n.type = Type{8, either_signed, 0};
    }
    return Fold(std::move(n));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  const ElfSymbols* symbols_;
  std::vector<Node> nodes_;
};

// The reads at parse-time addresses under `i` (bounded by kMaxTreeDepth).
void CollectReads(const std::vector<Node>& nodes, int i, std::vector<MemoryRange>& out) {
  const Node& n = nodes[i];
  if (n.op == Op::kDeref && nodes[n.a].value) out.push_back({*nodes[n.a].value, ReadWidth(n.type)});
  for (int child : {n.a, n.b}) {
    if (child >= 0) CollectReads(nodes, child, out);
  }
}

}  // namespace

absl::StatusOr<Expr> Expr::Parse(std::string_view text, const ElfSymbols* symbols) {
  if (text.size() > kMaxText) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expression of %d bytes: at most %d", text.size(), kMaxText));
  }
  auto tokens = Lex(text);
  if (!tokens.ok()) return tokens.status();
  Parser parser(*std::move(tokens), symbols);
  auto root = parser.Parse();
  if (!root.ok()) return root.status();
  Expr e;
  e.text_ = std::string(text);
  e.nodes_ = parser.TakeNodes();
  e.root_ = *root;
  CollectReads(e.nodes_, e.root_, e.reads_);
  std::sort(e.reads_.begin(), e.reads_.end(), [](const MemoryRange& x, const MemoryRange& y) {
    return x.addr != y.addr ? x.addr < y.addr : x.size < y.size;
  });
  e.reads_.erase(std::unique(e.reads_.begin(), e.reads_.end()), e.reads_.end());
  return e;
}

absl::StatusOr<uint64_t> Expr::Evaluate(ExprContext& ctx) const { return Eval(ctx, root_); }

absl::StatusOr<uint64_t> Expr::Eval(ExprContext& ctx, int i) const {
  const Node& n = nodes_[i];
  if (n.value) return *n.value;
  switch (n.op) {
    case Op::kRegister: {
      auto v = ctx.Register(n.name);
      if (!v.ok()) {
        return absl::Status(v.status().code(),
                            absl::StrFormat("$%s: %s", n.name, v.status().message()));
      }
      return v;
    }
    case Op::kDeref: {
      auto addr = Eval(ctx, n.a);
      if (!addr.ok()) return addr;
      const uint64_t width = ReadWidth(n.type);
      uint8_t bytes[8] = {};
      if (auto s = ctx.ReadMemory(*addr, std::span<uint8_t>(bytes, width)); !s.ok()) {
        return absl::Status(s.code(), absl::StrFormat("column %d: reading %d bytes at 0x%x: %s",
                                                      n.column, width, *addr, s.message()));
      }
      uint64_t v = 0;
      for (uint64_t k = 0; k < width; ++k) v |= uint64_t{bytes[k]} << (8 * k);
      return Convert(n.type, v);
    }
    case Op::kLogicalAnd:
    case Op::kLogicalOr: {
      auto a = Eval(ctx, n.a);
      if (!a.ok()) return a;
      if ((*a != 0) == (n.op == Op::kLogicalOr)) return uint64_t{*a != 0};
      auto b = Eval(ctx, n.b);
      if (!b.ok()) return b;
      return uint64_t{*b != 0};
    }
    case Op::kConst:
    case Op::kUnsized:
      return absl::InternalError("assert expression: unresolved operand");
    default:
      break;
  }
  auto a = Eval(ctx, n.a);
  if (!a.ok()) return a;
  uint64_t b = 0;
  if (n.b >= 0) {
    auto v = Eval(ctx, n.b);
    if (!v.ok()) return v;
    b = *v;
  }
  return Apply(n, *a, b);
}

}  // namespace ftd::replay::debug
