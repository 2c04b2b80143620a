// Two network endpoints joined in-process, for tests (and later, two machines in one
// process): what one Sends, the other receives. An endpoint with a HostEventQueue gets
// frames as FrameReceivedEvents, exactly as from a tap; one without keeps them in
// TakeReceived() for a test to inspect.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "vmm/net/net_backend.h"

namespace ftd::vmm {

class InProcessNetEndpoint final : public NetBackend {
 public:
  ~InProcessNetEndpoint() override;
  void Send(std::span<const uint8_t> frame) override;
  // Frames received by an endpoint without an event queue, oldest first.
  std::vector<std::vector<uint8_t>> TakeReceived();

 private:
  friend std::pair<std::unique_ptr<InProcessNetEndpoint>, std::unique_ptr<InProcessNetEndpoint>>
  MakeInProcessNetPair(HostEventQueue*, HostEventQueue*);
  struct Shared;
  void Deliver(std::vector<uint8_t> frame);

  std::shared_ptr<Shared> shared_;
  int side_ = 0;
  HostEventQueue* events_ = nullptr;
  std::mutex mu_;
  std::vector<std::vector<uint8_t>> received_;  // guarded by mu_
};

// Either queue may be null (frames kept for TakeReceived()). The endpoints may be
// destroyed in any order; frames sent to a destroyed endpoint are dropped.
std::pair<std::unique_ptr<InProcessNetEndpoint>, std::unique_ptr<InProcessNetEndpoint>>
MakeInProcessNetPair(HostEventQueue* a_events, HostEventQueue* b_events);

}  // namespace ftd::vmm
