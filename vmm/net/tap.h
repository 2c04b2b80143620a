// A Linux tap device (/dev/net/tun, IFF_TAP | IFF_NO_PI, no offloads): one thread reads
// frames into FrameReceivedEvents and writes the guest's frames from a bounded queue.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vmm/net/net_backend.h"

namespace ftd::vmm {

class TapBackend final : public NetBackend {
 public:
  static constexpr size_t kMaxTxQueued = 256;

  // Attaches to (or creates, with CAP_NET_ADMIN) tap interface `ifname`.
  static absl::StatusOr<std::unique_ptr<TapBackend>> Open(const std::string& ifname,
                                                          HostEventQueue* events);
  ~TapBackend() override;
  void Send(std::span<const uint8_t> frame) override;

 private:
  TapBackend(int fd, int wake_fd, HostEventQueue* events);
  void Loop();

  int fd_;
  int wake_fd_;  // eventfd: frames queued for TX, or stop
  HostEventQueue* events_;
  std::mutex mu_;
  std::deque<std::vector<uint8_t>> tx_;  // guarded by mu_
  bool stopping_ = false;                // guarded by mu_
  uint64_t tx_dropped_ = 0;              // guarded by mu_
  std::thread thread_;
};

}  // namespace ftd::vmm
