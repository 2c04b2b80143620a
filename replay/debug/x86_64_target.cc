#include "replay/debug/x86_64_target.h"

#include <bit>
#include <cstring>
#include <vector>

#include "replay/debug/gdb_packet.h"

namespace ftd::replay::debug {
namespace {

// Registers are copied as the host's bytes: the wire order is the target's, little-endian,
// and KVM only runs x86 guests on x86 hosts.
static_assert(std::endian::native == std::endian::little);

// The features gdb's amd64 support validates by name (core, sse, segments; register names as
// in gdb's own 64bit-*.xml), plus the control registers a kernel debugger wants, in a feature
// of ours that gdb shows without interpreting. Every feature's first register carries its regnum
// so the numbering is explicit, not implied by order; cr1 does not exist, hence 59..63.
constexpr std::string_view kTargetXml = R"(<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>i386:x86-64</architecture>
  <feature name="org.gnu.gdb.i386.core">
    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/>
      <field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/>
      <field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/>
      <field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/>
      <field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/>
      <field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/>
      <field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/>
      <field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/>
      <field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>
    <reg name="rax" bitsize="64" type="int64" regnum="0"/>
    <reg name="rbx" bitsize="64" type="int64"/>
    <reg name="rcx" bitsize="64" type="int64"/>
    <reg name="rdx" bitsize="64" type="int64"/>
    <reg name="rsi" bitsize="64" type="int64"/>
    <reg name="rdi" bitsize="64" type="int64"/>
    <reg name="rbp" bitsize="64" type="data_ptr"/>
    <reg name="rsp" bitsize="64" type="data_ptr"/>
    <reg name="r8" bitsize="64" type="int64"/>
    <reg name="r9" bitsize="64" type="int64"/>
    <reg name="r10" bitsize="64" type="int64"/>
    <reg name="r11" bitsize="64" type="int64"/>
    <reg name="r12" bitsize="64" type="int64"/>
    <reg name="r13" bitsize="64" type="int64"/>
    <reg name="r14" bitsize="64" type="int64"/>
    <reg name="r15" bitsize="64" type="int64"/>
    <reg name="rip" bitsize="64" type="code_ptr" regnum="16"/>
    <reg name="eflags" bitsize="32" type="i386_eflags"/>
    <reg name="cs" bitsize="32" type="int32" regnum="18"/>
    <reg name="ss" bitsize="32" type="int32"/>
    <reg name="ds" bitsize="32" type="int32"/>
    <reg name="es" bitsize="32" type="int32"/>
    <reg name="fs" bitsize="32" type="int32"/>
    <reg name="gs" bitsize="32" type="int32"/>
    <reg name="st0" bitsize="80" type="i387_ext" regnum="24"/>
    <reg name="st1" bitsize="80" type="i387_ext"/>
    <reg name="st2" bitsize="80" type="i387_ext"/>
    <reg name="st3" bitsize="80" type="i387_ext"/>
    <reg name="st4" bitsize="80" type="i387_ext"/>
    <reg name="st5" bitsize="80" type="i387_ext"/>
    <reg name="st6" bitsize="80" type="i387_ext"/>
    <reg name="st7" bitsize="80" type="i387_ext"/>
    <reg name="fctrl" bitsize="32" type="int" group="float" regnum="32"/>
    <reg name="fstat" bitsize="32" type="int" group="float"/>
    <reg name="ftag" bitsize="32" type="int" group="float"/>
    <reg name="fiseg" bitsize="32" type="int" group="float"/>
    <reg name="fioff" bitsize="32" type="int" group="float"/>
    <reg name="foseg" bitsize="32" type="int" group="float"/>
    <reg name="fooff" bitsize="32" type="int" group="float"/>
    <reg name="fop" bitsize="32" type="int" group="float"/>
  </feature>
  <feature name="org.gnu.gdb.i386.sse">
    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/>
      <field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/>
      <field name="v8_int16" type="v8i16"/>
      <field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/>
      <field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/>
      <field name="DE" start="1" end="1"/>
      <field name="ZE" start="2" end="2"/>
      <field name="OE" start="3" end="3"/>
      <field name="UE" start="4" end="4"/>
      <field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/>
      <field name="IM" start="7" end="7"/>
      <field name="DM" start="8" end="8"/>
      <field name="ZM" start="9" end="9"/>
      <field name="OM" start="10" end="10"/>
      <field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/>
      <field name="FZ" start="15" end="15"/>
    </flags>
    <reg name="xmm0" bitsize="128" type="vec128" regnum="40"/>
    <reg name="xmm1" bitsize="128" type="vec128"/>
    <reg name="xmm2" bitsize="128" type="vec128"/>
    <reg name="xmm3" bitsize="128" type="vec128"/>
    <reg name="xmm4" bitsize="128" type="vec128"/>
    <reg name="xmm5" bitsize="128" type="vec128"/>
    <reg name="xmm6" bitsize="128" type="vec128"/>
    <reg name="xmm7" bitsize="128" type="vec128"/>
    <reg name="xmm8" bitsize="128" type="vec128"/>
    <reg name="xmm9" bitsize="128" type="vec128"/>
    <reg name="xmm10" bitsize="128" type="vec128"/>
    <reg name="xmm11" bitsize="128" type="vec128"/>
    <reg name="xmm12" bitsize="128" type="vec128"/>
    <reg name="xmm13" bitsize="128" type="vec128"/>
    <reg name="xmm14" bitsize="128" type="vec128"/>
    <reg name="xmm15" bitsize="128" type="vec128"/>
    <reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector" regnum="56"/>
  </feature>
  <feature name="org.gnu.gdb.i386.segments">
    <reg name="fs_base" bitsize="64" type="int64" regnum="57"/>
    <reg name="gs_base" bitsize="64" type="int64" regnum="58"/>
  </feature>
  <feature name="org.ftd.x86.system">
    <reg name="cr0" bitsize="64" type="uint64" group="system" regnum="59"/>
    <reg name="cr2" bitsize="64" type="uint64" group="system" regnum="60"/>
    <reg name="cr3" bitsize="64" type="uint64" group="system" regnum="61"/>
    <reg name="cr4" bitsize="64" type="uint64" group="system" regnum="62"/>
    <reg name="efer" bitsize="64" type="uint64" group="system" regnum="63"/>
  </feature>
</target>
)";

// Where register `regno` lives in `r`; empty when out of range. The sizes are the XML's.
std::span<uint8_t> RegisterBytes(GdbRegisters& r, int regno) {
  auto of = [](auto& field) {
    return std::span<uint8_t>(reinterpret_cast<uint8_t*>(&field), sizeof(field));
  };
  if (regno < 0 || regno >= kRegisterCount) return {};
  if (regno < kRip) return of(r.gpr[regno]);
  if (regno == kRip) return of(r.rip);
  if (regno == kEflags) return of(r.eflags);
  if (regno < kSt0) return of(r.seg[regno - kCs]);
  if (regno < kFctrl) return of(r.st[regno - kSt0]);
  if (regno < kXmm0) return of(r.fpu_ctrl[regno - kFctrl]);
  if (regno < kMxcsr) return of(r.xmm[regno - kXmm0]);
  switch (regno) {
    case kMxcsr:
      return of(r.mxcsr);
    case kFsBase:
      return of(r.fs_base);
    case kGsBase:
      return of(r.gs_base);
    case kCr0:
      return of(r.cr0);
    case kCr2:
      return of(r.cr2);
    case kCr3:
      return of(r.cr3);
    case kCr4:
      return of(r.cr4);
    default:
      return of(r.efer);
  }
}

std::span<const uint8_t> RegisterBytes(const GdbRegisters& r, int regno) {
  return RegisterBytes(const_cast<GdbRegisters&>(r), regno);
}

// The x87 tag of a non-empty register from its 80-bit value: 0 valid, 1 zero, 2 special (NaN,
// infinity, denormal, unnormal), as FSTENV would report it.
uint32_t X87Tag(const uint8_t* value) {
  uint64_t mantissa;
  std::memcpy(&mantissa, value, 8);
  unsigned exponent = (value[9] & 0x7fu) << 8 | value[8];
  if (exponent == 0x7fff) return 2;
  if (exponent == 0) return mantissa == 0 ? 1 : 2;
  return (mantissa >> 63) ? 0 : 2;
}

// FXSAVE's abridged tag has a bit per physical register; fpr[] is in stack order, and stack
// slot i is physical register (top + i) mod 8.
uint32_t FullTagWord(const kvm_fpu& fpu) {
  unsigned top = (fpu.fsw >> 11) & 7;
  uint32_t tag = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    uint32_t t = 3;  // empty
    if (fpu.ftwx & (1u << phys)) t = X87Tag(fpu.fpr[(phys - top) & 7]);
    tag |= t << (2 * phys);
  }
  return tag;
}

uint8_t AbridgedTag(uint32_t tag_word) {
  uint8_t ftwx = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    if (((tag_word >> (2 * phys)) & 3) != 3) ftwx |= static_cast<uint8_t>(1u << phys);
  }
  return ftwx;
}

// kvm_regs stores rsp before rbp; gdb numbers rbp (6) before rsp (7).
__u64* KvmGpr(kvm_regs& k, int i) {
  __u64* const order[16] = {&k.rax, &k.rbx, &k.rcx, &k.rdx, &k.rsi, &k.rdi, &k.rbp, &k.rsp,
                            &k.r8,  &k.r9,  &k.r10, &k.r11, &k.r12, &k.r13, &k.r14, &k.r15};
  return order[i];
}

}  // namespace

std::string_view TargetXml() { return kTargetXml; }

size_t RegisterSize(int regno) {
  static const GdbRegisters kProbe;
  return RegisterBytes(kProbe, regno).size();
}

size_t RegisterFileSize() {
  size_t n = 0;
  for (int r = 0; r < kRegisterCount; ++r) n += RegisterSize(r);
  return n;
}

GdbRegisters FromKvm(const kvm_regs& regs, const kvm_sregs& sregs, const kvm_fpu& fpu) {
  GdbRegisters g;
  kvm_regs k = regs;
  for (int i = 0; i < 16; ++i) g.gpr[i] = *KvmGpr(k, i);
  g.rip = regs.rip;
  g.eflags = static_cast<uint32_t>(regs.rflags);
  const kvm_segment* segs[6] = {&sregs.cs, &sregs.ss, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs};
  for (int i = 0; i < 6; ++i) g.seg[i] = segs[i]->selector;
  for (int i = 0; i < 8; ++i) std::memcpy(g.st[i], fpu.fpr[i], sizeof(g.st[i]));
  g.fpu_ctrl[0] = fpu.fcw;
  g.fpu_ctrl[1] = fpu.fsw;
  g.fpu_ctrl[2] = FullTagWord(fpu);
  g.fpu_ctrl[3] = static_cast<uint32_t>(fpu.last_ip >> 32);
  g.fpu_ctrl[4] = static_cast<uint32_t>(fpu.last_ip);
  g.fpu_ctrl[5] = static_cast<uint32_t>(fpu.last_dp >> 32);
  g.fpu_ctrl[6] = static_cast<uint32_t>(fpu.last_dp);
  g.fpu_ctrl[7] = fpu.last_opcode;
  std::memcpy(g.xmm, fpu.xmm, sizeof(g.xmm));
  g.mxcsr = fpu.mxcsr;
  g.fs_base = sregs.fs.base;
  g.gs_base = sregs.gs.base;
  g.cr0 = sregs.cr0;
  g.cr2 = sregs.cr2;
  g.cr3 = sregs.cr3;
  g.cr4 = sregs.cr4;
  g.efer = sregs.efer;
  return g;
}

void ToKvm(const GdbRegisters& in, kvm_regs* regs, kvm_sregs* sregs, kvm_fpu* fpu) {
  for (int i = 0; i < 16; ++i) *KvmGpr(*regs, i) = in.gpr[i];
  regs->rip = in.rip;
  regs->rflags = (regs->rflags & ~uint64_t{0xffffffff}) | in.eflags;
  kvm_segment* segs[6] = {&sregs->cs, &sregs->ss, &sregs->ds, &sregs->es, &sregs->fs, &sregs->gs};
  for (int i = 0; i < 6; ++i) segs[i]->selector = static_cast<uint16_t>(in.seg[i]);
  for (int i = 0; i < 8; ++i) std::memcpy(fpu->fpr[i], in.st[i], sizeof(in.st[i]));
  fpu->fcw = static_cast<uint16_t>(in.fpu_ctrl[0]);
  fpu->fsw = static_cast<uint16_t>(in.fpu_ctrl[1]);
  fpu->ftwx = AbridgedTag(in.fpu_ctrl[2]);
  fpu->last_ip = uint64_t{in.fpu_ctrl[3]} << 32 | in.fpu_ctrl[4];
  fpu->last_dp = uint64_t{in.fpu_ctrl[5]} << 32 | in.fpu_ctrl[6];
  fpu->last_opcode = static_cast<uint16_t>(in.fpu_ctrl[7]);
  std::memcpy(fpu->xmm, in.xmm, sizeof(in.xmm));
  fpu->mxcsr = in.mxcsr;
  sregs->fs.base = in.fs_base;
  sregs->gs.base = in.gs_base;
  sregs->cr0 = in.cr0;
  sregs->cr2 = in.cr2;
  sregs->cr3 = in.cr3;
  sregs->cr4 = in.cr4;
  sregs->efer = in.efer;
}

std::string EncodeAll(const GdbRegisters& regs) {
  std::string out;
  out.reserve(2 * RegisterFileSize());
  for (int r = 0; r < kRegisterCount; ++r) out += ToHex(RegisterBytes(regs, r));
  return out;
}

bool DecodeAll(std::span<const uint8_t> bytes, GdbRegisters* regs) {
  if (bytes.size() != RegisterFileSize()) return false;
  for (int r = 0; r < kRegisterCount; ++r) {
    std::span<uint8_t> dst = RegisterBytes(*regs, r);
    std::memcpy(dst.data(), bytes.data(), dst.size());
    bytes = bytes.subspan(dst.size());
  }
  return true;
}

bool DecodeAll(std::string_view hex, GdbRegisters* regs) {
  if (hex.size() != 2 * RegisterFileSize()) return false;  // before allocating
  auto bytes = FromHex(hex);
  return bytes && DecodeAll(std::span<const uint8_t>(*bytes), regs);
}

std::optional<std::string> EncodeOne(const GdbRegisters& regs, int regno) {
  std::span<const uint8_t> bytes = RegisterBytes(regs, regno);
  if (bytes.empty()) return std::nullopt;
  return ToHex(bytes);
}

bool DecodeOne(int regno, std::span<const uint8_t> bytes, GdbRegisters* regs) {
  std::span<uint8_t> dst = RegisterBytes(*regs, regno);
  if (dst.empty() || bytes.size() != dst.size()) return false;
  std::memcpy(dst.data(), bytes.data(), dst.size());
  return true;
}

bool DecodeOne(int regno, std::string_view hex, GdbRegisters* regs) {
  if (hex.size() != 2 * RegisterSize(regno)) return false;
  auto bytes = FromHex(hex);
  return bytes && DecodeOne(regno, std::span<const uint8_t>(*bytes), regs);
}

}  // namespace ftd::replay::debug
