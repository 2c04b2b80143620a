#include "cli/status_command.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/run_command.h"
#include "failover/status_file.h"

namespace ftd::cli {

int StatusCommand(const std::string& path, bool json) {
  absl::StatusOr<proto::StatusReport> report = failover::ReadStatusFile(path);
  if (!report.ok()) {
    std::fprintf(stderr, "ftd status: %s\n", std::string(report.status().message()).c_str());
    return absl::IsDataLoss(report.status()) ? kExitBadImage : kExitNoInput;
  }
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  if (json) {
    absl::StatusOr<std::string> text = failover::StatusToJson(*report);
    if (!text.ok()) {
      std::fprintf(stderr, "ftd status: %s\n", std::string(text.status().message()).c_str());
      return kExitInternal;
    }
    std::printf("%s\n", text->c_str());
  } else {
    std::fputs(failover::FormatStatus(*report, now).c_str(), stdout);
  }
  std::fflush(stdout);
  return failover::IsStale(*report, now) ? 1 : 0;
}

}  // namespace ftd::cli
