#include "vmm/multiboot.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ftd::vmm {
namespace {

void Put32(std::vector<uint8_t>& v, size_t off, uint32_t x) {
  if (v.size() < off + 4) v.resize(off + 4);
  std::memcpy(&v[off], &x, 4);
}

// An a.out-kludge image: header at file offset `hdr`, loaded at 1 MiB.
std::vector<uint8_t> AoutImage(uint32_t flags = 0x10000, uint32_t bss_end = 0x101000,
                               uint32_t entry = 0x100040, size_t hdr = 0x10) {
  std::vector<uint8_t> img(0x200, 0x90);
  Put32(img, hdr, kMultibootHeaderMagic);
  Put32(img, hdr + 4, flags);
  Put32(img, hdr + 8, static_cast<uint32_t>(-(kMultibootHeaderMagic + flags)));
  Put32(img, hdr + 12, 0x100000 + static_cast<uint32_t>(hdr));  // header_addr
  Put32(img, hdr + 16, 0x100000);                               // load_addr
  Put32(img, hdr + 20, 0);                                      // load_end: whole file
  Put32(img, hdr + 24, bss_end);
  Put32(img, hdr + 28, entry);
  return img;
}

std::vector<uint8_t> Elf32Image(uint16_t machine = EM_386) {
  std::vector<uint8_t> img(0x1000, 0);
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_entry = 0x200010;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = 1;
  std::memcpy(img.data(), &eh, sizeof eh);
  Elf32_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = 0x800;
  ph.p_paddr = 0x200000;
  ph.p_filesz = 0x100;
  ph.p_memsz = 0x2000;
  std::memcpy(img.data() + sizeof eh, &ph, sizeof ph);
  // Multiboot header (no kludge) within the first 8 KiB.
  Put32(img, 0x400, kMultibootHeaderMagic);
  Put32(img, 0x404, 0x3);
  Put32(img, 0x408, static_cast<uint32_t>(-(kMultibootHeaderMagic + 3)));
  for (int i = 0; i < 0x100; ++i) img[0x800 + i] = static_cast<uint8_t>(i);
  return img;
}

class MultibootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::Create(16 << 20);
    ASSERT_TRUE(m.ok());
    mem = std::make_unique<GuestMemory>(std::move(*m));
  }
  uint32_t Mem32(uint64_t gpa) {
    uint32_t v;
    std::memcpy(&v, mem->host() + gpa, 4);
    return v;
  }
  std::unique_ptr<GuestMemory> mem;
};

TEST_F(MultibootTest, LoadsAoutKludgeImageAndBootInfo) {
  auto img = AoutImage();
  std::memset(mem->host() + 0x100200, 0xaa, 0x100);  // bss must be zeroed
  auto boot = LoadMultiboot(img, "ticks=5 hz=100", *mem);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->entry, 0x100040u);
  EXPECT_EQ(boot->info_addr, kBootInfoAddr);
  EXPECT_EQ(boot->image_start, 0x100000u);
  EXPECT_EQ(boot->image_end, 0x101000u);
  EXPECT_EQ(std::memcmp(mem->host() + 0x100000, img.data(), img.size()), 0);
  EXPECT_EQ(mem->host()[0x100250], 0);
  uint32_t flags = Mem32(kBootInfoAddr);
  EXPECT_EQ(flags & 0x245, 0x245u) << "mem, cmdline, mmap, loader name";
  EXPECT_EQ(Mem32(kBootInfoAddr + 4), 640u);
  EXPECT_EQ(Mem32(kBootInfoAddr + 8), (16u << 20) / 1024 - 1024);
  const char* cmdline = reinterpret_cast<const char*>(mem->host() + Mem32(kBootInfoAddr + 16));
  EXPECT_STREQ(cmdline, "ticks=5 hz=100");
  uint32_t mmap_len = Mem32(kBootInfoAddr + 44), mmap_addr = Mem32(kBootInfoAddr + 48);
  EXPECT_EQ(mmap_len % 24, 0u);
  // The last map entry is the RAM above 1 MiB.
  uint64_t base, len;
  std::memcpy(&base, mem->host() + mmap_addr + mmap_len - 24 + 4, 8);
  std::memcpy(&len, mem->host() + mmap_addr + mmap_len - 24 + 12, 8);
  EXPECT_EQ(base, 0x100000u);
  EXPECT_EQ(base + len, 16u << 20);
}

TEST_F(MultibootTest, LoadsElf32Segments) {
  auto boot = LoadMultiboot(Elf32Image(), "", *mem);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->entry, 0x200010u);
  EXPECT_EQ(mem->host()[0x200005], 5);
  EXPECT_EQ(mem->host()[0x200100], 0);
  EXPECT_EQ(boot->image_end, 0x202000u);
}

void ExpectRefused(GuestMemory& mem, const std::vector<uint8_t>& img, const std::string& words,
                   const std::string& cmdline = "") {
  auto boot = LoadMultiboot(img, cmdline, mem);
  ASSERT_FALSE(boot.ok());
  EXPECT_NE(std::string(boot.status().message()).find(words), std::string::npos) << boot.status();
}

TEST_F(MultibootTest, RefusesMalformedImages) {
  ExpectRefused(*mem, std::vector<uint8_t>(100, 0), "not a Multiboot image");
  ExpectRefused(*mem, {}, "not a Multiboot image");
  auto bad_sum = AoutImage();
  bad_sum[0x18] ^= 1;
  ExpectRefused(*mem, bad_sum, "not a Multiboot image");
  ExpectRefused(*mem, AoutImage(0x10000 | 0x8), "requires features");
  ExpectRefused(*mem, AoutImage(0x10000, 0x100100), "bss_end_addr");
  ExpectRefused(*mem, AoutImage(0x10000, 0x2000000), "raise --mem");
  ExpectRefused(*mem, AoutImage(0x10000, 0x101000, 0x300000), "entry_addr");
  auto trunc = AoutImage();
  trunc.resize(0x28);
  ExpectRefused(*mem, trunc, "truncated");
  auto past = AoutImage();
  Put32(past, 0x10 + 20, 0x100400);  // load_end beyond the file
  ExpectRefused(*mem, past, "file has");
  ExpectRefused(*mem, Elf32Image(EM_X86_64), "not an i386 executable");
  auto elf64 = Elf32Image();
  elf64[EI_CLASS] = ELFCLASS64;
  ExpectRefused(*mem, elf64, "a.out kludge");
  auto no_elf = Elf32Image();
  no_elf[0] = 0;
  ExpectRefused(*mem, no_elf, "not an ELF file");
  auto elf_trunc = Elf32Image();
  elf_trunc.resize(0x880);
  ExpectRefused(*mem, elf_trunc, "truncated");
  ExpectRefused(*mem, AoutImage(), "limit", std::string(5000, 'x'));
  ExpectRefused(*mem, AoutImage(), "NUL", std::string("a\0b", 3));
}

TEST_F(MultibootTest, RefusesImageOverBootInfo) {
  std::vector<uint8_t> img(0x100, 0);
  uint32_t flags = 0x10000;
  Put32(img, 0, kMultibootHeaderMagic);
  Put32(img, 4, flags);
  Put32(img, 8, static_cast<uint32_t>(-(kMultibootHeaderMagic + flags)));
  Put32(img, 12, 0x9000);
  Put32(img, 16, 0x9000);
  Put32(img, 20, 0);
  Put32(img, 24, 0);
  Put32(img, 28, 0x9020);
  ExpectRefused(*mem, img, "boot information");
}

}  // namespace
}  // namespace ftd::vmm
