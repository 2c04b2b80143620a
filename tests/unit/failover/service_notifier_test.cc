// What systemd hears from a role (failover/service_notifier.h), received on a NOTIFY_SOCKET of
// the test's own: READY=1 only once the role serves, STATUS= lines at changes, STOPPING=1.
#include "failover/service_notifier.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/failover/temp_dir.h"

namespace ftd::failover {
namespace {

using ::testing::HasSubstr;

proto::StatusReport Report(const std::string& role, const std::string& state, uint64_t gen) {
  proto::StatusReport r;
  r.set_role(role);
  r.set_state(state);
  r.set_generation(gen);
  r.set_peer("198.19.0.2:7411");
  return r;
}

TEST(ServiceNotifierTest, StatusLines) {
  auto p = Report("primary", "protected", 3);
  p.set_log_seq(10);
  p.set_acked_seq(8);
  p.set_held_outputs(1);
  EXPECT_EQ(ServiceStatusLine(p),
            "primary: protected at generation 3 (backup 198.19.0.2:7411; 2 entries "
            "unacknowledged, 1 outputs held)");
  EXPECT_THAT(ServiceStatusLine(Report("primary", "unprotected", 4)),
              HasSubstr("unprotected at generation 4"));
  auto b = Report("backup", "replaying", 3);
  b.set_lag_entries(12);
  b.set_lag_ms(4.14);
  EXPECT_EQ(ServiceStatusLine(b), "backup: replaying generation 3, 12 entries (4.1 ms) behind");
  EXPECT_THAT(ServiceStatusLine(Report("backup", "live", 2)), HasSubstr("live at generation 2"));
  EXPECT_THAT(ServiceStatusLine(Report("backup", "waiting", 0)), HasSubstr("waiting for a primary"));

  EXPECT_FALSE(ServiceReady(Report("primary", "starting", 0)));
  EXPECT_FALSE(ServiceReady(Report("primary", "transferring", 0)));
  EXPECT_TRUE(ServiceReady(Report("primary", "protected", 1)));
  EXPECT_TRUE(ServiceReady(Report("primary", "unprotected", 2)));
  EXPECT_FALSE(ServiceReady(Report("primary", "halted", 1)));
  EXPECT_FALSE(ServiceReady(Report("backup", "waiting", 0)));
  EXPECT_FALSE(ServiceReady(Report("backup", "receiving-state", 0)));
  EXPECT_TRUE(ServiceReady(Report("backup", "replaying", 1)));
  EXPECT_TRUE(ServiceReady(Report("backup", "live", 2)));
}

// A datagram socket standing in for systemd's; NOTIFY_SOCKET points at it while it lives.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof(a.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~FakeSystemd() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }
  // Every message received so far.
  std::vector<std::string> Messages() {
    std::vector<std::string> out;
    char buf[4096];
    for (ssize_t n; (n = recv(fd_, buf, sizeof(buf), 0)) > 0;) out.emplace_back(buf, n);
    return out;
  }

 private:
  int fd_ = -1;
};

TEST(ServiceNotifierTest, ReadyOnceServingStatusAtChanges) {
  TempDir tmp;
  FakeSystemd systemd(tmp.Sub("notify"));
  ServiceNotifier n;
  n.Update(Report("primary", "starting", 0));
  n.Update(Report("primary", "starting", 0));  // no change: nothing
  n.Update(Report("primary", "transferring", 0));
  auto m = systemd.Messages();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], "STATUS=primary: starting\n");
  EXPECT_THAT(m[1], HasSubstr("STATUS=primary: connecting to the backup"));
  for (const auto& s : m) EXPECT_THAT(s, ::testing::Not(HasSubstr("READY=1")));

  n.Update(Report("primary", "protected", 1));
  m = systemd.Messages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_THAT(m[0], HasSubstr("STATUS=primary: protected at generation 1"));
  EXPECT_THAT(m[0], HasSubstr("READY=1\n"));
  auto lagging = Report("primary", "protected", 1);
  lagging.set_log_seq(5);
  n.Update(lagging);  // only the lag changed, within a second: not yet
  EXPECT_TRUE(systemd.Messages().empty());

  n.Update(Report("primary", "unprotected", 2));
  m = systemd.Messages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], "STATUS=primary: unprotected at generation 2 (the backup is lost; serving alone)\n");
  n.Update(Report("primary", "halted", 2));
  m = systemd.Messages();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_THAT(m[0], HasSubstr("STATUS=primary: halted at generation 2\nSTOPPING=1\n"));
}

TEST(ServiceNotifierTest, NothingWithoutNotifySocket) {
  unsetenv("NOTIFY_SOCKET");
  ServiceNotifier n;
  n.Update(Report("backup", "replaying", 1));  // must not crash or block
  SUCCEED();
}

}  // namespace
}  // namespace ftd::failover
