#include "vmm/devices/virtio_net.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {

VirtioNet::VirtioNet(GuestMemory* mem, IrqSink* irq, unsigned irq_line, MacAddress mac,
                     Output output)
    : mem_(mem),
      mac_(mac),
      output_(std::move(output)),
      transport_("virtio-net", mem, irq, irq_line, this, 2, kQueueSize) {}

void VirtioNet::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  uint8_t config[kConfigSize] = {};
  std::memcpy(config, mac_.data(), 6);
  config[6] = 1;  // status: VIRTIO_NET_S_LINK_UP
  config[8] = 1;  // max_virtqueue_pairs (meaningful only with MQ)
  std::memcpy(data.data(), config + offset, data.size());
}

void VirtioNet::OnQueueNotify(size_t queue) {
  if (queue == kTxQueue)
    Transmit();
  else
    DeliverRx();
}

void VirtioNet::Transmit() {
  Virtqueue& q = transport_.queue(kTxQueue);
  bool pushed = false;
  transport_.DrainAvailable(kTxQueue, *mem_, [&](DescChain chain) {
    const DescChain& c = chain;
    uint64_t len = c.readable_len;
    if (len < kVirtioNetHeaderBytes + kEthernetHeaderBytes ||
        len > kVirtioNetHeaderBytes + kMaxFrameBytes) {
      ++tx_dropped_;
    } else {
      // The header is ignored: no offloads were offered, so it carries nothing to act on.
      std::vector<uint8_t> frame(len - kVirtioNetHeaderBytes);
      if (ReadFromChain(*mem_, c, kVirtioNetHeaderBytes, frame).ok() && output_) {
        output_(std::move(frame));
      }
    }
    if (!q.PushUsed(*mem_, c.head, 0).ok()) {
      transport_.DeviceNeedsReset("TX used ring not writable");
      return false;
    }
    pushed = true;
    return true;
  });
  if (pushed) transport_.NotifyUsed(kTxQueue);
}

void VirtioNet::ReceiveFrame(std::vector<uint8_t> frame) {
  if (frame.size() < kEthernetHeaderBytes || frame.size() > kMaxFrameBytes) {
    ++rx_dropped_;
    return;
  }
  if (rx_pending_.size() >= kMaxRxPending) {
    // The newest frames are the ones a guest protocol still waits for.
    rx_pending_.pop_front();
    ++rx_dropped_;
  }
  rx_pending_.push_back(std::move(frame));
  DeliverRx();
}

void VirtioNet::DeliverRx() {
  Virtqueue& q = transport_.queue(kRxQueue);
  bool pushed = false;
  while (!rx_pending_.empty() && transport_.live()) {
    auto chain = q.Pop(*mem_);
    if (!chain.ok()) {
      transport_.DeviceNeedsReset(std::string(chain.status().message()));
      break;
    }
    if (!chain->has_value()) break;  // no buffer: the frame waits
    const DescChain& c = **chain;
    std::vector<uint8_t> frame = std::move(rx_pending_.front());
    rx_pending_.pop_front();
    uint32_t used = 0;
    if (c.writable_len < kVirtioNetHeaderBytes + frame.size()) {
      ++rx_dropped_;  // without mergeable buffers a frame must fit one buffer
    } else {
      uint8_t header[kVirtioNetHeaderBytes] = {};
      header[10] = 1;  // num_buffers
      if (WriteToChain(*mem_, c, 0, header).ok() &&
          WriteToChain(*mem_, c, kVirtioNetHeaderBytes, frame).ok()) {
        used = static_cast<uint32_t>(kVirtioNetHeaderBytes + frame.size());
      }
    }
    if (!q.PushUsed(*mem_, c.head, used).ok()) {
      transport_.DeviceNeedsReset("RX used ring not writable");
      break;
    }
    pushed = true;
  }
  if (pushed) transport_.NotifyUsed(kRxQueue);
}

VirtioNet::State VirtioNet::Save() const {
  State s;
  *s.mutable_transport() = transport_.Save();
  s.set_mac(std::string(mac_.begin(), mac_.end()));
  for (const auto& f : rx_pending_) s.add_rx_pending(std::string(f.begin(), f.end()));
  s.set_rx_dropped(rx_dropped_);
  s.set_tx_dropped(tx_dropped_);
  return s;
}

absl::StatusOr<std::unique_ptr<VirtioNet>> VirtioNet::Restore(GuestMemory* mem, IrqSink* irq,
                                                              unsigned irq_line, Output output,
                                                              const State& s) {
  if (auto st = CheckNoUnknownFields(s, "virtio-net"); !st.ok()) return st;
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("virtio-net state: %s", what));
  };
  if (!s.has_transport()) return bad("no transport state");
  if (s.mac().size() != 6) return bad(absl::StrFormat("MAC of %d bytes", s.mac().size()));
  if (static_cast<size_t>(s.rx_pending_size()) > kMaxRxPending) {
    return bad(
        absl::StrFormat("%d pending RX frames, more than %d", s.rx_pending_size(), kMaxRxPending));
  }
  MacAddress mac;
  std::memcpy(mac.data(), s.mac().data(), 6);
  auto dev = std::make_unique<VirtioNet>(mem, irq, irq_line, mac, std::move(output));
  for (const std::string& f : s.rx_pending()) {
    if (f.size() < kEthernetHeaderBytes || f.size() > kMaxFrameBytes) {
      return bad(absl::StrFormat("pending RX frame of %d bytes", f.size()));
    }
    dev->rx_pending_.emplace_back(f.begin(), f.end());
  }
  if (auto st = dev->transport_.LoadState(s.transport()); !st.ok()) return st;
  dev->rx_dropped_ = s.rx_dropped();
  dev->tx_dropped_ = s.tx_dropped();
  return dev;
}

}  // namespace ftd::vmm
