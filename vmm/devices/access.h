// Helpers shared by the device models: little-endian access values and the
// report-once log of bad guest accesses (STYLE.md: a bad access is logged once and
// ignored; it never kills the VMM).
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string_view>
#include <tuple>

namespace ftd::vmm {

// The value of a little-endian access of up to 8 bytes (longer accesses: first 8 bytes).
uint64_t LoadLe(std::span<const uint8_t> data);
// Stores `value` little-endian into all of `data` (bytes past the 8th get 0).
void StoreLe(std::span<uint8_t> data, uint64_t value);
// What an unclaimed register reads as: all ones, like an open bus.
void FillOpenBus(std::span<uint8_t> data);

// Logs each distinct bad access (direction, offset, size) of one device once, with a
// bound on how many distinct ones it remembers. Host-side diagnostics only: not part
// of any device state.
class BadAccessLog {
 public:
  explicit BadAccessLog(std::string_view device) : device_(device) {}
  void Report(bool is_write, uint64_t offset, size_t size, std::string_view why);
  // A bad request that is not a register access (e.g. an invalid interrupt line), once
  // per distinct `key`.
  void ReportOther(uint64_t key, std::string_view what);

 private:
  bool FirstTime(bool is_write, uint64_t offset, size_t size);

  static constexpr size_t kMaxDistinct = 64;
  std::string_view device_;  // a string literal owned by the device class
  std::set<std::tuple<bool, uint64_t, size_t>> seen_;
  bool saturated_ = false;
};

}  // namespace ftd::vmm
