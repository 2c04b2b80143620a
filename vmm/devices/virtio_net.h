// virtio-net (virtio 1.x section 5.1) behind a virtio-mmio transport: one RX and one TX
// queue, the 12-byte virtio 1.x header (num_buffers = 1), VIRTIO_NET_F_MAC and
// VIRTIO_NET_F_STATUS (link always up), no offloads and no mergeable RX buffers.
//
// TX: at the notify exit each frame is copied out of guest memory and handed to
// `output` (the machine connects the network back end; output commit will hold frames
// there). RX: the machine applies FrameReceivedEvents at points through ReceiveFrame();
// a frame waits in a bounded queue (kMaxRxPending, oldest dropped) until the driver
// makes an RX buffer available. The device never reads the host itself.
//
// Frames shorter than an Ethernet header or longer than kMaxFrameBytes are dropped and
// counted, in both directions; so is a received frame larger than the RX buffer it gets.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/virtio/virtio_mmio.h"

namespace ftd::vmm {

inline constexpr uint32_t kVirtioIdNet = 1;
inline constexpr unsigned kVirtioNetFMac = 5;
inline constexpr unsigned kVirtioNetFStatus = 16;
inline constexpr size_t kVirtioNetHeaderBytes = 12;
inline constexpr size_t kEthernetHeaderBytes = 14;

using MacAddress = std::array<uint8_t, 6>;

class VirtioNet final : public VirtioDevice {
 public:
  using State = proto::VirtioNetState;
  // Takes the frame (it owns it: output commit may hold it without a copy).
  using Output = std::function<void(std::vector<uint8_t> frame)>;
  static constexpr uint16_t kQueueSize = 256;
  static constexpr size_t kRxQueue = 0;
  static constexpr size_t kTxQueue = 1;
  static constexpr size_t kMaxRxPending = 256;
  static constexpr size_t kMaxFrameBytes = 65535;
  static constexpr size_t kConfigSize = 10;  // mac, status, max_virtqueue_pairs

  VirtioNet(GuestMemory* mem, IrqSink* irq, unsigned irq_line, MacAddress mac, Output output);
  static absl::StatusOr<std::unique_ptr<VirtioNet>> Restore(GuestMemory* mem, IrqSink* irq,
                                                            unsigned irq_line, Output output,
                                                            const State& state);
  State Save() const;

  VirtioMmio* transport() { return &transport_; }
  // A frame from the network (at a point): delivered now if an RX buffer is available.
  void ReceiveFrame(std::vector<uint8_t> frame);

  uint64_t rx_dropped() const { return rx_dropped_; }
  uint64_t tx_dropped() const { return tx_dropped_; }
  size_t rx_pending() const { return rx_pending_.size(); }
  const MacAddress& mac() const { return mac_; }

  // VirtioDevice
  uint32_t DeviceType() const override { return kVirtioIdNet; }
  uint64_t DeviceFeatures() const override {
    return (1ull << kVirtioNetFMac) | (1ull << kVirtioNetFStatus);
  }
  size_t ConfigSize() const override { return kConfigSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void OnQueueNotify(size_t queue) override;
  // Queued RX frames stay: they came from the network, not from the driver.
  void OnReset() override {}

 private:
  void Transmit();
  void DeliverRx();

  GuestMemory* mem_;
  MacAddress mac_;
  Output output_;
  VirtioMmio transport_;
  std::deque<std::vector<uint8_t>> rx_pending_;
  uint64_t rx_dropped_ = 0;
  uint64_t tx_dropped_ = 0;
};

}  // namespace ftd::vmm
