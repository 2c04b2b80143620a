#include "replay/debug/elf_symbols.h"

#include <elf.h>

#include <bit>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ftd::replay::debug {
namespace {

// The structs are read with memcpy, as the host lays them out: that is the file's layout only
// on a little-endian host.
static_assert(std::endian::native == std::endian::little);

// [off, off + len) lies within a buffer of `total` bytes (no overflow for any inputs).
bool Fits(uint64_t off, uint64_t len, uint64_t total) { return off <= total && len <= total - off; }

template <typename T>
T ReadAt(std::span<const uint8_t> elf, uint64_t off) {
  T v;
  std::memcpy(&v, elf.data() + off, sizeof(T));
  return v;
}

// The NUL-terminated string at `off` in the string table `table`, or an error naming `what`.
absl::StatusOr<std::string> StringAt(std::span<const uint8_t> table, uint64_t off,
                                     std::string_view what) {
  if (off >= table.size()) {
    return absl::DataLossError(
        absl::StrFormat("ELF: %s: name offset 0x%x is past its string table (0x%x bytes)", what,
                        off, table.size()));
  }
  const auto* begin = reinterpret_cast<const char*>(table.data() + off);
  const void* nul = std::memchr(begin, 0, table.size() - off);
  if (nul == nullptr) {
    return absl::DataLossError(
        absl::StrFormat("ELF: %s: name at offset 0x%x has no NUL in its string table", what, off));
  }
  return std::string(begin, static_cast<const char*>(nul));
}

bool IsGlobal(uint8_t bind) { return bind == STB_GLOBAL || bind == STB_WEAK; }

}  // namespace

absl::StatusOr<ElfSymbols> ElfSymbols::Load(std::span<const uint8_t> elf) {
  if (elf.size() < EI_NIDENT || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError("not an ELF file (no \\x7fELF magic)");
  }
  if (elf[EI_CLASS] != ELFCLASS64 || elf[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ELF: class %d, data %d: only ELF64 little-endian is supported",
                        elf[EI_CLASS], elf[EI_DATA]));
  }
  if (elf.size() < sizeof(Elf64_Ehdr)) {
    return absl::DataLossError(
        absl::StrFormat("ELF: truncated header (%d of %d bytes)", elf.size(), sizeof(Elf64_Ehdr)));
  }
  const auto eh = ReadAt<Elf64_Ehdr>(elf, 0);
  if (eh.e_machine != EM_X86_64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ELF: machine %d: only x86-64 (%d) is supported", eh.e_machine, EM_X86_64));
  }

  ElfSymbols out;
  if (eh.e_shoff == 0) return out;  // no section headers: nothing to name or find
  // Extended numbering: with 0xff00 sections or more, section 0 holds the count and the index.
  if (!Fits(eh.e_shoff, sizeof(Elf64_Shdr), elf.size())) {
    return absl::DataLossError(absl::StrFormat(
        "ELF: section header table at 0x%x is past the end of the file (0x%x bytes)", eh.e_shoff,
        elf.size()));
  }
  if (eh.e_shentsize != sizeof(Elf64_Shdr)) {
    return absl::DataLossError(absl::StrFormat("ELF: section header size %d, expected %d",
                                               eh.e_shentsize, sizeof(Elf64_Shdr)));
  }
  const auto sh0 = ReadAt<Elf64_Shdr>(elf, eh.e_shoff);
  const uint64_t shnum = eh.e_shnum != 0 ? eh.e_shnum : sh0.sh_size;
  const uint64_t shstrndx = eh.e_shstrndx != SHN_XINDEX ? eh.e_shstrndx : sh0.sh_link;
  if (shnum > (elf.size() - eh.e_shoff) / sizeof(Elf64_Shdr)) {
    return absl::DataLossError(absl::StrFormat(
        "ELF: section header table (%d entries at 0x%x) runs past the end of the file (0x%x "
        "bytes)",
        shnum, eh.e_shoff, elf.size()));
  }
  std::vector<Elf64_Shdr> sh(shnum);
  for (uint64_t i = 0; i < shnum; ++i) {
    sh[i] = ReadAt<Elf64_Shdr>(elf, eh.e_shoff + i * sizeof(Elf64_Shdr));
  }
  // Every section's bytes must lie in the file (SHT_NULL and SHT_NOBITS have none).
  auto has_bytes = [&](uint64_t i) {
    return sh[i].sh_type != SHT_NULL && sh[i].sh_type != SHT_NOBITS;
  };
  auto bytes_of = [&](uint64_t i) { return elf.subspan(sh[i].sh_offset, sh[i].sh_size); };
  for (uint64_t i = 0; i < shnum; ++i) {
    if (has_bytes(i) && !Fits(sh[i].sh_offset, sh[i].sh_size, elf.size())) {
      return absl::DataLossError(absl::StrFormat(
          "ELF: section %d (offset 0x%x, size 0x%x) runs past the end of the file (0x%x bytes)", i,
          sh[i].sh_offset, sh[i].sh_size, elf.size()));
    }
  }
  std::span<const uint8_t> shstrtab;
  if (shstrndx != SHN_UNDEF) {
    if (shstrndx >= shnum || sh[shstrndx].sh_type != SHT_STRTAB) {
      return absl::DataLossError(
          absl::StrFormat("ELF: section name table index %d is not a string table", shstrndx));
    }
    shstrtab = bytes_of(shstrndx);
  }
  for (uint64_t i = 0; i < shnum; ++i) {
    std::string name;
    if (!shstrtab.empty() || sh[i].sh_name != 0) {
      auto n = StringAt(shstrtab, sh[i].sh_name, absl::StrFormat("section %d", i));
      if (!n.ok()) return n.status();
      name = *std::move(n);
    }
    if (has_bytes(i)) {
      out.sections_.push_back({std::move(name), sh[i].sh_addr, sh[i].sh_offset, sh[i].sh_size});
    } else {
      out.sections_.push_back({std::move(name), sh[i].sh_addr, 0, 0});
    }
  }

  uint64_t symtab = 0;
  while (symtab < shnum && sh[symtab].sh_type != SHT_SYMTAB) ++symtab;
  if (symtab < shnum) {
    const Elf64_Shdr& s = sh[symtab];
    if (s.sh_entsize != sizeof(Elf64_Sym) || s.sh_size % sizeof(Elf64_Sym) != 0) {
      return absl::DataLossError(
          absl::StrFormat("ELF: .symtab (section %d): entry size %d, size 0x%x: expected entries "
                          "of %d bytes",
                          symtab, s.sh_entsize, s.sh_size, sizeof(Elf64_Sym)));
    }
    if (s.sh_link >= shnum || sh[s.sh_link].sh_type != SHT_STRTAB) {
      return absl::DataLossError(absl::StrFormat(
          "ELF: .symtab (section %d) links to section %d, which is not a string table", symtab,
          s.sh_link));
    }
    const std::span<const uint8_t> strtab = bytes_of(s.sh_link);
    const uint64_t count = s.sh_size / sizeof(Elf64_Sym);
    for (uint64_t i = 1; i < count; ++i) {  // entry 0 is the undefined symbol
      const auto sym = ReadAt<Elf64_Sym>(elf, s.sh_offset + i * sizeof(Elf64_Sym));
      const uint8_t type = ELF64_ST_TYPE(sym.st_info);
      if (sym.st_name == 0 || sym.st_shndx == SHN_UNDEF || type == STT_SECTION ||
          type == STT_FILE) {
        continue;
      }
      auto name = StringAt(strtab, sym.st_name, absl::StrFormat("symbol %d", i));
      if (!name.ok()) return name.status();
      if (name->empty()) continue;  // nothing to find it by, nor to name a place with
      const bool global = IsGlobal(ELF64_ST_BIND(sym.st_info));
      auto [it, inserted] = out.by_name_.emplace(*name, out.symbols_.size());
      if (!inserted && global && !IsGlobal(out.bind_[it->second])) it->second = out.symbols_.size();
      out.symbols_.push_back({*std::move(name), sym.st_value, sym.st_size, type});
      out.bind_.push_back(ELF64_ST_BIND(sym.st_info));
      out.is_address_.push_back(sym.st_shndx != SHN_ABS);
    }
  }
  out.image_.assign(elf.begin(), elf.end());
  return out;
}

std::optional<Symbol> ElfSymbols::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  return symbols_[it->second];
}

std::string ElfSymbols::Describe(uint64_t addr) const {
  const Symbol* best = nullptr;
  for (size_t i = 0; i < symbols_.size(); ++i) {
    const Symbol& s = symbols_[i];
    if (!is_address_[i] || s.value > addr || addr - s.value >= std::max<uint64_t>(s.size, 1)) {
      continue;
    }
    // The closest start wins; at the same start, a symbol with a size (a C object or function)
    // names the place better than an assembler label.
    if (best == nullptr || s.value > best->value ||
        (s.value == best->value && best->size == 0 && s.size != 0)) {
      best = &s;
    }
  }
  if (best == nullptr) return absl::StrFormat("0x%x", addr);
  if (addr == best->value) return best->name;
  return absl::StrFormat("%s+0x%x", best->name, addr - best->value);
}

std::optional<Section> ElfSymbols::FindSection(std::string_view name) const {
  for (const SectionRef& s : sections_) {
    if (s.name != name) continue;
    const auto* begin = image_.data() + s.offset;
    return Section{s.addr, std::vector<uint8_t>(begin, begin + s.size)};
  }
  return std::nullopt;
}

}  // namespace ftd::replay::debug
