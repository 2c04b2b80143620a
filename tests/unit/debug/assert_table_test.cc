#include "replay/debug/assert_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ftd::replay::debug {
namespace {

// One record as the guest macro's assembly lays it out.
void Append(std::vector<uint8_t>& out, uint64_t site, uint64_t line, std::string_view file,
            std::string_view expr) {
  for (uint64_t v : {site, line}) {
    for (int k = 0; k < 8; ++k) out.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  for (std::string_view s : {file, expr}) {
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
  }
  while (out.size() % 8) out.push_back(0);
}

std::vector<uint8_t> TwoRecords() {
  std::vector<uint8_t> out;
  Append(out, 0x101234, 42, "kv/kv.c", "kv_count <= 1024");
  Append(out, 0x105678, 7, "rt/time.c", "now >= last_t");  // ends on a multiple of 8: no padding
  return out;
}

TEST(AssertTableTest, ParsesRecords) {
  auto table = ParseAssertTable(TwoRecords());
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 2u);
  EXPECT_EQ((*table)[0], (AssertSite{0x101234, 42, "kv/kv.c", "kv_count <= 1024"}));
  EXPECT_EQ((*table)[1], (AssertSite{0x105678, 7, "rt/time.c", "now >= last_t"}));
}

// What GNU as makes of the two records (.quad, .quad, .asciz, .asciz, .balign 8; objcopy -O
// binary --only-section=.ftd_asserts), byte for byte.
TEST(AssertTableTest, MatchesTheAssembler) {
  // clang-format off
  const std::vector<uint8_t> as_made = {
      0x34, 0x12, 0x10, 0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0,
      'k', 'v', '/', 'k', 'v', '.', 'c', 0, 'k', 'v', '_', 'c', 'o', 'u', 'n', 't',
      ' ', '<', '=', ' ', '1', '0', '2', '4', 0, 0, 0, 0, 0, 0, 0, 0,
      0x78, 0x56, 0x10, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0,
      'r', 't', '/', 't', 'i', 'm', 'e', '.', 'c', 0, 'n', 'o', 'w', ' ', '>', '=',
      ' ', 'l', 'a', 's', 't', '_', 't', 0};
  // clang-format on
  EXPECT_EQ(TwoRecords(), as_made);
}

TEST(AssertTableTest, EmptySectionHasNoRecords) {
  auto table = ParseAssertTable({});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->empty());
}

TEST(AssertTableTest, EmptyStrings) {
  std::vector<uint8_t> s;
  Append(s, 1, 2, "", "");
  EXPECT_EQ(s.size(), 24u);
  auto table = ParseAssertTable(s);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)[0], (AssertSite{1, 2, "", ""}));
}

// A prefix is either whole records or an error, never a crash or a half record.
TEST(AssertTableTest, EveryTruncation) {
  const std::vector<uint8_t> full = TwoRecords();
  std::vector<uint8_t> first;
  Append(first, 0x101234, 42, "kv/kv.c", "kv_count <= 1024");
  for (size_t len = 0; len < full.size(); ++len) {
    auto table = ParseAssertTable(std::span(full.data(), len));
    if (len == 0 || len == first.size()) {
      ASSERT_TRUE(table.ok()) << len << ": " << table.status();
      EXPECT_EQ(table->size(), len == 0 ? 0u : 1u);
    } else {
      EXPECT_FALSE(table.ok()) << "length " << len;
    }
  }
}

TEST(AssertTableTest, NamesWhatIsWrong) {
  auto expect_error = [](const std::vector<uint8_t>& s, std::string_view what) {
    auto table = ParseAssertTable(s);
    ASSERT_FALSE(table.ok());
    EXPECT_NE(std::string(table.status().message()).find(what), std::string_view::npos)
        << table.status();
  };
  std::vector<uint8_t> s = TwoRecords();
  std::vector<uint8_t> first;
  Append(first, 0x101234, 42, "kv/kv.c", "kv_count <= 1024");
  expect_error(std::vector<uint8_t>(s.begin(), s.begin() + first.size() + 10),
               "record 1 at offset 0x30: truncated");
  // The second record's strings without their NULs.
  std::vector<uint8_t> bad = s;
  for (size_t i = first.size() + 16; i < bad.size(); ++i) {
    if (bad[i] == 0) bad[i] = 'x';
  }
  expect_error(bad, "record 1 at offset 0x30: the file string has no NUL");
  bad = s;
  bad.pop_back();
  expect_error(bad, "the expression string has no NUL");
  bad = s;
  bad[first.size() - 1] = 1;  // the first record's padding
  expect_error(bad, "record 0 at offset 0x0: non-zero padding");
  bad = first;
  bad.pop_back();
  expect_error(bad, "truncated padding");
}

TEST(AssertTableTest, AtMost4096Records) {
  std::vector<uint8_t> s;
  for (size_t i = 0; i < kMaxAssertSites; ++i) Append(s, i, i, "f", "e");
  auto table = ParseAssertTable(s);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), kMaxAssertSites);
  Append(s, 0, 0, "f", "e");
  table = ParseAssertTable(s);
  ASSERT_FALSE(table.ok());
  EXPECT_NE(std::string(table.status().message()).find("more than 4096"), std::string_view::npos)
      << table.status();
}

}  // namespace
}  // namespace ftd::replay::debug
