// A minimal virtio-mmio driver for tests (and fuzz targets): it lays out split rings in
// GuestMemory, negotiates features through the transport's registers and makes chains
// available, as a guest driver would.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/virtio/virtio_mmio.h"

namespace ftd::vmm::testing {

struct Buf {
  uint64_t addr;
  uint32_t len;
  bool writable;
};

class VirtioTestDriver {
 public:
  static constexpr uint64_t kRingBase = 0x10000;
  static constexpr uint64_t kRingStride = 0x8000;  // per queue: desc, avail, used

  VirtioTestDriver(VirtioMmio* t, GuestMemory* mem, uint16_t qsize = 16)
      : t_(t), mem_(mem), qsize_(qsize) {}

  uint32_t Reg(uint64_t off) {
    uint8_t b[4];
    t_->Read(off, b);
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  void SetReg(uint64_t off, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    t_->Write(off, b);
  }
  uint64_t desc(size_t q) const { return kRingBase + q * kRingStride; }
  uint64_t avail(size_t q) const { return desc(q) + 0x2000; }
  uint64_t used(size_t q) const { return desc(q) + 0x4000; }

  // The whole initialisation sequence of virtio 1.x 3.1.1; returns the final Status.
  uint32_t Init(uint64_t features, bool setup_queues = true) {
    SetReg(virtio_mmio::kStatus, 0);
    SetReg(virtio_mmio::kStatus, kVirtioStatusAcknowledge);
    SetReg(virtio_mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    for (uint32_t sel = 0; sel < 2; ++sel) {
      SetReg(virtio_mmio::kDriverFeaturesSel, sel);
      SetReg(virtio_mmio::kDriverFeatures, static_cast<uint32_t>(features >> (32 * sel)));
    }
    SetReg(virtio_mmio::kStatus,
           kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    if (!(Reg(virtio_mmio::kStatus) & kVirtioStatusFeaturesOk)) return Reg(virtio_mmio::kStatus);
    if (setup_queues) {
      for (size_t q = 0; q < t_->num_queues(); ++q) SetupQueue(q);
    }
    SetReg(virtio_mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver |
                                     kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
    return Reg(virtio_mmio::kStatus);
  }
  void SetupQueue(size_t q) {
    std::vector<uint8_t> zero(0x6000, 0);
    (void)mem_->Write(desc(q), zero);
    SetReg(virtio_mmio::kQueueSel, static_cast<uint32_t>(q));
    SetReg(virtio_mmio::kQueueNum, qsize_);
    SetReg(virtio_mmio::kQueueDescLow, static_cast<uint32_t>(desc(q)));
    SetReg(virtio_mmio::kQueueDescHigh, 0);
    SetReg(virtio_mmio::kQueueDriverLow, static_cast<uint32_t>(avail(q)));
    SetReg(virtio_mmio::kQueueDriverHigh, 0);
    SetReg(virtio_mmio::kQueueDeviceLow, static_cast<uint32_t>(used(q)));
    SetReg(virtio_mmio::kQueueDeviceHigh, 0);
    SetReg(virtio_mmio::kQueueReady, 1);
    next_desc_.resize(t_->num_queues());
    avail_idx_.resize(t_->num_queues());
  }

  void W16(uint64_t a, uint16_t v) { (void)mem_->Write(a, {reinterpret_cast<uint8_t*>(&v), 2}); }
  void W32(uint64_t a, uint32_t v) { (void)mem_->Write(a, {reinterpret_cast<uint8_t*>(&v), 4}); }
  void W64(uint64_t a, uint64_t v) { (void)mem_->Write(a, {reinterpret_cast<uint8_t*>(&v), 8}); }
  uint16_t R16(uint64_t a) {
    uint16_t v = 0;
    (void)mem_->Read(a, {reinterpret_cast<uint8_t*>(&v), 2});
    return v;
  }
  uint32_t R32(uint64_t a) {
    uint32_t v = 0;
    (void)mem_->Read(a, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }

  void WriteDesc(size_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint64_t d = desc(q) + 16ull * i;
    W64(d, addr);
    W32(d + 8, len);
    W16(d + 12, flags);
    W16(d + 14, next);
  }
  // Makes `head` available without touching descriptors (for hand-built chains).
  void PublishHead(size_t q, uint16_t head) {
    W16(avail(q) + 4 + 2 * (avail_idx_[q] % qsize_), head);
    ++avail_idx_[q];
    W16(avail(q) + 2, avail_idx_[q]);
  }
  // Writes the chain into free descriptors and makes it available; returns its head.
  uint16_t AddChain(size_t q, const std::vector<Buf>& bufs) {
    uint16_t head = next_desc_[q] % qsize_;
    for (size_t i = 0; i < bufs.size(); ++i) {
      uint16_t idx = (next_desc_[q] + i) % qsize_;
      uint16_t flags =
          (bufs[i].writable ? kVirtqDescFWrite : 0) | (i + 1 < bufs.size() ? kVirtqDescFNext : 0);
      WriteDesc(q, idx, bufs[i].addr, bufs[i].len, flags,
                static_cast<uint16_t>((idx + 1) % qsize_));
    }
    next_desc_[q] = static_cast<uint16_t>(next_desc_[q] + bufs.size());
    PublishHead(q, head);
    return head;
  }
  void Notify(size_t q) { SetReg(virtio_mmio::kQueueNotify, static_cast<uint32_t>(q)); }
  uint16_t UsedIdx(size_t q) { return R16(used(q) + 2); }
  // (id, len) of used element `i` (free-running index).
  std::pair<uint32_t, uint32_t> UsedElem(size_t q, uint16_t i) {
    uint64_t e = used(q) + 4 + 8ull * (i % qsize_);
    return {R32(e), R32(e + 4)};
  }
  void Ack() { SetReg(virtio_mmio::kInterruptAck, Reg(virtio_mmio::kInterruptStatus)); }

  VirtioMmio* t_;
  GuestMemory* mem_;
  uint16_t qsize_;
  std::vector<uint16_t> next_desc_;
  std::vector<uint16_t> avail_idx_;
};

}  // namespace ftd::vmm::testing
