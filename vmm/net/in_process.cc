#include "vmm/net/in_process.h"

namespace ftd::vmm {

struct InProcessNetEndpoint::Shared {
  std::mutex mu;
  InProcessNetEndpoint* ends[2] = {nullptr, nullptr};  // guarded by mu
};

std::pair<std::unique_ptr<InProcessNetEndpoint>, std::unique_ptr<InProcessNetEndpoint>>
MakeInProcessNetPair(HostEventQueue* a_events, HostEventQueue* b_events) {
  auto shared = std::make_shared<InProcessNetEndpoint::Shared>();
  auto a = std::make_unique<InProcessNetEndpoint>();
  auto b = std::make_unique<InProcessNetEndpoint>();
  a->shared_ = b->shared_ = shared;
  a->side_ = 0;
  b->side_ = 1;
  a->events_ = a_events;
  b->events_ = b_events;
  shared->ends[0] = a.get();
  shared->ends[1] = b.get();
  return {std::move(a), std::move(b)};
}

InProcessNetEndpoint::~InProcessNetEndpoint() {
  if (!shared_) return;
  std::lock_guard<std::mutex> l(shared_->mu);
  shared_->ends[side_] = nullptr;
}

void InProcessNetEndpoint::Send(std::span<const uint8_t> frame) {
  std::lock_guard<std::mutex> l(shared_->mu);
  if (InProcessNetEndpoint* peer = shared_->ends[1 - side_]) {
    peer->Deliver({frame.begin(), frame.end()});
  }
}

void InProcessNetEndpoint::Deliver(std::vector<uint8_t> frame) {
  if (events_ != nullptr) {
    events_->Post(FrameReceivedEvent{std::move(frame)});
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  received_.push_back(std::move(frame));
}

std::vector<std::vector<uint8_t>> InProcessNetEndpoint::TakeReceived() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::vector<uint8_t>> out;
  out.swap(received_);
  return out;
}

}  // namespace ftd::vmm
