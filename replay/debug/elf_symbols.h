// The symbols and sections of a guest image (ELF64, little-endian, x86-64), for the replay
// debugger: names in reports ("kv_put+0x12"), symbols in assert expressions, and the sections
// the guest kit fills for the host (.ftd_asserts). The image may come from anywhere (a user's
// path, a recording), so every offset and size in it is checked against the buffer: a
// truncated or malformed file is an error naming what is wrong, never a read past the end.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::replay::debug {

struct Symbol {
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  uint8_t type = 0;  // STT_NOTYPE, STT_OBJECT, STT_FUNC, ...
};

struct Section {
  uint64_t addr = 0;           // sh_addr: where it is loaded (0 for non-allocated sections)
  std::vector<uint8_t> bytes;  // the file's bytes; empty for SHT_NOBITS (.bss)
};

class ElfSymbols {
 public:
  // Copies what it needs from `elf`, which may be freed afterwards. An image without .symtab
  // (stripped) loads with no symbols: its sections are still useful.
  static absl::StatusOr<ElfSymbols> Load(std::span<const uint8_t> elf);

  // A symbol by name. Names of local symbols may repeat (static variables of different files):
  // a global (or weak) one wins, otherwise the first in the table.
  std::optional<Symbol> Find(std::string_view name) const;

  // "name" or "name+0x12" for the symbol with the highest value at or below `addr` that covers
  // it (addr < value + max(size, 1): a symbol without size covers only its own address);
  // "0x..." when none does. Linear in the number of symbols: it is for reports.
  std::string Describe(uint64_t addr) const;

  // The first section called `name`.
  std::optional<Section> FindSection(std::string_view name) const;

  const std::vector<Symbol>& symbols() const { return symbols_; }

 private:
  struct SectionRef {
    std::string name;
    uint64_t addr;
    uint64_t offset;  // into image_, checked at Load (0 without bytes)
    uint64_t size;    // 0 without bytes (SHT_NOBITS, SHT_NULL)
  };

  std::vector<uint8_t> image_;
  std::vector<SectionRef> sections_;
  std::vector<Symbol> symbols_;   // named, defined symbols, in table order
  std::vector<uint8_t> bind_;     // per symbol: STB_*, for Find's choice among equal names
  std::vector<bool> is_address_;  // per symbol: not SHN_ABS (a constant, not a place to name)
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace ftd::replay::debug
