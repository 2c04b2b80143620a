// Runs a child process for integration tests: captures stdout and stderr, bounds
// its run time, returns its exit status.
#pragma once

#include <string>
#include <vector>

namespace ftd::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal (see signal)
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  double wall_s = 0;        // spawn to exit
  double first_out_s = -1;  // spawn to the first byte on stdout; -1 if none
};

// Runs argv[0] with argv; kills it (SIGKILL) after timeout_s seconds.
ProcessResult RunProcess(const std::vector<std::string>& argv, double timeout_s = 60,
                         const std::string& stdin_data = "");

// Whether /dev/kvm can be opened. Tests that need it call RequireKvm().
bool KvmAvailable();
// Whether an executable is on PATH.
bool HaveProgram(const std::string& name);

}  // namespace ftd::testing

// Skips the test when /dev/kvm is missing, unless FTD_REQUIRE_KVM=1 is set (CI sets
// it when /dev/kvm exists), in which case the test fails: a KVM test must never be
// silently skipped on a host that has KVM.
#define FTD_REQUIRE_KVM()                                                                       \
  do {                                                                                          \
    if (!::ftd::testing::KvmAvailable()) {                                                      \
      const char* req = std::getenv("FTD_REQUIRE_KVM");                                         \
      if (req != nullptr && std::string(req) == "1") FAIL() << "/dev/kvm required but missing"; \
      GTEST_SKIP() << "needs /dev/kvm (not present or not accessible on this host)";            \
    }                                                                                           \
  } while (0)

#define FTD_REQUIRE_PROGRAM(name)                                                            \
  do {                                                                                       \
    if (!::ftd::testing::HaveProgram(name)) {                                                \
      const char* req = std::getenv("FTD_REQUIRE_TOOLS");                                    \
      if (req != nullptr && std::string(req) == "1") FAIL() << name " required but missing"; \
      GTEST_SKIP() << "needs " name " (not installed)";                                      \
    }                                                                                        \
  } while (0)
