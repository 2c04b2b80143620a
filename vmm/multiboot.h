// Multiboot v1 loader (the a.out-kludge header, or an ELF32 image): puts the image,
// the command line, the memory map and the boot information structure in guest
// RAM. A malformed image is refused with a message naming what is wrong.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "vmm/guest_memory.h"

namespace ftd::vmm {

inline constexpr uint32_t kMultibootHeaderMagic = 0x1BADB002;
inline constexpr uint32_t kMultibootBootMagic = 0x2BADB002;  // in EAX at entry
// The boot information lives below 1 MiB, out of the image's way.
inline constexpr uint64_t kBootInfoAddr = 0x9000;
inline constexpr uint64_t kBootInfoEnd = 0xB000;
inline constexpr size_t kMaxCmdline = 4095;
// The largest guest image ftd reads (run, record, replay, the backup's transferred image).
inline constexpr uint64_t kMaxGuestImageSize = 256ull << 20;

// What the loader leaves for the vCPU: Multiboot's 32-bit protected-mode entry
// state is EAX=kMultibootBootMagic, EBX=info_addr, EIP=entry.
struct MultibootBoot {
  uint32_t entry = 0;
  uint32_t info_addr = 0;
  uint64_t image_start = 0;  // guest-physical range the image (with bss) occupies
  uint64_t image_end = 0;
};

absl::StatusOr<MultibootBoot> LoadMultiboot(std::span<const uint8_t> image,
                                            std::string_view cmdline, GuestMemory& memory);

}  // namespace ftd::vmm
