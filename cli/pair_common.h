// What both roles of `ftd --role` share: option checks, TLS files, the node name, the
// arbiter, and the status file a monitor thread keeps fresh.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "cli/pair_command.h"
#include "failover/arbiter.h"
#include "proto/replication_protocol.h"
#include "status.pb.h"

namespace ftd::cli {

// Checks the options common to both roles; an error is a usage error.
absl::Status CheckPairOptions(const PairOptions& pair);
// HOST or HOST:PORT -> HOST:PORT (the default port added).
std::string WithDefaultPort(const std::string& address);
repl::TlsFiles TlsFilesOf(const PairOptions& pair);
std::string NodeName(const PairOptions& pair);
std::string StatusPath(const PairOptions& pair);
// The arbiter, or nullptr (with a warning) when none was given.
absl::StatusOr<std::unique_ptr<failover::Arbiter>> OpenArbiter(const PairOptions& pair);
// Who holds generation `gen`, for the loser's message.
std::string HolderOf(failover::Arbiter& arbiter, uint64_t gen);
double MsSince(std::chrono::steady_clock::time_point t0);

// Calls `tick` every `period` on its own thread and writes the status `fill` reports to
// `path` every 200 ms (and once more when stopped).
class Monitor {
 public:
  Monitor(std::string path, std::function<void(proto::StatusReport&)> fill, std::function<void()> tick,
          std::chrono::milliseconds period = std::chrono::milliseconds(10));
  ~Monitor();
  void Stop();
  void PublishNow();

 private:
  std::string path_;
  std::function<void(proto::StatusReport&)> fill_;
  std::function<void()> tick_;
  std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  bool warned_ = false;
  std::thread thread_;
};

}  // namespace ftd::cli
