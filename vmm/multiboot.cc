#include "vmm/multiboot.h"

#include <elf.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"

namespace ftd::vmm {
namespace {

constexpr uint32_t kFlagPageAlign = 1u << 0;
constexpr uint32_t kFlagMemInfo = 1u << 1;
constexpr uint32_t kFlagVideo = 1u << 2;
constexpr uint32_t kFlagAoutKludge = 1u << 16;
constexpr size_t kHeaderSearch = 8192;

// Boot-information flags we fill.
constexpr uint32_t kInfoMem = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMmap = 1u << 6;
constexpr uint32_t kInfoLoaderName = 1u << 9;

uint32_t Le32(std::span<const uint8_t> b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

absl::Status CheckPlacement(uint64_t start, uint64_t end, const GuestMemory& mem) {
  if (end < start) return absl::InvalidArgumentError("image end address below its start");
  if (end > mem.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image needs guest memory up to %#x but the VM has only %#x bytes (raise --mem)", end,
        mem.size()));
  }
  if (start < kBootInfoEnd && end > kBootInfoAddr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("image range [%#x, %#x) overlaps the boot information area [%#x, %#x)",
                        start, end, kBootInfoAddr, kBootInfoEnd));
  }
  return absl::OkStatus();
}

absl::StatusOr<MultibootBoot> LoadAout(std::span<const uint8_t> image, size_t hdr_off,
                                       GuestMemory& mem) {
  if (hdr_off + 32 > image.size()) {
    return absl::InvalidArgumentError("Multiboot header with the a.out kludge is truncated");
  }
  uint32_t header_addr = Le32(image, hdr_off + 12);
  uint32_t load_addr = Le32(image, hdr_off + 16);
  uint32_t load_end = Le32(image, hdr_off + 20);
  uint32_t bss_end = Le32(image, hdr_off + 24);
  uint32_t entry = Le32(image, hdr_off + 28);
  if (load_addr > header_addr || header_addr - load_addr > hdr_off) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Multiboot header: load_addr %#x is not at or before header_addr %#x within the file",
        load_addr, header_addr));
  }
  uint64_t file_off = hdr_off - (header_addr - load_addr);
  uint64_t load_size = load_end == 0 ? image.size() - file_off : uint64_t{load_end} - load_addr;
  if (load_end != 0 && load_end < load_addr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Multiboot header: load_end_addr %#x below load_addr %#x", load_end, load_addr));
  }
  if (file_off + load_size > image.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Multiboot header asks for %u bytes from file offset %u but the file has %u bytes",
        load_size, file_off, image.size()));
  }
  uint64_t end = uint64_t{load_addr} + load_size;
  if (bss_end != 0) {
    if (bss_end < end) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Multiboot header: bss_end_addr %#x below the loaded end %#x", bss_end, end));
    }
    end = bss_end;
  }
  if (auto s = CheckPlacement(load_addr, end, mem); !s.ok()) return s;
  if (entry < load_addr || entry >= uint64_t{load_addr} + load_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Multiboot header: entry_addr %#x is outside the loaded range [%#x, %#x)",
                        entry, load_addr, uint64_t{load_addr} + load_size));
  }
  if (auto s = mem.Write(load_addr, image.subspan(file_off, load_size)); !s.ok()) return s;
  std::vector<uint8_t> zeros(end - load_addr - load_size, 0);
  if (auto s = mem.Write(load_addr + load_size, zeros); !s.ok()) return s;
  return MultibootBoot{entry, 0, load_addr, end};
}

absl::StatusOr<MultibootBoot> LoadElf32(std::span<const uint8_t> image, GuestMemory& mem) {
  if (image.size() < sizeof(Elf32_Ehdr) || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(
        "image has a Multiboot header without the a.out kludge (flags bit 16) and is not an ELF "
        "file");
  }
  if (image[EI_CLASS] == ELFCLASS64) {
    return absl::InvalidArgumentError(
        "ELF64 image without the Multiboot a.out kludge (flags bit 16): Multiboot v1 loads only "
        "ELF32 by itself; add the a.out-kludge fields (QEMU requires them too)");
  }
  if (image[EI_CLASS] != ELFCLASS32)
    return absl::InvalidArgumentError("ELF image of unknown class");
  Elf32_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  if (eh.e_machine != EM_386 || eh.e_type != ET_EXEC) {
    return absl::InvalidArgumentError("ELF32 image is not an i386 executable");
  }
  if (eh.e_phentsize != sizeof(Elf32_Phdr) || eh.e_phnum == 0 ||
      uint64_t{eh.e_phoff} + uint64_t{eh.e_phnum} * sizeof(Elf32_Phdr) > image.size()) {
    return absl::InvalidArgumentError("ELF32 program headers are missing or truncated");
  }
  MultibootBoot boot{eh.e_entry, 0, UINT64_MAX, 0};
  bool entry_loaded = false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf32_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_filesz > ph.p_memsz || uint64_t{ph.p_offset} + ph.p_filesz > image.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ELF32 segment %u is truncated or malformed", i));
    }
    uint64_t end = uint64_t{ph.p_paddr} + ph.p_memsz;
    if (auto s = CheckPlacement(ph.p_paddr, end, mem); !s.ok()) return s;
    if (auto s = mem.Write(ph.p_paddr, image.subspan(ph.p_offset, ph.p_filesz)); !s.ok()) return s;
    std::vector<uint8_t> zeros(ph.p_memsz - ph.p_filesz, 0);
    if (auto s = mem.Write(ph.p_paddr + ph.p_filesz, zeros); !s.ok()) return s;
    boot.image_start = std::min<uint64_t>(boot.image_start, ph.p_paddr);
    boot.image_end = std::max(boot.image_end, end);
    if (eh.e_entry >= ph.p_paddr && eh.e_entry < end) entry_loaded = true;
  }
  if (boot.image_end == 0) return absl::InvalidArgumentError("ELF32 image has no loadable segment");
  if (!entry_loaded) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ELF32 entry %#x is in no loaded segment", eh.e_entry));
  }
  return boot;
}

absl::Status WriteBootInfo(std::string_view cmdline, GuestMemory& mem) {
  constexpr uint64_t kMmapAddr = kBootInfoAddr + 0x100;
  constexpr uint64_t kLoaderNameAddr = kBootInfoAddr + 0x200;
  constexpr uint64_t kCmdlineAddr = kBootInfoEnd - (kMaxCmdline + 1);
  static_assert(kCmdlineAddr >= kLoaderNameAddr + 0x40);
  struct MmapEntry {
    uint32_t size;
    uint64_t base;
    uint64_t len;
    uint32_t type;
  } __attribute__((packed));
  const MmapEntry map[] = {
      {20, 0, 0x9FC00, 1},
      {20, 0x9FC00, 0x400, 2},
      {20, 0xF0000, 0x10000, 2},
      {20, 0x100000, mem.size() - 0x100000, 1},
  };
  uint32_t info[22] = {};
  info[0] = kInfoMem | kInfoCmdline | kInfoMmap | kInfoLoaderName;
  info[1] = 640;                                                    // mem_lower, KiB
  info[2] = static_cast<uint32_t>((mem.size() - 0x100000) / 1024);  // mem_upper, KiB
  info[4] = static_cast<uint32_t>(kCmdlineAddr);
  info[11] = sizeof map;
  info[12] = static_cast<uint32_t>(kMmapAddr);
  info[16] = static_cast<uint32_t>(kLoaderNameAddr);
  static constexpr char kLoaderName[] = "ftd";
  std::vector<uint8_t> cl(cmdline.begin(), cmdline.end());
  cl.push_back(0);
  if (auto s = mem.Write(kBootInfoAddr, {reinterpret_cast<const uint8_t*>(info), sizeof info});
      !s.ok()) {
    return s;
  }
  if (auto s = mem.Write(kMmapAddr, {reinterpret_cast<const uint8_t*>(map), sizeof map}); !s.ok())
    return s;
  if (auto s = mem.Write(kLoaderNameAddr,
                         {reinterpret_cast<const uint8_t*>(kLoaderName), sizeof kLoaderName});
      !s.ok()) {
    return s;
  }
  return mem.Write(kCmdlineAddr, cl);
}

}  // namespace

absl::StatusOr<MultibootBoot> LoadMultiboot(std::span<const uint8_t> image,
                                            std::string_view cmdline, GuestMemory& memory) {
  if (cmdline.size() > kMaxCmdline) {
    return absl::InvalidArgumentError(
        absl::StrFormat("command line is %u bytes; the limit is %u", cmdline.size(), kMaxCmdline));
  }
  if (cmdline.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("command line contains a NUL byte");
  }
  size_t limit = std::min(image.size(), kHeaderSearch);
  size_t hdr_off = SIZE_MAX;
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    if (Le32(image, off) == kMultibootHeaderMagic &&
        Le32(image, off) + Le32(image, off + 4) + Le32(image, off + 8) == 0) {
      hdr_off = off;
      break;
    }
  }
  if (hdr_off == SIZE_MAX) {
    return absl::InvalidArgumentError(
        "not a Multiboot image: no header (magic 0x1BADB002 with a valid checksum) in the first "
        "8 KiB");
  }
  uint32_t flags = Le32(image, hdr_off + 4);
  uint32_t unsupported = flags & 0xffff & ~(kFlagPageAlign | kFlagMemInfo | kFlagVideo);
  if (unsupported != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Multiboot header requires features ftd does not provide (flags %#x)", unsupported));
  }
  absl::StatusOr<MultibootBoot> boot =
      (flags & kFlagAoutKludge) ? LoadAout(image, hdr_off, memory) : LoadElf32(image, memory);
  if (!boot.ok()) return boot;
  if (auto s = WriteBootInfo(cmdline, memory); !s.ok()) return s;
  boot->info_addr = static_cast<uint32_t>(kBootInfoAddr);
  return boot;
}

}  // namespace ftd::vmm
