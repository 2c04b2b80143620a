#include "replay/debug/elf_symbols.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/unit/debug/elf_builder.h"

namespace ftd::replay::debug {
namespace {

using testing::ElfBuilder;

std::vector<uint8_t> SmallImage() {
  return ElfBuilder()
      .Section(".text", SHT_PROGBITS, 0x100000, std::vector<uint8_t>(16, 0x90))
      .Section(".data", SHT_PROGBITS, 0x200000, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
      .Section(".bss", SHT_NOBITS, 0x300000, {}, 0x100)
      .Section(".ftd_asserts", SHT_PROGBITS, 0x400000, {0xaa, 0xbb})
      .Sym({"main", 0x100000, 8, STT_FUNC})
      .Sym({"label", 0x100004, 0, STT_NOTYPE})
      .Sym({"counter", 0x200000, 4, STT_OBJECT, STB_LOCAL, 2})
      .Sym({"counter", 0x200008, 4, STT_OBJECT, STB_GLOBAL, 2})
      .Sym({"table", 0x300000, 0x40, STT_OBJECT, STB_GLOBAL, 3})
      .Sym({"ext", 0, 0, STT_NOTYPE, STB_GLOBAL, SHN_UNDEF})
      .Sym({"konst", 0x200000, 0, STT_NOTYPE, STB_GLOBAL, SHN_ABS})
      .Build();
}

Elf64_Ehdr Header(const std::vector<uint8_t>& elf) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof(eh));
  return eh;
}
// Edits section header `i` of `elf` in place.
template <typename F>
void EditSection(std::vector<uint8_t>& elf, size_t i, F edit) {
  const size_t off = Header(elf).e_shoff + i * sizeof(Elf64_Shdr);
  Elf64_Shdr sh;
  std::memcpy(&sh, elf.data() + off, sizeof(sh));
  edit(sh);
  std::memcpy(elf.data() + off, &sh, sizeof(sh));
}
constexpr size_t kSymtab = 5, kStrtab = 6;  // after the four sections SmallImage adds

TEST(ElfSymbolsTest, FindsSymbols) {
  auto elf = ElfSymbols::Load(SmallImage());
  ASSERT_TRUE(elf.ok()) << elf.status();
  auto main = elf->Find("main");
  ASSERT_TRUE(main.has_value());
  EXPECT_EQ(main->value, 0x100000u);
  EXPECT_EQ(main->size, 8u);
  EXPECT_EQ(main->type, STT_FUNC);
  // Of two symbols with one name, the global one.
  auto counter = elf->Find("counter");
  ASSERT_TRUE(counter.has_value());
  EXPECT_EQ(counter->value, 0x200008u);
  EXPECT_TRUE(elf->Find("konst").has_value());
  EXPECT_FALSE(elf->Find("ext").has_value());  // undefined
  EXPECT_FALSE(elf->Find("nope").has_value());
  EXPECT_FALSE(elf->Find("").has_value());
}

TEST(ElfSymbolsTest, Describes) {
  auto elf = ElfSymbols::Load(SmallImage());
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->Describe(0x100000), "main");
  EXPECT_EQ(elf->Describe(0x100003), "main+0x3");
  EXPECT_EQ(elf->Describe(0x100004), "label");     // the closer start
  EXPECT_EQ(elf->Describe(0x100005), "main+0x5");  // label has no size: only its address
  EXPECT_EQ(elf->Describe(0x100008), "0x100008");  // past main
  EXPECT_EQ(elf->Describe(0x200000), "counter");   // not the absolute konst
  EXPECT_EQ(elf->Describe(0x20000b), "counter+0x3");
  EXPECT_EQ(elf->Describe(0x30003f), "table+0x3f");
  EXPECT_EQ(elf->Describe(0x300040), "0x300040");
  EXPECT_EQ(elf->Describe(0), "0x0");
}

TEST(ElfSymbolsTest, FindsSections) {
  auto elf = ElfSymbols::Load(SmallImage());
  ASSERT_TRUE(elf.ok()) << elf.status();
  auto asserts = elf->FindSection(".ftd_asserts");
  ASSERT_TRUE(asserts.has_value());
  EXPECT_EQ(asserts->addr, 0x400000u);
  EXPECT_EQ(asserts->bytes, (std::vector<uint8_t>{0xaa, 0xbb}));
  auto bss = elf->FindSection(".bss");
  ASSERT_TRUE(bss.has_value());
  EXPECT_EQ(bss->addr, 0x300000u);
  EXPECT_TRUE(bss->bytes.empty());
  EXPECT_EQ(elf->FindSection(".data")->bytes.size(), 12u);
  EXPECT_FALSE(elf->FindSection(".nope").has_value());
}

TEST(ElfSymbolsTest, CopiesTheImage) {
  std::vector<uint8_t> image = SmallImage();
  auto elf = ElfSymbols::Load(image);
  ASSERT_TRUE(elf.ok()) << elf.status();
  std::fill(image.begin(), image.end(), 0xff);
  EXPECT_EQ(elf->FindSection(".ftd_asserts")->bytes, (std::vector<uint8_t>{0xaa, 0xbb}));
  EXPECT_EQ(elf->Find("main")->value, 0x100000u);
}

TEST(ElfSymbolsTest, EveryTruncationIsAnError) {
  const std::vector<uint8_t> image = SmallImage();
  for (size_t len = 0; len < image.size(); ++len) {
    auto elf = ElfSymbols::Load(std::span(image.data(), len));
    EXPECT_FALSE(elf.ok()) << "length " << len;
  }
}

// Whatever single byte is wrong, Load either refuses or gives something queryable.
TEST(ElfSymbolsTest, EveryByteFlipIsSafe) {
  const std::vector<uint8_t> image = SmallImage();
  for (size_t i = 0; i < image.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = image;
      bad[i] ^= x;
      auto elf = ElfSymbols::Load(bad);
      if (!elf.ok()) continue;
      (void)elf->Find("main");
      (void)elf->Describe(0x100003);
      (void)elf->FindSection(".ftd_asserts");
    }
  }
}

TEST(ElfSymbolsTest, RefusesOtherFormats) {
  std::vector<uint8_t> image = SmallImage();
  auto expect_error = [](std::vector<uint8_t> bad, std::string_view what) {
    auto elf = ElfSymbols::Load(bad);
    ASSERT_FALSE(elf.ok());
    EXPECT_NE(std::string(elf.status().message()).find(what), std::string_view::npos)
        << elf.status();
  };
  std::vector<uint8_t> bad = image;
  bad[0] = 0;
  expect_error(bad, "not an ELF");
  bad = image;
  bad[EI_CLASS] = ELFCLASS32;
  expect_error(bad, "ELF64");
  bad = image;
  bad[EI_DATA] = ELFDATA2MSB;
  expect_error(bad, "little-endian");
  bad = image;
  const uint16_t aarch64 = EM_AARCH64;
  std::memcpy(bad.data() + offsetof(Elf64_Ehdr, e_machine), &aarch64, 2);
  expect_error(bad, "x86-64");
}

TEST(ElfSymbolsTest, NamesWhatIsMalformed) {
  const std::vector<uint8_t> image = SmallImage();
  auto expect_error = [](const std::vector<uint8_t>& bad, std::string_view what) {
    auto elf = ElfSymbols::Load(bad);
    ASSERT_FALSE(elf.ok());
    EXPECT_NE(std::string(elf.status().message()).find(what), std::string_view::npos)
        << elf.status();
  };
  std::vector<uint8_t> bad = image;
  EditSection(bad, kSymtab, [](Elf64_Shdr& s) { s.sh_entsize = 16; });
  expect_error(bad, ".symtab");
  bad = image;
  EditSection(bad, kSymtab, [](Elf64_Shdr& s) { s.sh_link = 1; });
  expect_error(bad, "not a string table");
  bad = image;
  EditSection(bad, kSymtab, [](Elf64_Shdr& s) { s.sh_link = 999; });
  expect_error(bad, "not a string table");
  bad = image;
  EditSection(bad, 2, [&](Elf64_Shdr& s) { s.sh_offset = image.size() - 4; });
  expect_error(bad, "section 2");
  bad = image;
  EditSection(bad, 2, [](Elf64_Shdr& s) { s.sh_size = ~uint64_t{0}; });
  expect_error(bad, "section 2");
  bad = image;
  EditSection(bad, 1, [](Elf64_Shdr& s) { s.sh_name = 100000; });
  expect_error(bad, "section 1");
  // The string table's last NUL gone: the last symbol's name runs off its end.
  bad = image;
  EditSection(bad, kStrtab, [](Elf64_Shdr& s) { s.sh_size -= 1; });
  expect_error(bad, "no NUL");
  bad = image;
  Elf64_Ehdr eh = Header(bad);
  eh.e_shoff = image.size();
  std::memcpy(bad.data(), &eh, sizeof(eh));
  expect_error(bad, "section header table");
  eh = Header(image);
  eh.e_shnum = 200;
  bad = image;
  std::memcpy(bad.data(), &eh, sizeof(eh));
  expect_error(bad, "section header table");
  eh = Header(image);
  eh.e_shstrndx = kSymtab;
  bad = image;
  std::memcpy(bad.data(), &eh, sizeof(eh));
  expect_error(bad, "section name table");
}

TEST(ElfSymbolsTest, StrippedImageHasSectionsButNoSymbols) {
  std::vector<uint8_t> image = SmallImage();
  EditSection(image, kSymtab, [](Elf64_Shdr& s) { s.sh_type = SHT_PROGBITS; });
  auto elf = ElfSymbols::Load(image);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_FALSE(elf->Find("main").has_value());
  EXPECT_EQ(elf->Describe(0x100000), "0x100000");
  EXPECT_TRUE(elf->FindSection(".text").has_value());
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The real thing: the ticks guest as the guest kit links it.
TEST(ElfSymbolsTest, LoadsTheTicksGuest) {
  const std::vector<uint8_t> image = ReadFile(std::string(FTD_GUEST_DIR) + "/ticks.elf");
  ASSERT_FALSE(image.empty()) << "no " FTD_GUEST_DIR "/ticks.elf (build guest_ticks)";
  auto elf = ElfSymbols::Load(image);
  ASSERT_TRUE(elf.ok()) << elf.status();

  auto clock_ns = elf->Find("clock_ns");
  ASSERT_TRUE(clock_ns.has_value());
  EXPECT_EQ(clock_ns->type, STT_FUNC);
  EXPECT_GT(clock_ns->size, 3u);
  auto text = elf->FindSection(".text");
  ASSERT_TRUE(text.has_value());
  EXPECT_GE(clock_ns->value, text->addr);
  EXPECT_LT(clock_ns->value, text->addr + text->bytes.size());
  EXPECT_EQ(elf->Describe(clock_ns->value), "clock_ns");
  EXPECT_EQ(elf->Describe(clock_ns->value + 3), "clock_ns+0x3");
  auto main = elf->Find("main");
  ASSERT_TRUE(main.has_value());
  EXPECT_EQ(main->type, STT_FUNC);

  // A C static (4 bytes) and an assembler label (no size).
  auto cur_hz = elf->Find("cur_hz");
  ASSERT_TRUE(cur_hz.has_value());
  EXPECT_EQ(cur_hz->type, STT_OBJECT);
  EXPECT_EQ(cur_hz->size, 4u);
  auto irq_total = elf->Find("ftd_irq_total");
  ASSERT_TRUE(irq_total.has_value());
  EXPECT_EQ(irq_total->size, 0u);
  auto bss = elf->FindSection(".bss");
  ASSERT_TRUE(bss.has_value());
  EXPECT_TRUE(bss->bytes.empty());

  for (size_t len = 0; len < image.size(); len += 97) {
    EXPECT_FALSE(ElfSymbols::Load(std::span(image.data(), len)).ok()) << "length " << len;
  }
}

}  // namespace
}  // namespace ftd::replay::debug
