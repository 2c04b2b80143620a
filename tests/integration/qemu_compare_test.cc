// The bundled images boot unchanged under QEMU TCG and print what they print under ftd:
// that is how ftd is compared with QEMU.
#include <gtest/gtest.h>

#include "tests/integration/guests.h"
#include "tests/support/process.h"

namespace ftd::testing {
namespace {

ProcessResult Qemu(const std::string& guest, const std::string& cmdline) {
  return RunProcess(
      {"qemu-system-x86_64", "-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none",
       "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
       "-kernel", GuestImage(guest), "-append", cmdline},
      120);
}

ProcessResult Ftd(const std::string& guest, const std::string& cmdline) {
  return RunProcess(
      {FtdBinary(), "run", "--guest", GuestImage(guest), "--cmdline", cmdline, "--no-stdin"}, 120);
}

TEST(QemuCompareTest, HelloUnderQemu) {
  FTD_REQUIRE_PROGRAM("qemu-system-x86_64");
  auto q = Qemu("hello", "");
  EXPECT_EQ(q.exit_code, 1) << "QEMU's isa-debug-exit gives status*2+1\n" << q.err;
  EXPECT_EQ(q.out, "hello from ftd guest\n");
}

TEST(QemuCompareTest, ComputeUnderQemuEqualsHostReference) {
  FTD_REQUIRE_PROGRAM("qemu-system-x86_64");
  auto q = Qemu("compute", "iters=100000 size=8192");
  EXPECT_EQ(q.exit_code, 1) << q.err;
  EXPECT_EQ(q.out, ComputeReference(100000, 8192));
}

// QEMU TCG takes the architectural path of the system-call ABI (the DPL-3 gate), PVM the #UD
// fallback: the sysabi guest prints the same lines on both, up to the reported ud2.
TEST(QemuCompareTest, SystemCallAbiUnderQemu) {
  FTD_REQUIRE_PROGRAM("qemu-system-x86_64");
  auto q = Qemu("sysabi", "");
  EXPECT_EQ(q.exit_code, 0x7f * 2 + 1) << q.out << q.err;
  EXPECT_EQ(q.out.find("FAILED"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("sysabi: masked timer: ok\nsysabi: a genuine ud2 next\nEXCEPTION vec=0x06 "),
            std::string::npos)
      << q.out;
}

TEST(QemuCompareKvmTest, HelloAndComputeSameUnderFtdAndQemu) {
  FTD_REQUIRE_PROGRAM("qemu-system-x86_64");
  FTD_REQUIRE_KVM();
  for (auto [guest, cmdline] : {std::pair<std::string, std::string>{"hello", ""},
                                {"compute", "iters=100000 size=8192"},
                                {"sysabi", ""}}) {
    auto q = Qemu(guest, cmdline);
    auto f = Ftd(guest, cmdline);
    int want = guest == "sysabi" ? 0x7f : 0;
    EXPECT_EQ(f.exit_code, want) << f.err;
    EXPECT_EQ(q.exit_code, want * 2 + 1) << q.err;
    EXPECT_EQ(f.out, q.out) << guest;
    EXPECT_FALSE(f.out.empty());
  }
}

}  // namespace
}  // namespace ftd::testing
