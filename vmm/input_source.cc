#include "vmm/input_source.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "absl/strings/str_format.h"

namespace ftd::vmm {

absl::Status LiveInput::WaitForHostUsing(HostClock& clock, std::optional<uint64_t> deadline_ns,
                                         int wake_fd) {
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline_ns) {
    uint64_t now = clock.MonotonicNs();
    uint64_t wait = *deadline_ns > now ? *deadline_ns - now : 0;
    ts.tv_sec = static_cast<time_t>(wait / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(wait % 1'000'000'000);
    timeout = &ts;
  }
  pollfd pfd{wake_fd, POLLIN, 0};
  int r = ppoll(&pfd, 1, timeout, nullptr);
  if (r < 0 && errno != EINTR)
    return absl::InternalError(absl::StrFormat("ppoll: %s", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace ftd::vmm
