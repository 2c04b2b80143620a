// Guest images from a user's path or a recording: any bytes either load or give an error,
// never a read past the buffer; what loads answers Find, FindSection and Describe safely, and
// every symbol it lists is found by its name. The first byte picks raw bytes or a header made
// plausible (magic, ELF64 LE, x86-64, section header size, an offset inside the input) so that
// the section and symbol table checks are reached most of the time.
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "replay/debug/elf_symbols.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<uint8_t> Plausible(std::span<const uint8_t> in, uint8_t mode) {
  std::vector<uint8_t> elf(in.begin(), in.end());
  if (elf.size() < sizeof(Elf64_Ehdr)) elf.resize(sizeof(Elf64_Ehdr), 0);
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof(eh));
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_machine = EM_X86_64;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  if (mode & 2) eh.e_shoff %= elf.size();
  if (mode & 4) eh.e_shnum %= 16;
  if (mode & 8) eh.e_shstrndx %= (eh.e_shnum ? eh.e_shnum : 1);
  std::memcpy(elf.data(), &eh, sizeof(eh));
  return elf;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ftd::replay::debug;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::span<const uint8_t> rest(data + 1, size - 1);
  std::vector<uint8_t> elf =
      mode & 1 ? Plausible(rest, mode) : std::vector<uint8_t>(rest.begin(), rest.end());
  auto loaded = ElfSymbols::Load(elf);
  if (!loaded.ok()) {
    Check(!loaded.status().message().empty());
    return 0;
  }
  // Queries whose names and addresses come from the input too.
  ftd::fuzz::Input in(rest.data(), rest.size());
  const auto name_bytes = in.TakeBytes(in.Take<uint8_t>() % 16);
  const std::string name(name_bytes.begin(), name_bytes.end());
  (void)loaded->Find(name);
  (void)loaded->Find("main");
  (void)loaded->FindSection(".ftd_asserts");
  (void)loaded->FindSection(".text");
  (void)loaded->FindSection("");
  (void)loaded->Describe(in.Take<uint64_t>());
  size_t checked = 0;
  for (const Symbol& s : loaded->symbols()) {
    if (++checked > 64) break;
    auto found = loaded->Find(s.name);
    Check(found.has_value() && found->name == s.name);
    Check(!loaded->Describe(s.value).empty());
    (void)loaded->Describe(s.value + s.size);
    (void)loaded->FindSection(s.name);
  }
  return 0;
}
