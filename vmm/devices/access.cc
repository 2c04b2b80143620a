#include "vmm/devices/access.h"

#include <algorithm>
#include <cstdint>

#include "spdlog/spdlog.h"

namespace ftd::vmm {

uint64_t LoadLe(std::span<const uint8_t> data) {
  uint64_t v = 0;
  size_t n = std::min<size_t>(data.size(), 8);
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(data[i]) << (8 * i);
  return v;
}

void StoreLe(std::span<uint8_t> data, uint64_t value) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0;
  }
}

void FillOpenBus(std::span<uint8_t> data) { std::fill(data.begin(), data.end(), 0xff); }

bool BadAccessLog::FirstTime(bool is_write, uint64_t offset, size_t size) {
  if (saturated_) return false;
  if (!seen_.emplace(is_write, offset, size).second) return false;
  if (seen_.size() >= kMaxDistinct) saturated_ = true;
  return true;
}

void BadAccessLog::Report(bool is_write, uint64_t offset, size_t size, std::string_view why) {
  if (!FirstTime(is_write, offset, size)) return;
  spdlog::warn("{}: ignored guest {} of {} byte(s) at offset {:#x}: {}", device_,
               is_write ? "write" : "read", size, offset, why);
  if (saturated_) spdlog::warn("{}: further bad accesses will not be reported", device_);
}

void BadAccessLog::ReportOther(uint64_t key, std::string_view what) {
  // Size SIZE_MAX keeps these keys apart from real accesses.
  if (!FirstTime(true, key, SIZE_MAX)) return;
  spdlog::warn("{}: ignored {}: {}", device_, what, key);
  if (saturated_) spdlog::warn("{}: further bad accesses will not be reported", device_);
}

}  // namespace ftd::vmm
