// Paths and reference results shared by the integration tests.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "compute_kernel.h"

namespace ftd::testing {

inline std::string FtdBinary() { return FTD_BINARY; }
inline std::string GuestImage(const std::string& name) {
  return std::string(FTD_GUEST_DIR) + "/" + name + ".elf";
}

// The line the compute guest prints, computed on the host from the same kernel source.
inline std::string ComputeReference(uint64_t iters, uint64_t size) {
  std::vector<uint64_t> buf(size / 8);
  uint64_t r = ftd_compute(iters, buf.data(), buf.size());
  char line[128];
  std::snprintf(line, sizeof line, "compute iters=%llu size=%llu result=0x%016llx\n",
                static_cast<unsigned long long>(iters), static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(r));
  return line;
}

}  // namespace ftd::testing
