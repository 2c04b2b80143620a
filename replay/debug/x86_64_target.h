// What gdb sees of an x86-64 vCPU: the target description (target.xml) and the register file
// in gdb's amd64 numbering, converted from and to KVM's register structures. The numbering is
// the remote one the XML fixes with its regnum attributes; 'g' replies list every register in
// that order, each in its own size, little-endian.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ftd::replay::debug {

enum RegNum : int {
  kRax = 0,  // rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (gdb's order, not kvm_regs')
  kRip = 16,
  kEflags = 17,
  kCs = 18,  // cs ss ds es fs gs
  kSt0 = 24,
  kFctrl = 32,  // fctrl fstat ftag fiseg fioff foseg fooff fop
  kXmm0 = 40,
  kMxcsr = 56,
  kFsBase = 57,
  kGsBase = 58,
  kCr0 = 59,  // cr0 cr2 cr3 cr4 efer
  kCr2 = 60,
  kCr3 = 61,
  kCr4 = 62,
  kEfer = 63,
  kRegisterCount = 64,
};

struct GdbRegisters {
  uint64_t gpr[16] = {};  // in gdb's order, see kRax
  uint64_t rip = 0;
  uint32_t eflags = 0;
  uint32_t seg[6] = {};       // selectors: cs ss ds es fs gs
  uint8_t st[8][10] = {};     // st0..st7 (stack order, as FXSAVE stores them)
  uint32_t fpu_ctrl[8] = {};  // fctrl fstat ftag fiseg fioff foseg fooff fop
  uint8_t xmm[16][16] = {};
  uint32_t mxcsr = 0;
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
  uint64_t cr0 = 0;
  uint64_t cr2 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;

  bool operator==(const GdbRegisters&) const = default;
};

// The complete target.xml (one document, every feature inline, so gdb needs one annex).
std::string_view TargetXml();

// Bytes of register `regno` on the wire; 0 when out of range.
size_t RegisterSize(int regno);
// Bytes of a whole 'g' reply (before hex encoding): the sum of all RegisterSize.
size_t RegisterFileSize();

// ftag is gdb's full 16-bit tag word (2 bits per physical register: valid, zero, special,
// empty); KVM keeps the FXSAVE abridged one (1 bit: not empty). FromKvm classifies each
// non-empty register from its contents as the FPU would; ToKvm keeps "empty or not". fiseg and
// foseg are the upper halves of the 64-bit FPU instruction and data pointers (gdb's amd64 view
// of FXSAVE64), fioff and fooff the lower ones.
GdbRegisters FromKvm(const kvm_regs& regs, const kvm_sregs& sregs, const kvm_fpu& fpu);
// Writes the registers into structures that already hold the vCPU's current state (read with
// KVM_GET_*): what gdb has no register for (segment bases other than fs/gs, limits and
// attributes, cr8, apic_base, the upper 32 bits of rflags) is left as it was. A segment
// register write changes only the selector.
void ToKvm(const GdbRegisters& in, kvm_regs* regs, kvm_sregs* sregs, kvm_fpu* fpu);

// The 'g' reply: every register in regnum order, little-endian hex.
std::string EncodeAll(const GdbRegisters& regs);
// A 'G' request: exactly RegisterFileSize() bytes as hex (or raw, as ParseCommand gives them).
// On false `regs` is unchanged.
bool DecodeAll(std::string_view hex, GdbRegisters* regs);
bool DecodeAll(std::span<const uint8_t> bytes, GdbRegisters* regs);
// The 'p' reply; nullopt for a regno out of range.
std::optional<std::string> EncodeOne(const GdbRegisters& regs, int regno);
// A 'P' value: exactly RegisterSize(regno) bytes as hex (or raw). False for a regno out of
// range or a wrong size.
bool DecodeOne(int regno, std::string_view hex, GdbRegisters* regs);
bool DecodeOne(int regno, std::span<const uint8_t> bytes, GdbRegisters* regs);

}  // namespace ftd::replay::debug
