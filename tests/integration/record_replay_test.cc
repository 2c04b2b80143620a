// ftd record / replay / log info end to end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "replay/log_file.h"
#include "tests/integration/guests.h"
#include "tests/support/process.h"

namespace ftd::testing {
namespace {

std::string Temp(const std::string& name) {
  return ::testing::TempDir() + "/" + name + "." + std::to_string(getpid());
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<long>(b.size()));
}

ProcessResult Record(const std::string& guest, const std::string& cmdline, const std::string& log) {
  return RunProcess({FtdBinary(), "record", "--guest", GuestImage(guest), "--cmdline", cmdline,
                     "--log", log, "--no-stdin"},
                    120);
}

ProcessResult Replay(const std::string& guest, const std::string& log,
                     std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {FtdBinary(), "replay", "--guest",   GuestImage(guest),
                                   "--log",     log,      "--no-stdin"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunProcess(argv, 120);
}

// "E epoch hashes verified" from the replay summary.
int EpochsVerified(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex(R"((\d+) epoch hashes verified)"))) return -1;
  return std::stoi(m[1]);
}

// A small valid log (header + a few entries) made with the library, for the error tests.
std::string MakeLog() {
  std::string path = Temp("small.log");
  proto::LogHeader h;
  h.mutable_config()->set_mem_size(64 << 20);
  auto w = replay::LogWriter::Create(path, h);
  EXPECT_TRUE(w.ok());
  for (int i = 0; i < 3; ++i) {
    proto::LogEntry e;
    e.set_exit_index(static_cast<uint64_t>(i + 1));
    e.mutable_clock()->set_monotonic_ns(1000 * (i + 1));
    EXPECT_TRUE((*w)->Append(e).ok());
  }
  EXPECT_TRUE((*w)->Flush(true).ok());
  return path;
}

// --- Bad logs: clear errors, no KVM needed ------------------------------------------------

TEST(LogCliTest, InfoOnAValidLog) {
  std::string log = MakeLog();
  auto r = RunProcess({FtdBinary(), "log", "info", log});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("entries 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clock"), std::string::npos) << r.out;
  unlink(log.c_str());
}

TEST(LogCliTest, TruncatedCorruptedWrongVersionAndOversizedLogsAreRefused) {
  std::string log = MakeLog();
  auto good = ReadBytes(log);
  std::string bad = Temp("bad.log");
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string words;
  };
  auto truncated = good;
  truncated.resize(good.size() - 3);
  auto corrupted = good;
  corrupted[good.size() - 2] ^= 0x40;
  auto version = good;
  version[8] = 9;
  auto oversized = good;
  oversized[replay::kLogFileHeaderSize + 3] = 0x40;  // the header frame claims ~1 GiB
  std::vector<Case> cases = {{"truncated", truncated, "truncated"},
                             {"corrupted", corrupted, "corrupted"},
                             {"version", version, "version 9"},
                             {"oversized", oversized, "limit"},
                             {"garbage", std::vector<uint8_t>(100, 'x'), "not an ftd log"},
                             {"empty", {}, "truncated"}};
  for (const Case& c : cases) {
    WriteBytes(bad, c.bytes);
    auto info = RunProcess({FtdBinary(), "log", "info", bad});
    EXPECT_EQ(info.exit_code, 65) << c.name << ": " << info.err;
    EXPECT_NE(info.err.find(c.words), std::string::npos) << c.name << ": " << info.err;
    auto rep = RunProcess({FtdBinary(), "replay", "--log", bad, "--guest", GuestImage("hello"),
                           "--kvm", "/nonexistent/kvm"});
    if (c.name == "truncated" || c.name == "corrupted") {
      // The header is intact: replay refuses the image first (the log is not hello's).
      EXPECT_EQ(rep.exit_code, 65) << c.name << ": " << rep.err;
    } else {
      EXPECT_EQ(rep.exit_code, 65) << c.name << ": " << rep.err;
      EXPECT_NE(rep.err.find(c.words), std::string::npos) << c.name << ": " << rep.err;
    }
  }
  EXPECT_EQ(RunProcess({FtdBinary(), "log", "info", "/nonexistent.log"}).exit_code, 66);
  unlink(bad.c_str());
  unlink(log.c_str());
}

// --- Record and replay under KVM ---------------------------------------------------------

TEST(RecordReplayKvmTest, TicksReplaysIdenticallyThreeTimesFasterThanRealTime) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("ticks.log");
  auto rec = Record("ticks", "ticks=40 hz=100", log);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  ASSERT_NE(rec.out.find("ticks 40 checksum"), std::string::npos);
  int epochs = -1;
  for (int i = 0; i < 3; ++i) {
    auto rep = Replay("ticks", log);
    EXPECT_EQ(rep.exit_code, 0) << rep.err;
    EXPECT_EQ(rep.out, rec.out) << "replay " << i;
    int e = EpochsVerified(rep.err);
    EXPECT_GE(e, 3) << rep.err;  // 40 ticks at 100 Hz: 400 ms of guest time, 100 ms epochs
    if (epochs >= 0) {
      EXPECT_EQ(e, epochs);
    }
    epochs = e;
    // Idle time is skipped: replay runs faster than real time.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(rep.err, m, std::regex(R"(\(([0-9.]+)x real time\))")))
        << rep.err;
    EXPECT_GT(std::stod(m[1]), 1.0) << rep.err;
  }
  unlink(log.c_str());
}

TEST(RecordReplayKvmTest, ComputeReplaysToTheHostReference) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("compute.log");
  auto rec = Record("compute", "iters=2000000 size=65536 hz=1000", log);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_EQ(rec.out, ComputeReference(2000000, 65536));
  for (int i = 0; i < 3; ++i) {
    auto rep = Replay("compute", log);
    EXPECT_EQ(rep.exit_code, 0) << rep.err;
    EXPECT_EQ(rep.out, rec.out);
    EXPECT_GE(EpochsVerified(rep.err), 1) << rep.err << " (the final state is always hashed)";
  }
  unlink(log.c_str());
}

TEST(RecordReplayKvmTest, UntilInspectShowsTheRegistersTheRecorderSaw) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("inspect.log");
  ASSERT_EQ(Record("ticks", "ticks=30 hz=100", log).exit_code, 0);
  auto info = RunProcess({FtdBinary(), "log", "info", log, "--epochs"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  // Every epoch records the registers at its point; replay to each and compare.
  std::regex epoch_re(R"(epoch at exit (\d+) \([^)]*\)\n((?:[a-z0-9]+=[^\n]*\n){6}))");
  int checked = 0;
  for (std::sregex_iterator it(info.out.begin(), info.out.end(), epoch_re), end;
       it != end && checked < 3; ++it) {
    std::string exit = (*it)[1];
    auto rep = Replay("ticks", log, {"--until", exit, "--inspect", "regs"});
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    size_t at = rep.out.find("exit " + exit + "\n");
    ASSERT_NE(at, std::string::npos) << rep.out;
    EXPECT_EQ(rep.out.substr(at + exit.size() + 6), std::string((*it)[2])) << "at exit " << exit;
    ++checked;
  }
  EXPECT_GE(checked, 2) << info.out;
  auto mem = Replay("ticks", log, {"--until", "20", "--inspect", "mem:100000:32"});
  EXPECT_EQ(mem.exit_code, 0) << mem.err;
  EXPECT_NE(mem.out.find("00100000: 02 b0 ad 1b"), std::string::npos) << "the Multiboot magic\n"
                                                                      << mem.out;
  auto dev = Replay("ticks", log, {"--until", "20", "--inspect", "devices"});
  EXPECT_EQ(dev.exit_code, 0) << dev.err;
  EXPECT_NE(dev.out.find("pit {"), std::string::npos) << dev.out;
  unlink(log.c_str());
}

TEST(RecordReplayKvmTest, NondeterministicGuestIsCaughtByTheFirstDifferingEpoch) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("nondet.log");
  auto rec = Record("nondet", "ticks=80", log);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto rep = Replay("nondet", log);
  EXPECT_EQ(rep.exit_code, 76) << rep.out << rep.err;
  EXPECT_NE(rep.err.find("divergence at exit"), std::string::npos) << rep.err;
  EXPECT_NE(rep.err.find("differs from the recording"), std::string::npos) << rep.err;
  EXPECT_TRUE(rep.err.find("registers:") != std::string::npos ||
              rep.err.find("memory:") != std::string::npos)
      << rep.err;
  unlink(log.c_str());
}

TEST(RecordReplayKvmTest, ReplayRefusesAnotherImage) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("img.log");
  ASSERT_EQ(Record("hello", "", log).exit_code, 0);
  auto rep = Replay("ticks", log);
  EXPECT_EQ(rep.exit_code, 65) << rep.err;
  EXPECT_NE(rep.err.find("is not the image"), std::string::npos) << rep.err;
  unlink(log.c_str());
}

TEST(RecordReplayKvmTest, GoLiveFromTheMiddleFinishesTheRunOnRealTime) {
  FTD_REQUIRE_KVM();
  std::string log = Temp("golive.log");
  auto rec = Record("ticks", "ticks=30 hz=100", log);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto live = Replay("ticks", log, {"--go-live-at", "100"});
  EXPECT_EQ(live.exit_code, 0) << live.err;
  EXPECT_NE(live.err.find("live at exit 100"), std::string::npos) << live.err;
  // The clock never goes backwards across the switch, and the guest finishes its 30 ticks.
  EXPECT_NE(live.out.find("ticks 30 checksum"), std::string::npos) << live.out;
  EXPECT_EQ(live.out.find("went backwards"), std::string::npos) << live.out;
  // Up to the switch, the output is the recording's.
  size_t same = 0;
  while (same < live.out.size() && same < rec.out.size() && live.out[same] == rec.out[same]) ++same;
  EXPECT_GT(same, 10u);
  unlink(log.c_str());
}

}  // namespace
}  // namespace ftd::testing
