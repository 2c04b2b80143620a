#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace ftd::cli {
namespace {

TEST(ParseSizeTest, Units) {
  EXPECT_EQ(ParseSize("64M"), 64ull << 20);
  EXPECT_EQ(ParseSize("1G"), 1ull << 30);
  EXPECT_EQ(ParseSize("512k"), 512ull << 10);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize(""), std::nullopt);
  EXPECT_EQ(ParseSize("M"), std::nullopt);
  EXPECT_EQ(ParseSize("12X"), std::nullopt);
  EXPECT_EQ(ParseSize("-1M"), std::nullopt);
  EXPECT_EQ(ParseSize("99999999999999999999G"), std::nullopt);
}

}  // namespace
}  // namespace ftd::cli
