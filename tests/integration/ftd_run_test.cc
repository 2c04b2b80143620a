// ftd run / resume end to end on the bundled guests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tests/integration/guests.h"
#include "tests/support/process.h"

namespace ftd::testing {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name + "." + std::to_string(getpid());
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// --- Errors that need no KVM -------------------------------------------------------------

TEST(FtdCliTest, MissingImageIsExit66) {
  auto r = RunProcess({FtdBinary(), "run", "--guest", "/nonexistent/x.elf"});
  EXPECT_EQ(r.exit_code, 66) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/x.elf"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(FtdCliTest, InvalidImageIsExit65) {
  std::string path = TempPath("garbage.elf");
  { std::ofstream(path) << std::string(10000, 'z'); }
  // The image is validated before /dev/kvm is opened: the same answer with or without KVM.
  auto r = RunProcess({FtdBinary(), "run", "--guest", path, "--kvm", "/nonexistent/kvm"});
  EXPECT_EQ(r.exit_code, 65) << r.err;
  EXPECT_NE(r.err.find("not a Multiboot image"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  auto big = RunProcess({FtdBinary(), "run", "--guest", GuestImage("compute"), "--mem", "2M",
                         "--kvm", "/nonexistent/kvm"});
  EXPECT_EQ(big.exit_code, 65) << big.err;
  EXPECT_NE(big.err.find("raise --mem"), std::string::npos) << big.err;
  unlink(path.c_str());
}

TEST(FtdCliTest, NoKvmDeviceIsExit69WithAdvice) {
  auto r =
      RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--kvm", "/nonexistent/kvm"});
  EXPECT_EQ(r.exit_code, 69) << r.err;
  EXPECT_NE(r.err.find("no KVM"), std::string::npos) << r.err;
  auto n = RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--kvm", "/dev/null"});
  EXPECT_EQ(n.exit_code, 69) << n.err;
  EXPECT_NE(n.err.find("API version"), std::string::npos) << n.err;
}

TEST(FtdCliTest, UsageErrorsAreExit64) {
  EXPECT_EQ(RunProcess({FtdBinary()}).exit_code, 64);
  EXPECT_EQ(RunProcess({FtdBinary(), "run"}).exit_code, 64);
  EXPECT_EQ(
      RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--mem", "lots"}).exit_code,
      64);
  EXPECT_EQ(RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--console", "tty"})
                .exit_code,
            64);
}

TEST(FtdCliTest, CorruptSnapshotIsRefused) {
  std::string path = TempPath("bad.snap");
  { std::ofstream(path) << "FTDSNAP" << std::string(100, '\1'); }
  auto r = RunProcess({FtdBinary(), "resume", "--snapshot", path});
  EXPECT_EQ(r.exit_code, 65) << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  unlink(path.c_str());
}

// --- Guests under KVM ---------------------------------------------------------------------

TEST(FtdRunKvmTest, HelloPrintsItsLineAndExitsZero) {
  FTD_REQUIRE_KVM();
  auto r = RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--no-stdin"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from ftd guest\n") << r.err;
}

// The system-call ABI on this KVM's entry path (on PVM: `int $0x30` -> #UD -> the kit's #UD
// stub; elsewhere the DPL-3 gate), and a genuine #UD reported as an exception.
TEST(FtdRunKvmTest, SystemCallAbiHoldsAndAGenuineUdIsReported) {
  FTD_REQUIRE_KVM();
  auto r = RunProcess({FtdBinary(), "run", "--guest", GuestImage("sysabi"), "--no-stdin"}, 60);
  EXPECT_EQ(r.exit_code, 0x7f) << r.out << r.err;
  EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;
  for (const char* line :
       {"sysabi: unknown call -> -1\n", "sysabi: registers changed by a call: 0\n",
        "sysabi: wait(seen != total) returned the total at once\n", "sysabi: 3 timer waits: ok\n",
        "sysabi: masked timer: ok\n",
        "sysabi: a genuine ud2 next\nEXCEPTION vec=0x06 err=0x0000000000000000 rip="}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << "missing: " << line << "\n" << r.out;
  }
  EXPECT_NE(r.out.find(" cs=0x33 "), std::string::npos) << "the ud2 is in ring 3\n" << r.out;
}

TEST(FtdRunKvmTest, ConsoleToFileLeavesStdoutEmpty) {
  FTD_REQUIRE_KVM();
  std::string path = TempPath("console.txt");
  auto r =
      RunProcess({FtdBinary(), "run", "--guest", GuestImage("hello"), "--console", "file:" + path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(ReadFile(path), "hello from ftd guest\n");
  unlink(path.c_str());
}

TEST(FtdRunKvmTest, ComputeEqualsHostReference) {
  FTD_REQUIRE_KVM();
  auto r = RunProcess({FtdBinary(), "run", "--guest", GuestImage("compute"), "--cmdline",
                       "iters=300000 size=65536", "--no-stdin"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ComputeReference(300000, 65536));
}

TEST(FtdRunKvmTest, TicksGetsItsInterruptsWithAMonotonicClock) {
  FTD_REQUIRE_KVM();
  auto r = RunProcess({FtdBinary(), "run", "--guest", GuestImage("ticks"), "--cmdline",
                       "ticks=25 hz=200", "--no-stdin"},
                      60);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::regex tick_re(R"(tick (\d+) clock_ns=(\d+))");
  uint64_t last = 0;
  int n = 0;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), tick_re), end; it != end; ++it) {
    uint64_t ns = std::stoull((*it)[2]);
    EXPECT_GE(ns, last);
    last = ns;
    ++n;
  }
  EXPECT_EQ(n, 25) << r.out;
  // 25 ticks at 200 Hz take at least ~120 ms of guest time.
  EXPECT_GE(last, 100'000'000u) << r.out;
  EXPECT_NE(r.out.find("ticks 25 checksum"), std::string::npos) << r.out;
}

// Host stdin reaches the guest through the 16550's receive FIFO and IRQ 4, also when the
// input is longer than the FIFO (ftd keeps the rest and feeds it as the guest drains it).
TEST(FtdRunKvmTest, StdinReachesTheGuestSerialPort) {
  FTD_REQUIRE_KVM();
  std::string long_line(200, 'x');
  auto r = RunProcess({FtdBinary(), "run", "--guest", GuestImage("echo"), "--cmdline", "lines=3"},
                      60, "hello\nworld\n" + long_line + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "echo: HELLO\necho: WORLD\necho: " + std::string(200, 'X') + "\n");
}

// The machine stopped at a point, saved, restored in a new process and resumed gives
// exactly the output of the uninterrupted run.
TEST(FtdRunKvmTest, SnapshotMidRunThenResumeEqualsUninterruptedRun) {
  FTD_REQUIRE_KVM();
  const std::string cmdline = "iters=2000000 size=65536 hz=1000";
  auto full = RunProcess({FtdBinary(), "-v", "run", "--guest", GuestImage("compute"), "--cmdline",
                          cmdline, "--no-stdin"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(full.err, m, std::regex(R"(after (\d+) exits)"))) << full.err;
  uint64_t total = std::stoull(m[1]);
  ASSERT_GT(total, 40u);
  // The exit count varies a little from run to run (timer interrupts): stay clear of the end.
  for (uint64_t at : {uint64_t{5}, total / 3, total / 2}) {
    std::string snap = TempPath("mid.snap");
    auto first =
        RunProcess({FtdBinary(), "run", "--guest", GuestImage("compute"), "--cmdline", cmdline,
                    "--save-at-exit", std::to_string(at), "--save", snap, "--no-stdin"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    auto second = RunProcess({FtdBinary(), "resume", "--snapshot", snap, "--no-stdin"});
    EXPECT_EQ(second.exit_code, 0) << second.err;
    EXPECT_EQ(first.out + second.out, full.out) << "saved at exit " << at;
    EXPECT_EQ(full.out, ComputeReference(2000000, 65536));
    unlink(snap.c_str());
  }
}

TEST(FtdRunKvmTest, SigtermWithSaveWritesASnapshotThatResumes) {
  FTD_REQUIRE_KVM();
  // ticks=800 at 100 Hz runs ~8 s; stop it early with SIGTERM through `timeout`, late enough
  // that ftd (linked with gRPC: its start-up is slow under emulation) has its handlers.
  std::string snap = TempPath("term.snap");
  auto first = RunProcess({"timeout", "--preserve-status", "-s", "TERM", "2", FtdBinary(), "run",
                           "--guest", GuestImage("ticks"), "--cmdline", "ticks=800 hz=100",
                           "--save", snap, "--no-stdin"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = RunProcess({FtdBinary(), "resume", "--snapshot", snap, "--no-stdin"}, 60);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE((first.out + second.out).find("ticks 800 checksum"), std::string::npos);
  unlink(snap.c_str());
}

}  // namespace
}  // namespace ftd::testing
