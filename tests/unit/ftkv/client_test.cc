// ftkv's client and load generator end to end against the in-process fake server on
// 127.0.0.1. Every run is bounded (<= ~2 s).
#include "tools/ftkv/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/support/process.h"
#include "tools/ftkv/checker.h"
#include "tools/ftkv/fake_server.h"
#include "tools/ftkv/history.h"
#include "tools/ftkv/load.h"

namespace ftd::ftkv {
namespace {

std::string TempPath(const std::string& name) {
  return "/tmp/ftkv-test-" + std::to_string(getpid()) + "-" + name;
}

class FtkvClientTest : public ::testing::Test {
 protected:
  void StartServer(double drop_requests = 0, double drop_replies = 0) {
    FakeServerOptions o;
    o.drop_requests = drop_requests;
    o.drop_replies = drop_replies;
    o.seed = 42;
    server_ = std::make_unique<FakeKvServer>(o);
    ASSERT_TRUE(server_->Start().ok());
  }
  OpResult Do(Op op, std::string key, std::string value = "", double timeout = 2) {
    OpOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.op = op;
    o.key = std::move(key);
    o.value = std::move(value);
    o.timeout_s = timeout;
    o.try_s = 0.02;
    return RunOp(o);
  }
  LoadOptions Load(const std::string& history, double duration = 1) {
    LoadOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.clients = 4;
    o.duration_s = duration;
    o.keys = 3;
    o.history = history;
    o.try_s = 0.02;
    o.grace_s = 0.5;
    return o;
  }
  CheckResult CheckFile(const std::string& path) {
    auto h = ReadHistoryFile(path);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return {};
    auto r = CheckHistory(*h);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CheckResult{};
  }
  std::unique_ptr<FakeKvServer> server_;
};

TEST_F(FtkvClientTest, OpsPrintTheReplyAndExitByStatus) {
  StartServer();
  OpResult r = Do(Op::kGet, "k");
  EXPECT_EQ(r.exit_code, kExitNotFound);
  EXPECT_EQ(r.out, "NOTFOUND");
  r = Do(Op::kSet, "k", "hello");
  EXPECT_EQ(r.exit_code, kExitOk);
  EXPECT_EQ(r.out, "OK");
  r = Do(Op::kGet, "k");
  EXPECT_EQ(r.exit_code, kExitOk);
  EXPECT_EQ(r.out, "OK hello");
  r = Do(Op::kIncr, "k");
  EXPECT_EQ(r.exit_code, kExitErrReply);
  EXPECT_EQ(r.out.rfind("ERR ", 0), 0u) << r.out;
  EXPECT_EQ(Do(Op::kIncr, "c").out, "OK 1");
  EXPECT_EQ(Do(Op::kIncr, "c").out, "OK 2");
  EXPECT_EQ(Do(Op::kDel, "k").exit_code, kExitOk);
  EXPECT_EQ(Do(Op::kDel, "k").exit_code, kExitNotFound);
  EXPECT_EQ(Do(Op::kGet, "bad key").exit_code, kExitUsage);
  EXPECT_EQ(Do(Op::kSet, "k", "").exit_code, kExitUsage);
}

TEST_F(FtkvClientTest, RetriesUseTheSameIdsSoIncrAppliesOnce) {
  StartServer(0.5, 0.5);
  for (int i = 1; i <= 5; ++i) {
    OpResult r = Do(Op::kIncr, "c", "", 3);
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
    EXPECT_EQ(r.out, "OK " + std::to_string(i)) << "tries " << r.tries;
  }
}

TEST_F(FtkvClientTest, NoServerMeansExit3WithinTheTimeout) {
  StartServer();
  server_->SetPaused(true);
  auto t0 = std::chrono::steady_clock::now();
  OpResult r = Do(Op::kGet, "k", "", 0.3);
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, kExitNoReply);
  EXPECT_GE(r.tries, 2);
  EXPECT_LT(el, 1.5);
}

TEST_F(FtkvClientTest, MalformedReplyMeansExit4) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  std::thread liar([fd] {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return;
    char buf[600];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    if (recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen) < 0) return;
    sendto(fd, "so long and thanks", 18, 0, reinterpret_cast<sockaddr*>(&from), flen);
  });
  OpOptions o;
  o.host = "127.0.0.1";
  o.port = ntohs(sa.sin_port);
  o.op = Op::kGet;
  o.key = "k";
  o.timeout_s = 2;
  OpResult r = RunOp(o);
  liar.join();
  close(fd);
  EXPECT_EQ(r.exit_code, kExitMalformed);
  EXPECT_NE(r.err.find("malformed"), std::string::npos) << r.err;
}

TEST_F(FtkvClientTest, LoadRecordsACheckableHistory) {
  StartServer();
  std::string path = TempPath("load.hist");
  auto t0 = std::chrono::steady_clock::now();
  auto rep = RunLoad(Load(path));
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_LT(el, 1.0 + 0.5 + 1.0);  // duration + grace + slack for a loaded machine
  EXPECT_GT(rep->answered, 100u);
  EXPECT_EQ(rep->pending, 0u);
  EXPECT_EQ(rep->malformed, 0u);
  EXPECT_EQ(rep->err, 0u);
  EXPECT_GT(rep->all.p50_us, 0);
  EXPECT_LE(rep->all.p50_us, rep->all.p99_us);
  EXPECT_NE(rep->Table().find("p99"), std::string::npos);
  EXPECT_EQ(rep->Json().front(), '{');
  CheckResult c = CheckFile(path);
  EXPECT_TRUE(c.violations.empty()) << c.violations.front().message;
  EXPECT_EQ(c.requests, rep->answered);
  EXPECT_EQ(c.register_keys + c.counter_keys, 6u);
  std::remove(path.c_str());
}

TEST_F(FtkvClientTest, LoadSurvivesDropsAndAnOutage) {
  StartServer(0.2, 0.2);
  std::string path = TempPath("lossy.hist");
  std::thread outage([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server_->SetPaused(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server_->SetPaused(false);
  });
  auto rep = RunLoad(Load(path, 1.2));
  outage.join();
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_GT(rep->retries, 10u);
  EXPECT_GT(rep->answered, 20u);
  EXPECT_EQ(rep->malformed, 0u);
  CheckResult c = CheckFile(path);
  EXPECT_TRUE(c.violations.empty()) << c.violations.front().message;
  std::remove(path.c_str());
}

TEST_F(FtkvClientTest, LoadAgainstAServerThatForgetsFailsTheCheck) {
  StartServer();
  std::string path = TempPath("amnesia.hist");
  std::thread amnesia([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    server_->ClearState();
  });
  auto rep = RunLoad(Load(path, 1.0));
  amnesia.join();
  ASSERT_TRUE(rep.ok()) << rep.status();
  CheckResult c = CheckFile(path);
  ASSERT_FALSE(c.violations.empty());
  // Keys lost their values and counters restarted: a lost write or a duplicate/backwards INCR.
  EXPECT_NE(c.violations.front().rule, 2) << c.violations.front().message;
  std::remove(path.c_str());
}

TEST_F(FtkvClientTest, LoadHonoursTheRate) {
  StartServer();
  std::string path = TempPath("rate.hist");
  LoadOptions o = Load(path, 1.0);
  o.rate = 200;
  auto rep = RunLoad(o);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_GE(rep->answered, 120u);  // a ceiling, not a promise, on a loaded machine
  EXPECT_LE(rep->answered, 210u);
  std::remove(path.c_str());
}

TEST_F(FtkvClientTest, LoadWithNoServerEndsOnTimeWithPendingRequests) {
  StartServer();
  server_->SetPaused(true);
  std::string path = TempPath("dead.hist");
  auto t0 = std::chrono::steady_clock::now();
  auto rep = RunLoad(Load(path, 0.3));
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->answered, 0u);
  EXPECT_EQ(rep->pending, 4u);
  EXPECT_LT(el, 0.3 + 0.5 + 1.0);
  CheckResult c = CheckFile(path);
  EXPECT_EQ(c.pending, 4u);
  EXPECT_TRUE(c.violations.empty());
  std::remove(path.c_str());
}

TEST_F(FtkvClientTest, LoadRejectsBadOptions) {
  StartServer();
  LoadOptions o = Load(TempPath("bad.hist"));
  o.clients = 0;
  EXPECT_EQ(RunLoad(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Load("/nonexistent-dir/x.hist");
  EXPECT_FALSE(RunLoad(o).ok());
}

// The binary: argument handling and exit codes, and load | check through files.
TEST(FtkvBinaryTest, ExitCodes) {
  using ftd::testing::RunProcess;
  EXPECT_EQ(RunProcess({FTKV_BINARY}, 10).exit_code, kExitUsage);
  EXPECT_EQ(RunProcess({FTKV_BINARY, "get", "k"}, 10).exit_code, kExitUsage);  // no HOST
  EXPECT_EQ(RunProcess({FTKV_BINARY, "127.0.0.1", "frob", "k"}, 10).exit_code, kExitUsage);
  EXPECT_EQ(RunProcess({FTKV_BINARY, "check", "/nonexistent/h"}, 10).exit_code, kExitNoInput);

  FakeKvServer server(FakeServerOptions{});
  ASSERT_TRUE(server.Start().ok());
  std::string port = std::to_string(server.port());
  auto r = RunProcess({FTKV_BINARY, "127.0.0.1", "--port", port, "set", "k", "v1"}, 10);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  r = RunProcess({FTKV_BINARY, "--port", port, "127.0.0.1", "get", "k"}, 10);
  EXPECT_EQ(r.out, "OK v1\n");
  r = RunProcess({FTKV_BINARY, "127.0.0.1", "--port", port, "get", "nope"}, 10);
  EXPECT_EQ(r.exit_code, kExitNotFound);
  EXPECT_EQ(r.out, "NOTFOUND\n");

  std::string path = TempPath("bin.hist");
  r = RunProcess({FTKV_BINARY, "127.0.0.1", "--port", port, "load", "--clients", "3", "--duration",
                  "0.5", "--history", path},
                 10);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"throughput_per_s\""), std::string::npos) << r.out;
  r = RunProcess({FTKV_BINARY, "check", path}, 30);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("no violations"), std::string::npos) << r.out;

  // A corrupted history: a lost write appended by hand.
  {
    FILE* f = std::fopen(path.c_str(), "a");
    std::fputs(
        "4000000000 1 SET lost v.lost 100 200 OK\n4000000000 2 GET lost - 300 400 NOTFOUND\n", f);
    std::fclose(f);
  }
  r = RunProcess({FTKV_BINARY, "check", path}, 30);
  EXPECT_EQ(r.exit_code, kExitViolation) << r.out << r.err;
  EXPECT_NE(r.out.find("rule 1 (lost write)"), std::string::npos) << r.out;
  {
    FILE* f = std::fopen(path.c_str(), "a");
    std::fputs("garbage line\n", f);
    std::fclose(f);
  }
  r = RunProcess({FTKV_BINARY, "check", path}, 30);
  EXPECT_EQ(r.exit_code, kExitDataErr) << r.out << r.err;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ftd::ftkv
