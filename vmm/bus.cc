#include "vmm/bus.h"

#include "absl/strings/str_format.h"

namespace ftd::vmm {

absl::Status Bus::Register(uint64_t base, uint64_t size, Device* device) {
  if (device == nullptr || size == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s bus: empty registration at %#x", name_, base));
  }
  if (base + size < base) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s bus: range %#x+%#x wraps around", name_, base, size));
  }
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + size) {
    return absl::AlreadyExistsError(absl::StrFormat("%s bus: %s at [%#x,%#x) overlaps %s at %#x",
                                                    name_, device->Name(), base, base + size,
                                                    next->second.device->Name(), next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "%s bus: %s at [%#x,%#x) overlaps %s at [%#x,%#x)", name_, device->Name(), base,
          base + size, prev->second.device->Name(), prev->first, prev->first + prev->second.size));
    }
  }
  ranges_.emplace(base, Range{size, device});
  return absl::OkStatus();
}

Device* Bus::Find(uint64_t addr, uint64_t len, uint64_t* offset) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->first;
  if (off >= it->second.size || len > it->second.size - off) return nullptr;
  *offset = off;
  return it->second.device;
}

bool Bus::Read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t offset = 0;
  Device* d = Find(addr, data.size(), &offset);
  if (d == nullptr) return false;
  d->Read(offset, data);
  return true;
}

bool Bus::Write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t offset = 0;
  Device* d = Find(addr, data.size(), &offset);
  if (d == nullptr) return false;
  d->Write(offset, data);
  return true;
}

}  // namespace ftd::vmm
