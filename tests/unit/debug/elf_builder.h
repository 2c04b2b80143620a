// Builds small ELF64 x86-64 images in memory for the debug tests: named sections and a symbol
// table, laid out as a linker does (headers first, section data, the section header table
// last), so that every truncation of the image cuts something Load must check.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ftd::replay::debug::testing {

class ElfBuilder {
 public:
  struct SymbolSpec {
    std::string name;
    uint64_t value;
    uint64_t size;
    uint8_t type;               // STT_*
    uint8_t bind = STB_GLOBAL;  // STB_*
    uint16_t shndx = 1;         // the section it is in (1: the first added)
  };

  // Adds a section (index 1, 2, ... in order); NOBITS sections take `nobits_size` and no bytes.
  ElfBuilder& Section(std::string name, uint32_t type, uint64_t addr, std::vector<uint8_t> bytes,
                      uint64_t nobits_size = 0) {
    sections_.push_back({std::move(name), type, addr, std::move(bytes), nobits_size});
    return *this;
  }
  ElfBuilder& Sym(SymbolSpec s) {
    symbols_.push_back(std::move(s));
    return *this;
  }

  std::vector<uint8_t> Build() const {
    std::vector<uint8_t> out(sizeof(Elf64_Ehdr), 0);
    std::vector<Elf64_Shdr> sh(1);  // the null section
    std::string shstrtab(1, '\0');
    auto name = [&](const std::string& n) {
      const auto off = static_cast<uint32_t>(shstrtab.size());
      shstrtab += n;
      shstrtab.push_back('\0');
      return off;
    };
    auto place = [&](const std::string& n, uint32_t type, uint64_t addr, const void* data,
                     size_t size, uint64_t nobits_size) {
      while (out.size() % 8) out.push_back(0);
      Elf64_Shdr s{};
      s.sh_name = name(n);
      s.sh_type = type;
      s.sh_addr = addr;
      s.sh_offset = out.size();
      s.sh_size = type == SHT_NOBITS ? nobits_size : size;
      s.sh_addralign = 8;
      if (type != SHT_NOBITS) {
        out.insert(out.end(), static_cast<const uint8_t*>(data),
                   static_cast<const uint8_t*>(data) + size);
      }
      sh.push_back(s);
      return sh.size() - 1;
    };
    for (const auto& s : sections_) {
      place(s.name, s.type, s.addr, s.bytes.data(), s.bytes.size(), s.nobits_size);
    }
    std::string strtab(1, '\0');
    std::vector<Elf64_Sym> syms(1);
    for (const auto& s : symbols_) {
      Elf64_Sym e{};
      e.st_name = static_cast<uint32_t>(strtab.size());
      strtab += s.name;
      strtab.push_back('\0');
      e.st_info = ELF64_ST_INFO(s.bind, s.type);
      e.st_shndx = s.shndx;
      e.st_value = s.value;
      e.st_size = s.size;
      syms.push_back(e);
    }
    const size_t symtab =
        place(".symtab", SHT_SYMTAB, 0, syms.data(), syms.size() * sizeof(Elf64_Sym), 0);
    const size_t strtab_index = place(".strtab", SHT_STRTAB, 0, strtab.data(), strtab.size(), 0);
    sh[symtab].sh_link = static_cast<uint32_t>(strtab_index);
    sh[symtab].sh_entsize = sizeof(Elf64_Sym);
    const uint32_t shstrtab_name = name(".shstrtab");
    const size_t shstrndx = place("", SHT_STRTAB, 0, shstrtab.data(), shstrtab.size(), 0);
    sh[shstrndx].sh_name = shstrtab_name;
    while (out.size() % 8) out.push_back(0);

    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_shoff = out.size();
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = static_cast<uint16_t>(sh.size());
    eh.e_shstrndx = static_cast<uint16_t>(shstrndx);
    std::memcpy(out.data(), &eh, sizeof(eh));
    const auto* table = reinterpret_cast<const uint8_t*>(sh.data());
    out.insert(out.end(), table, table + sh.size() * sizeof(Elf64_Shdr));
    return out;
  }

 private:
  struct SectionSpec {
    std::string name;
    uint32_t type;
    uint64_t addr;
    std::vector<uint8_t> bytes;
    uint64_t nobits_size;
  };
  std::vector<SectionSpec> sections_;
  std::vector<SymbolSpec> symbols_;
};

}  // namespace ftd::replay::debug::testing
