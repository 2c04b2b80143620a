// The status file: JSON round trip, atomic replacement, refusal of missing and garbage files,
// the human-readable form with staleness, and `ftd status` exit codes.
#include "failover/status_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/status_command.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/unit/failover/temp_dir.h"

namespace ftd::failover {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kNow = 1'700'000'000'000'000'000ull;
constexpr uint64_t kSecond = 1'000'000'000ull;

proto::StatusReport Sample(uint64_t updated) {
  proto::StatusReport r;
  r.set_role("primary");
  r.set_state("protected");
  r.set_generation(7);
  r.set_node("hostA");
  r.set_peer("198.18.0.2:7400");
  r.set_exit_index(123456789);
  r.set_log_seq(5000);
  r.set_acked_seq(4990);
  r.set_replayed_seq(4980);
  r.set_lag_entries(20);
  r.set_lag_ms(3.3);
  r.set_unacked_bytes(65536);
  r.set_held_outputs(4);
  r.set_held_bytes(6000);
  r.set_log_bytes(10'000'000);
  r.set_log_bandwidth_bps(250'000);
  r.set_updated_unix_ns(updated);
  r.set_pid(4242);
  r.set_first_transfer_pause_ms(12.5);
  r.set_failover_ms(0);
  r.set_detail("all good");
  return r;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StatusFileTest, RoundTrip) {
  TempDir tmp;
  const std::string path = tmp.Sub("status.json");
  const proto::StatusReport sent = Sample(kNow);
  ASSERT_TRUE(WriteStatusFile(path, sent).ok());
  auto got = ReadStatusFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(sent, *got)) << got->DebugString();

  // Proto field names, and zero fields present.
  const std::string text = Slurp(path);
  EXPECT_THAT(text, HasSubstr("\"first_transfer_pause_ms\""));
  EXPECT_THAT(text, HasSubstr("\"failover_ms\":0"));
  EXPECT_THAT(text, HasSubstr("\"held_outputs\""));
  EXPECT_THAT(text, Not(HasSubstr("heldOutputs")));
}

TEST(StatusFileTest, ReplacesAtomicallyAndLeavesNoTemporary) {
  TempDir tmp;
  const std::string path = tmp.Sub("status.json");
  for (uint64_t i = 1; i <= 5; ++i) {
    proto::StatusReport r = Sample(kNow + i);
    r.set_log_seq(i);
    ASSERT_TRUE(WriteStatusFile(path, r).ok());
    auto got = ReadStatusFile(path);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->log_seq(), i);
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(StatusFileTest, WriteIntoMissingDirectoryFails) {
  TempDir tmp;
  EXPECT_FALSE(WriteStatusFile(tmp.Sub("no/such/status.json"), Sample(kNow)).ok());
}

TEST(StatusFileTest, MissingIsNotFound) {
  TempDir tmp;
  auto got = ReadStatusFile(tmp.Sub("nope.json"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("nope.json"));
}

TEST(StatusFileTest, GarbageIsDataLoss) {
  TempDir tmp;
  const std::string path = tmp.Sub("status.json");
  for (const std::string garbage : {"", "\n", "not json", "{\"role\": ",
                                    "{\"generation\": \"abc\"}", "[1,2,3]", "{\"role\": 5}"}) {
    std::ofstream(path, std::ios::trunc) << garbage;
    auto got = ReadStatusFile(path);
    ASSERT_FALSE(got.ok()) << garbage;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << garbage;
    EXPECT_THAT(got.status().message(), HasSubstr(path)) << garbage;
  }
}

TEST(StatusFileTest, UnknownFieldsAreIgnored) {
  TempDir tmp;
  const std::string path = tmp.Sub("status.json");
  std::ofstream(path) << "{\"role\": \"backup\", \"from_the_future\": 1}";
  auto got = ReadStatusFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->role(), "backup");
}

TEST(StatusFileTest, FormatShowsEveryField) {
  const std::string text = FormatStatus(Sample(kNow - kSecond / 2), kNow);
  for (const char* want : {"role:",
                           "primary",
                           "state:",
                           "protected",
                           "generation:",
                           "7",
                           "node:",
                           "hostA",
                           "peer:",
                           "198.18.0.2:7400",
                           "exit index:",
                           "123456789",
                           "log seq:",
                           "5000 (acked 4990, replayed 4980)",
                           "lag:",
                           "20 entries, 3.3 ms",
                           "unacknowledged:",
                           "65536 bytes",
                           "held outputs:",
                           "4 (6000 bytes)",
                           "log bandwidth:",
                           "250.0 KB/s",
                           "first-transfer pause:",
                           "12.5 ms",
                           "failover time:",
                           "detail:",
                           "all good",
                           "updated:",
                           "0.5 s ago"}) {
    EXPECT_THAT(text, HasSubstr(want));
  }
  EXPECT_THAT(text, Not(HasSubstr("STALE")));
  // Values line up in one column.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    ASSERT_GT(line.size(), 23u) << line;
    EXPECT_EQ(line[22], ' ') << line;
    EXPECT_NE(line[23], ' ') << line;
  }
}

TEST(StatusFileTest, FormatSaysStaleWhenOld) {
  EXPECT_THAT(FormatStatus(Sample(kNow - 2 * kSecond), kNow), Not(HasSubstr("STALE")));
  const std::string old = FormatStatus(Sample(kNow - 10 * kSecond), kNow);
  EXPECT_THAT(old, HasSubstr("10.0 s ago (STALE: the daemon is not updating it)"));
  EXPECT_TRUE(IsStale(Sample(kNow - 4 * kSecond), kNow));
  EXPECT_FALSE(IsStale(Sample(kNow - 3 * kSecond), kNow));
  EXPECT_TRUE(IsStale(Sample(0), kNow));                // never stamped
  EXPECT_FALSE(IsStale(Sample(kNow + kSecond), kNow));  // writer's clock slightly ahead
}

class StatusCommandTest : public ::testing::Test {
 protected:
  int Run(bool json) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    int rc = cli::StatusCommand(path_, json);
    out_ = ::testing::internal::GetCapturedStdout();
    err_ = ::testing::internal::GetCapturedStderr();
    return rc;
  }
  static uint64_t Now() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }

  TempDir tmp_;
  std::string path_ = tmp_.Sub("status.json");
  std::string out_, err_;
};

TEST_F(StatusCommandTest, FreshIsZero) {
  ASSERT_TRUE(WriteStatusFile(path_, Sample(Now())).ok());
  EXPECT_EQ(Run(false), 0);
  EXPECT_THAT(out_, HasSubstr("hostA"));
  EXPECT_THAT(out_, Not(HasSubstr("STALE")));
}

TEST_F(StatusCommandTest, JsonPrintsTheReport) {
  ASSERT_TRUE(WriteStatusFile(path_, Sample(Now())).ok());
  EXPECT_EQ(Run(true), 0);
  EXPECT_EQ(out_, Slurp(path_));
}

TEST_F(StatusCommandTest, StaleIsOne) {
  ASSERT_TRUE(WriteStatusFile(path_, Sample(Now() - 60 * kSecond)).ok());
  EXPECT_EQ(Run(false), 1);
  EXPECT_THAT(out_, HasSubstr("STALE"));
}

TEST_F(StatusCommandTest, MissingIs66) {
  EXPECT_EQ(Run(false), 66);
  EXPECT_THAT(err_, HasSubstr("no status file"));
}

TEST_F(StatusCommandTest, MalformedIs65) {
  std::ofstream(path_) << "{{{";
  EXPECT_EQ(Run(true), 65);
  EXPECT_TRUE(out_.empty());
}

}  // namespace
}  // namespace ftd::failover
