// The split-brain arbiter: generation files, the test-and-set (also across processes),
// the restarting-primary rule, and refusal of malformed records and specs.
#include "failover/arbiter.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
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
  auto claim = arbiter->ClaimForNewPrimary("hostA");
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(GenName(8))));
}

TEST(ArbiterTest, ClaimForNewPrimary) {
  TempDir tmp;
  auto arbiter = OpenOrDie(tmp.path());
  ASSERT_NE(arbiter, nullptr);
  auto first = arbiter->ClaimForNewPrimary("hostA");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u);
  auto record = arbiter->Read(1);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->node, "hostA");
  EXPECT_EQ(record->role, "primary");

  // The same primary restarting takes the next generation.
  auto second = arbiter->ClaimForNewPrimary("hostA");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 2u);

  // hostB's backup went live: hostA must not come back as a second primary.
  auto backup_won = arbiter->TryAcquire(3, "hostB", "backup");
  ASSERT_TRUE(backup_won.ok() && *backup_won);
  auto refused = arbiter->ClaimForNewPrimary("hostA");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("generation 3 of this VM is held by hostB"));
  EXPECT_THAT(refused.status().message(), HasSubstr("role backup"));
  EXPECT_THAT(refused.status().message(), HasSubstr("fresh arbiter directory"));
  auto current = arbiter->CurrentGeneration();
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, 3u);

  // hostB, now the live primary, may restart.
  auto b = arbiter->ClaimForNewPrimary("hostB");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, 4u);
  EXPECT_TRUE(TempFiles(tmp.path()).empty());
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
