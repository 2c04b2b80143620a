// The guest's compiled-in replay asserts: the guest kit's assert macro emits one record per
// site into the ELF section .ftd_asserts, and the replay debugger checks each condition (with
// assert_expr) when the replay reaches the site. The section comes from an untrusted image, so
// the parser checks every record against the section's bounds.
//
// Record layout (GNU as), one after another from the section start:
//   .quad SITE      u64 LE: the code address of the site
//   .quad LINE      u64 LE
//   .asciz "FILE"
//   .asciz "EXPR"   the C condition, stringified
//   .balign 8       zero padding to the next multiple of 8 from the section start
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::replay::debug {

inline constexpr size_t kMaxAssertSites = 4096;

struct AssertSite {
  uint64_t site = 0;
  uint64_t line = 0;
  std::string file;
  std::string expr;
  friend bool operator==(const AssertSite&, const AssertSite&) = default;
};

// All records of the section, in order; an empty section has none. A truncated record, a
// string without its NUL, non-zero padding or more than kMaxAssertSites records is an error
// naming the record and its offset.
absl::StatusOr<std::vector<AssertSite>> ParseAssertTable(std::span<const uint8_t> section);

}  // namespace ftd::replay::debug
