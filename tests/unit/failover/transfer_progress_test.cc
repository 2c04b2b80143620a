// TransferProgress: the status fields, the terminal line's rate limit and wording, and how
// `ftd status` and the systemd STATUS= line show a transfer.
#include "failover/transfer_progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "failover/service_notifier.h"
#include "failover/status_file.h"

namespace ftd::failover {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TransferProgressTest, FieldsAreZeroBeforeAnyTransfer) {
  TransferProgress p;
  proto::StatusReport r;
  p.Fill(r);
  EXPECT_EQ(r.transfer_bytes_done(), 0u);
  EXPECT_EQ(r.transfer_bytes_total(), 0u);
  EXPECT_EQ(r.transfer_rate_bps(), 0);
  EXPECT_FALSE(p.LineDue("sent").has_value());
  EXPECT_THAT(FormatStatus(r, 0), Not(HasSubstr("state transfer")));
}

TEST(TransferProgressTest, ALineAtMostOnceASecondWhileItRuns) {
  TransferProgress p;
  p.Start(40'000'000);
  p.Set(10'000'000);
  EXPECT_FALSE(p.LineDue("sent").has_value());  // short transfers print nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  auto line = p.LineDue("sent");
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("sent: 10.0 MB of 40.0 MB (25 %), "));
  EXPECT_THAT(*line, HasSubstr(" MB/s"));
  EXPECT_FALSE(p.LineDue("sent").has_value());  // not again within the second
  proto::StatusReport r;
  p.Fill(r);
  EXPECT_EQ(r.transfer_bytes_done(), 10'000'000u);
  EXPECT_EQ(r.transfer_bytes_total(), 40'000'000u);
  EXPECT_GT(r.transfer_rate_bps(), 0);
  EXPECT_LT(r.transfer_rate_bps(), 10'000'000);  // 10 MB in more than a second
  p.Set(40'000'000);
  p.Finish();
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  EXPECT_FALSE(p.LineDue("sent").has_value());  // over: no more lines
  p.Fill(r);
  EXPECT_EQ(r.transfer_rate_bps(), 0);
  EXPECT_EQ(r.transfer_bytes_done(), 40'000'000u);
}

TEST(TransferProgressTest, AnUnknownTotalShowsBytesOnly) {
  TransferProgress p;
  p.Start(0);
  p.Set(3'000'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  auto line = p.LineDue("received");
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("received: 3.0 MB, "));
  EXPECT_THAT(*line, Not(HasSubstr(" of ")));
}

TEST(TransferProgressTest, StatusAndSystemdShowIt) {
  proto::StatusReport r;
  r.set_role("backup");
  r.set_state("receiving-state");
  r.set_transfer_bytes_done(12'300'000);
  r.set_transfer_bytes_total(45'600'000);
  r.set_transfer_rate_bps(4'100'000);
  EXPECT_THAT(FormatStatus(r, 0), HasSubstr("12.3 of 45.6 MB, 4.1 MB/s"));
  EXPECT_EQ(ServiceStatusLine(r), "backup: receiving the primary's state, 12.3 of 45.6 MB");
  r.set_role("primary");
  r.set_state("transferring");
  EXPECT_THAT(ServiceStatusLine(r), HasSubstr("sending it the VM's state, 12.3 of 45.6 MB"));
}

}  // namespace
}  // namespace ftd::failover
