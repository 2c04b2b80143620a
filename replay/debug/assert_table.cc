#include "replay/debug/assert_table.h"

#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ftd::replay::debug {
namespace {

uint64_t ReadU64(std::span<const uint8_t> b, size_t off) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= uint64_t{b[off + k]} << (8 * k);
  return v;
}

absl::Status Bad(size_t index, size_t offset, std::string_view what) {
  return absl::DataLossError(
      absl::StrFormat(".ftd_asserts: record %d at offset 0x%x: %s", index, offset, what));
}

}  // namespace

absl::StatusOr<std::vector<AssertSite>> ParseAssertTable(std::span<const uint8_t> section) {
  std::vector<AssertSite> out;
  size_t pos = 0;
  while (pos < section.size()) {
    const size_t index = out.size(), start = pos;
    if (index == kMaxAssertSites) {
      return Bad(index, start, absl::StrFormat("more than %d records", kMaxAssertSites));
    }
    if (section.size() - pos < 16) {
      return Bad(index, start,
                 absl::StrFormat("truncated: %d bytes left, the site and line need 16",
                                 section.size() - pos));
    }
    AssertSite a;
    a.site = ReadU64(section, pos);
    a.line = ReadU64(section, pos + 8);
    pos += 16;
    for (std::string* s : {&a.file, &a.expr}) {
      const auto* begin = reinterpret_cast<const char*>(section.data() + pos);
      const void* nul = std::memchr(begin, 0, section.size() - pos);
      if (nul == nullptr) {
        return Bad(index, start,
                   absl::StrFormat("the %s string has no NUL before the section ends",
                                   s == &a.file ? "file" : "expression"));
      }
      s->assign(begin, static_cast<const char*>(nul));
      pos += s->size() + 1;
    }
    // The padding: present (the section is the assembler's) and zero (or the layout is not
    // the one this reads).
    const size_t padded = (pos + 7) / 8 * 8;
    if (padded > section.size()) return Bad(index, start, "truncated padding");
    for (; pos < padded; ++pos) {
      if (section[pos] != 0) return Bad(index, start, "non-zero padding after the expression");
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace ftd::replay::debug
