// The split-brain arbiter: generation files, the test-and-set (also across processes), the
// start rule of a new primary (which takes nothing; a holder's liveness, robust to pid reuse),
// the claim once a backup accepted the primary, and refusal of malformed records and specs.
#include "failover/arbiter.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "failover/promotion.h"
#include "gtest/gtest.h"
#include "tests/unit/failover/temp_dir.h"

namespace ftd::failover {
namespace {

using ::testing::HasSubstr;

std::string GenName(uint64_t gen) {
  char name[64];
  std::snprintf(name, sizeof(name), "generation-%020llu", static_cast<unsigned long long>(gen));
  return name;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::unique_ptr<Arbiter> OpenOrDie(const std::string& dir) {
  auto arbiter = Arbiter::Open("file:" + dir);
  EXPECT_TRUE(arbiter.ok()) << arbiter.status();
  return arbiter.ok() ? std::move(*arbiter) : nullptr;
}

std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(".tmp-", 0) == 0) out.push_back(name);
  }
  return out;
}

TEST(ArbiterTest, RejectsSpecsOtherThanFileDir) {
  for (const std::string spec : {"", "/tmp/x", "etcd:http://x", "file:", "File:/tmp/x"}) {
    auto arbiter = Arbiter::Open(spec);
    ASSERT_FALSE(arbiter.ok()) << spec;
    EXPECT_EQ(arbiter.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(arbiter.status().message(), HasSubstr("file:DIR")) << spec;
  }
}

TEST(ArbiterTest, OpenCreatesTheDirectoryButNotItsParents) {
  TempDir tmp;
  const std::string dir = tmp.Sub("arb");
  auto arbiter = Arbiter::Open("file:" + dir);
  ASSERT_TRUE(arbiter.ok()) << arbiter.status();
  EXPECT_EQ((*arbiter)->dir(), dir);
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  // Opening an existing directory is fine too.
  EXPECT_TRUE(Arbiter::Open("file:" + dir).ok());

  auto deep = Arbiter::Open("file:" + tmp.Sub("missing/arb"));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kNotFound) << deep.status();
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub("missing")));

  WriteFile(tmp.Sub("plain"), "x");
  auto file = Arbiter::Open("file:" + tmp.Sub("plain"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition) << file.status();
}

TEST(ArbiterTest, CurrentGenerationOfEmptyDirectoryIsZero) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(*current, 0u);
}

TEST(ArbiterTest, CurrentGenerationIgnoresOtherNames) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  WriteFile(tmp.Sub("generation-9"), "");                     // not 20 digits
  WriteFile(tmp.Sub("generation-0000000000000000000x"), "");  // not digits
  WriteFile(tmp.Sub(GenName(99) + ".bak"), "");               // a suffix
  WriteFile(tmp.Sub("x" + GenName(98)), "");                  // a prefix
  WriteFile(tmp.Sub(".tmp-abcdef"), "generation=50\n");
  WriteFile(tmp.Sub("README"), "hello");
  std::filesystem::create_directory(tmp.Sub("generation-"));
  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(*current, 0u);

  // Names decide, not contents, and the highest wins over gaps.
  WriteFile(tmp.Sub(GenName(3)), "garbage");
  WriteFile(tmp.Sub(GenName(17)), "garbage");
  WriteFile(tmp.Sub(GenName(5)), "garbage");
  current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(*current, 17u);
}

TEST(ArbiterTest, TryAcquireOnceWinsTwiceLoses) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  auto won = arbiter->TryAcquire(1, "hostA", "primary");
  ASSERT_TRUE(won.ok()) << won.status();
  EXPECT_TRUE(*won);
  auto again = arbiter->TryAcquire(1, "hostB", "backup");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
  // The same node does not win it twice either.
  auto same = arbiter->TryAcquire(1, "hostA", "primary");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(*same);

  auto record = arbiter->Read(1);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->generation, 1u);
  EXPECT_EQ(record->node, "hostA");
  EXPECT_EQ(record->role, "primary");
  EXPECT_EQ(record->pid, static_cast<int64_t>(getpid()));
  EXPECT_GT(record->unix_ns, 1'600'000'000'000'000'000ull);  // after September 2020

  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, 1u);
  EXPECT_TRUE(TempFiles(tmp.path()).empty());
  struct stat st;
  ASSERT_EQ(stat(tmp.Sub(GenName(1)).c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);  // the temporary name is gone
}

TEST(ArbiterTest, TryAcquireRefusesBadArguments) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  EXPECT_EQ(arbiter->TryAcquire(0, "a", "primary").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(arbiter->TryAcquire(1, "", "primary").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(arbiter->TryAcquire(1, "a\nrole=backup", "primary").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(arbiter->TryAcquire(1, "a", "").status().code(), absl::StatusCode::kInvalidArgument);
  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, 0u);
  EXPECT_TRUE(TempFiles(tmp.path()).empty());
}

TEST(ArbiterTest, ReadOfMissingGenerationIsNotFound) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  EXPECT_EQ(arbiter->Read(4).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(arbiter->Read(0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ArbiterTest, MalformedRecordsAreDataLossNamingTheFile) {
  const std::string good = "generation=7\nnode=hostA\nrole=primary\npid=12\nunix_ns=99\n";
  const std::vector<std::string> bad = {
      "",
      good.substr(0, good.size() - 1),                                // no final newline
      good.substr(0, good.size() / 2),                                // cut in the middle
      "generation=7\nnode=hostA\nrole=primary\npid=12\n",             // a key missing
      "generation=7\nnode=hostA\nrole=primary\npid=x\nunix_ns=99\n",  // not a number
      "generation=7\nnode=hostA\nrole=primary\npid=12\nunix_ns=-1\n",
      "generation=8\nnode=hostA\nrole=primary\npid=12\nunix_ns=99\n",  // another generation
      good + "node=hostB\n",                                           // repeated key
      good + "color=blue\n",                                           // unknown key
      good + "boot_id=a\nboot_id=b\n",                                 // repeated identity
      good + "start_time=soon\n",                                      // not a number
      good + "machine_id=\n",                                          // empty identity
      "generation=7\nnode=\nrole=primary\npid=12\nunix_ns=99\n",       // empty node
      "generation=7\nnode=hostA\nrole primary\npid=12\nunix_ns=99\n",  // no '='
      std::string(8192, 'x') + "\n",                                   // oversized
  };
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  WriteFile(tmp.Sub(GenName(7)), good);
  auto ok = arbiter->Read(7);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->node, "hostA");
  EXPECT_EQ(ok->pid, 12);
  EXPECT_EQ(ok->unix_ns, 99u);
  for (size_t i = 0; i < bad.size(); ++i) {
    WriteFile(tmp.Sub(GenName(7)), bad[i]);
    auto record = arbiter->Read(7);
    ASSERT_FALSE(record.ok()) << "case " << i;
    EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss) << "case " << i;
    EXPECT_THAT(record.status().message(), HasSubstr(GenName(7))) << "case " << i;
  }
  // A primary that starts over a malformed current record refuses, and wins nothing.
  auto next = arbiter->NextPrimaryGeneration("hostA");
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(arbiter->ClaimPrimaryGeneration(8, "hostA").code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(GenName(8))));
}

// The arbiter's current generation (0 and a failure when it cannot be read).
uint64_t CurrentOf(Arbiter& arbiter) {
  auto current = arbiter.CurrentGeneration();
  EXPECT_TRUE(current.ok()) << current.status();
  return current.value_or(0);
}

// A record as TryAcquire writes it, for `id`.
std::string RecordText(uint64_t gen, const std::string& node, const std::string& role,
                       const ProcessIdentity& id) {
  std::string text = "generation=" + std::to_string(gen) + "\nnode=" + node + "\nrole=" + role +
                     "\npid=" + std::to_string(id.pid) + "\nunix_ns=1700000000000000000\n";
  if (!id.machine_id.empty()) text += "machine_id=" + id.machine_id + "\n";
  if (!id.boot_id.empty()) text += "boot_id=" + id.boot_id + "\n";
  return text + "start_time=" + std::to_string(id.start_time) + "\n";
}

// A child process that wins generation `gen` for `node` and lives until Kill(): another ftd
// on this machine holding the current generation.
class HoldingChild {
 public:
  HoldingChild(const std::string& dir, uint64_t gen, const std::string& node,
               const std::string& role) {
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(hold[1]);
      auto arbiter = Arbiter::Open("file:" + dir);
      char ok = arbiter.ok() && (*arbiter)->TryAcquire(gen, node, role).value_or(false) ? 1 : 0;
      if (write(ready[1], &ok, 1) != 1) _exit(3);
      char c;
      while (read(hold[0], &c, 1) > 0) {
      }
      _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    hold_fd_ = hold[1];
    char ok = 0;
    won_ = pid_ > 0 && read(ready[0], &ok, 1) == 1 && ok == 1;
    close(ready[0]);
  }
  ~HoldingChild() {
    Kill();
    Reap();
  }
  bool won() const { return won_; }
  pid_t pid() const { return pid_; }
  // SIGKILL, not reaped: a zombie until Reap().
  void Kill() {
    if (pid_ > 0 && !killed_) kill(pid_, SIGKILL);
    killed_ = true;
    if (hold_fd_ >= 0) close(hold_fd_);
    hold_fd_ = -1;
  }
  bool IsZombie() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
  }
  void Reap() {
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int hold_fd_ = -1;
  bool won_ = false;
  bool killed_ = false;
};

TEST(ArbiterTest, TheStartRuleTakesNothing) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  // Any number of starts that never got a backup's acceptance: nothing is written.
  for (int i = 0; i < 5; ++i) {
    auto next = arbiter->NextPrimaryGeneration("hostA");
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, 1u);
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  ASSERT_TRUE(arbiter->ClaimPrimaryGeneration(1, "hostA").ok());
  auto record = arbiter->Read(1);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->node, "hostA");
  EXPECT_EQ(record->role, "primary");
  // The winner's identity is in the record: this process, this boot, its start time.
  const ProcessIdentity self = SelfIdentity();
  EXPECT_EQ(record->pid, static_cast<int64_t>(getpid()));
  EXPECT_EQ(record->boot_id, self.boot_id);
  EXPECT_FALSE(record->boot_id.empty());
  EXPECT_EQ(record->machine_id, self.machine_id);
  EXPECT_EQ(record->start_time, self.start_time);
  EXPECT_GT(record->start_time, 0u);
  EXPECT_EQ(LivenessOf(*record), Liveness::kAlive);
  EXPECT_EQ(arbiter->ClaimPrimaryGeneration(0, "hostA").code(),
            absl::StatusCode::kInvalidArgument);
}

// The defect this rule fixes: a second `ftd --role primary` for the VM on the node whose ftd
// holds the current generation took the next one on its way to being refused by the backup,
// and the backup then could not take over when the real primary died.
TEST(ArbiterTest, ALiveHolderOnThisNodeRefusesASecondPrimary) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  HoldingChild holder(tmp.path(), 1, "hostA", "primary");
  ASSERT_TRUE(holder.won());
  for (int i = 0; i < 3; ++i) {  // mistaken starts, one after the other
    auto next = arbiter->NextPrimaryGeneration("hostA");
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(next.status().message(), HasSubstr("held by a live ftd on this node"));
    EXPECT_THAT(next.status().message(), HasSubstr("pid " + std::to_string(holder.pid())));
    auto claim = arbiter->ClaimPrimaryGeneration(2, "hostA");
    EXPECT_EQ(claim.code(), absl::StatusCode::kFailedPrecondition) << claim;
  }
  // Another node is refused as ever, alive or not.
  auto other = arbiter->NextPrimaryGeneration("hostB");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.status().message(), HasSubstr("generation 1 of this VM is held by hostA"));
  EXPECT_EQ(CurrentOf(*arbiter), 1u);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(GenName(2))));

  // The holder dies: a zombie not yet reaped is dead too. The next primary may start.
  holder.Kill();
  for (int i = 0; i < 200 && !holder.IsZombie(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(holder.IsZombie());
  auto next = arbiter->NextPrimaryGeneration("hostA");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 2u);
  holder.Reap();
  auto record = arbiter->Read(1);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(LivenessOf(*record), Liveness::kDead);
  ASSERT_TRUE(arbiter->ClaimPrimaryGeneration(2, "hostA").ok());
  EXPECT_EQ(CurrentOf(*arbiter), 2u);
}

TEST(ArbiterTest, AnotherNodesGenerationRefusesANewPrimary) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  // hostB's backup went live: hostA must not come back as a second primary.
  ASSERT_TRUE(arbiter->TryAcquire(3, "hostB", "backup").value_or(false));
  auto refused = arbiter->NextPrimaryGeneration("hostA");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("generation 3 of this VM is held by hostB"));
  EXPECT_THAT(refused.status().message(), HasSubstr("role backup"));
  EXPECT_THAT(refused.status().message(), HasSubstr("fresh arbiter directory"));
  EXPECT_EQ(arbiter->ClaimPrimaryGeneration(4, "hostA").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CurrentOf(*arbiter), 3u);
}

// Liveness by identity: a pid alone is not enough (pids are reused, machines reboot).
TEST(ArbiterTest, LivenessSurvivesPidReuseAndReboots) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  const ProcessIdentity self = SelfIdentity();
  ASSERT_FALSE(self.boot_id.empty());
  ASSERT_GT(self.start_time, 0u);
  auto next_for_a = [&](const ProcessIdentity& id) {
    WriteFile(tmp.Sub(GenName(1)), RecordText(1, "hostA", "primary", id));
    auto record = arbiter->Read(1);
    EXPECT_TRUE(record.ok()) << record.status();
    return std::make_pair(record.ok() ? LivenessOf(*record) : Liveness::kUnknown,
                          arbiter->NextPrimaryGeneration("hostA"));
  };
  // A running process with that pid and start time (this one): alive, refused.
  auto [alive, refused] = next_for_a(self);
  EXPECT_EQ(alive, Liveness::kAlive);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  // The same pid, another start time: the pid was reused.
  ProcessIdentity reused = self;
  reused.start_time += 1;
  auto [dead, next] = next_for_a(reused);
  EXPECT_EQ(dead, Liveness::kDead);
  EXPECT_EQ(next.value_or(0), 2u);
  // No such process.
  ProcessIdentity gone = self;
  gone.pid = 0x3ffffff0;
  EXPECT_EQ(next_for_a(gone).first, Liveness::kDead);
  // Another boot of this machine: whatever ran then is gone, even at a live pid.
  ProcessIdentity rebooted = self;
  rebooted.boot_id = "00000000-0000-0000-0000-000000000000";
  auto [before_reboot, after_reboot] = next_for_a(rebooted);
  if (self.machine_id.empty()) {
    EXPECT_EQ(before_reboot, Liveness::kUnknown);
  } else {
    EXPECT_EQ(before_reboot, Liveness::kDead);
    // The node name on another machine: nobody here can tell whether it lives.
    ProcessIdentity elsewhere = self;
    elsewhere.machine_id = "0123456789abcdef0123456789abcdef";
    auto [other, refused_elsewhere] = next_for_a(elsewhere);
    EXPECT_EQ(other, Liveness::kOtherMachine);
    ASSERT_FALSE(refused_elsewhere.ok());
    EXPECT_THAT(refused_elsewhere.status().message(), HasSubstr("another machine"));
  }
  EXPECT_EQ(after_reboot.value_or(0), 2u);
  // A record of an older release (no identity) does not stop a new primary, as before.
  WriteFile(tmp.Sub(GenName(1)),
            "generation=1\nnode=hostA\nrole=primary\npid=" + std::to_string(getpid()) +
                "\nunix_ns=1\n");
  auto legacy = arbiter->Read(1);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_EQ(LivenessOf(*legacy), Liveness::kUnknown);
  EXPECT_EQ(arbiter->NextPrimaryGeneration("hostA").value_or(0), 2u);
}

// A primary restarted at once after a crash (Restart=on-failure) while its backup takes over:
// the start rule lets it try, but the backup wins the generation and the primary's claim fails.
TEST(ArbiterTest, TheClaimFailsWhenAnotherHostTookAGenerationSince) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  ProcessIdentity crashed = SelfIdentity();
  crashed.pid = 0x3ffffff0;
  WriteFile(tmp.Sub(GenName(1)), RecordText(1, "hostA", "primary", crashed));
  auto next = arbiter->NextPrimaryGeneration("hostA");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 2u);
  ASSERT_TRUE(arbiter->TryAcquire(2, "hostB", "backup").value_or(false));  // the backup, live
  auto claim = arbiter->ClaimPrimaryGeneration(2, "hostA");
  EXPECT_EQ(claim.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(claim.message(), HasSubstr("arbiter is at generation 2"));
  EXPECT_THAT(claim.message(), HasSubstr("hostB"));
  // Not a generation that is not the next one either.
  EXPECT_EQ(arbiter->ClaimPrimaryGeneration(7, "hostA").code(),
            absl::StatusCode::kFailedPrecondition);
  auto record = arbiter->Read(2);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->node, "hostB");
  EXPECT_EQ(CurrentOf(*arbiter), 2u);
}

// Both sides of a start through Promotion: the primary offers the next generation, the
// backup accepts that offer, the primary wins it, and the backup takes its state only then.
TEST(ArbiterTest, PromotionOffersThenClaimsAndTheBackupChecksBoth) {
  TempDir tmp;
  const std::string spec = "file:" + tmp.path();
  auto primary = Promotion::Open(spec, "hostA", "primary");
  auto backup = Promotion::Open(spec, "hostB", "backup");
  ASSERT_TRUE(primary.ok() && backup.ok());
  ASSERT_TRUE((*primary)->PrepareNewPrimary().ok());
  EXPECT_EQ((*primary)->generation(), 1u);
  EXPECT_FALSE((*primary)->claimed());
  EXPECT_EQ((*backup)->CheckNextPrimary(1), "");
  EXPECT_THAT((*backup)->CheckNextPrimary(2), HasSubstr("generation 2"));
  EXPECT_THAT((*backup)->CheckClaimed(1, "hostA"), HasSubstr("did not win"));  // not yet
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));

  ASSERT_TRUE((*primary)->ClaimNewPrimary().ok());
  EXPECT_TRUE((*primary)->claimed());
  EXPECT_EQ((*backup)->CheckClaimed(1, "hostA"), "");
  EXPECT_THAT((*backup)->CheckClaimed(1, "hostC"), HasSubstr("not by the primary on hostC"));
  EXPECT_THAT((*backup)->CheckNextPrimary(1), HasSubstr("stale"));  // the next is 2 now
  // A join: the holder of the current generation offers it again (a new backup for it).
  EXPECT_EQ((*backup)->CheckNextPrimary(1, "hostA"), "");
  EXPECT_THAT((*backup)->CheckNextPrimary(1, "hostC"), HasSubstr("stale"));
  // A second primary on hostA while this one (the holder) lives: refused, nothing taken.
  auto second = Promotion::Open(spec, "hostA", "primary");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->PrepareNewPrimary().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(GenName(2))));
}

// 8 processes each try generations 1..20 in the same order, released together: every
// generation has exactly one winner, whose record (node and pid) is in the file.
TEST(ArbiterTest, RaceOfProcessesHasOneWinnerPerGeneration) {
  constexpr int kProcs = 8;
  constexpr uint64_t kGens = 20;
  TempDir tmp;
  ASSERT_NE(OpenOrDie(tmp.path()), nullptr);

  int start[2];
  ASSERT_EQ(pipe(start), 0);
  std::vector<pid_t> pids;
  std::vector<int> results;
  for (int i = 0; i < kProcs; ++i) {
    int result[2];
    ASSERT_EQ(pipe(result), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(start[1]);
      close(result[0]);
      char c;
      while (read(start[0], &c, 1) > 0) {
      }  // EOF: go
      uint32_t mask = 0, failed = 0;
      auto arbiter = Arbiter::Open("file:" + tmp.path());
      if (!arbiter.ok()) failed = 1;
      for (uint64_t gen = 1; gen <= kGens && !failed; ++gen) {
        auto won = (*arbiter)->TryAcquire(gen, "child-" + std::to_string(i), "backup");
        if (!won.ok())
          failed = 1;
        else if (*won)
          mask |= 1u << gen;
      }
      uint32_t msg[2] = {mask, failed};
      ssize_t n = write(result[1], msg, sizeof(msg));
      _exit(n == sizeof(msg) ? 0 : 3);
    }
    close(result[1]);
    pids.push_back(pid);
    results.push_back(result[0]);
  }
  close(start[0]);
  close(start[1]);  // release them all at once

  std::vector<uint32_t> masks(kProcs);
  for (int i = 0; i < kProcs; ++i) {
    uint32_t msg[2] = {0, 1};
    EXPECT_EQ(read(results[i], msg, sizeof(msg)), static_cast<ssize_t>(sizeof(msg)));
    close(results[i]);
    int status = 0;
    ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << i;
    EXPECT_EQ(msg[1], 0u) << "child " << i << " got an error";
    masks[i] = msg[0];
  }

  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  for (uint64_t gen = 1; gen <= kGens; ++gen) {
    std::vector<int> winners;
    for (int i = 0; i < kProcs; ++i) {
      if (masks[i] & (1u << gen)) winners.push_back(i);
    }
    ASSERT_EQ(winners.size(), 1u) << "generation " << gen;
    auto record = arbiter->Read(gen);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->node, "child-" + std::to_string(winners[0])) << "generation " << gen;
    EXPECT_EQ(record->pid, pids[winners[0]]) << "generation " << gen;
    EXPECT_EQ(record->role, "backup");
  }
  for (int i = 0; i < kProcs; ++i) EXPECT_EQ(masks[i] & 1u, 0u);  // bit 0: no generation 0
  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, kGens);
  EXPECT_TRUE(TempFiles(tmp.path()).empty());
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++files;
  EXPECT_EQ(files, kGens);
}

}  // namespace
}  // namespace ftd::failover
