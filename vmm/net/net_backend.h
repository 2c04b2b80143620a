// Where virtio-net frames go and come from. A back end posts each frame it receives as a
// FrameReceivedEvent to the machine's host-event queue (from its own thread); the
// machine hands frames the guest sends to Send().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "vmm/host_events.h"

namespace ftd::vmm {

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  // A frame the guest sent (no virtio-net header). Must not block the vCPU thread: a
  // back end that cannot keep up drops, as a real link does.
  virtual void Send(std::span<const uint8_t> frame) = 0;
};

// Opens the back end named by a --net spec: "tap:IFNAME". ("none" is the caller's.)
absl::StatusOr<std::unique_ptr<NetBackend>> OpenNetBackend(const std::string& spec,
                                                           HostEventQueue* events);

}  // namespace ftd::vmm
