// virtio-mmio transport, virtio 1.x "modern" register layout (MMIO version 2, virtio 1.x
// section 4.2.2), 0x200 bytes per device: registers at 0x000-0x0ff (32-bit accesses
// only), the device's configuration space from 0x100 (1, 2, 4 or 8-byte accesses).
//
// The transport owns the register file and the virtqueues; a VirtioDevice behind it
// supplies the device type, its feature bits and configuration space, and handles queue
// notifications. The transport always offers VIRTIO_F_VERSION_1 (and refuses
// FEATURES_OK without it: no legacy interface), VIRTIO_F_RING_EVENT_IDX and
// VIRTIO_F_RING_INDIRECT_DESC.
//
// Interrupts: the line is driven at the level "InterruptStatus != 0". With the 8259's
// default edge triggering that pulses exactly when InterruptStatus goes from 0 to non-0,
// so a driver must write InterruptACK before it drains the used ring (as Linux does);
// a used buffer added after the ACK raises the line again. A guest that sets IRQ 10/11
// level-triggered in the ELCR gets true level semantics from the same line. The level is
// derived from InterruptStatus, so it is not saved.
//
// Bad driver behaviour (wrong access size, writing queue registers of a live queue,
// features the device does not offer, a malformed ring) is reported once. Ring errors
// set DEVICE_NEEDS_RESET with a configuration-change interrupt; the device then ignores
// its queues until the driver resets it by writing 0 to Status.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "devices.pb.h"
#include "vmm/device.h"
#include "vmm/devices/access.h"
#include "vmm/guest_memory.h"
#include "vmm/irq.h"
#include "vmm/virtio/virtqueue.h"

namespace ftd::vmm {

inline constexpr uint32_t kVirtioMmioMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kVirtioMmioVersion = 2;
inline constexpr uint32_t kVirtioVendorId = 0x00647466;  // "ftd"

// Feature bits (virtio 1.x section 6).
inline constexpr unsigned kVirtioFRingIndirectDesc = 28;
inline constexpr unsigned kVirtioFRingEventIdx = 29;
inline constexpr unsigned kVirtioFVersion1 = 32;

// Device status bits (virtio 1.x 2.1).
inline constexpr uint32_t kVirtioStatusAcknowledge = 1;
inline constexpr uint32_t kVirtioStatusDriver = 2;
inline constexpr uint32_t kVirtioStatusDriverOk = 4;
inline constexpr uint32_t kVirtioStatusFeaturesOk = 8;
inline constexpr uint32_t kVirtioStatusNeedsReset = 0x40;
inline constexpr uint32_t kVirtioStatusFailed = 0x80;

// InterruptStatus bits.
inline constexpr uint32_t kVirtioIntUsedBuffer = 1;
inline constexpr uint32_t kVirtioIntConfigChange = 2;

// Register offsets (virtio 1.x 4.2.2).
namespace virtio_mmio {
inline constexpr uint64_t kMagic = 0x000;
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;
inline constexpr uint64_t kSize = 0x200;
}  // namespace virtio_mmio

// The device-type half behind a transport (virtio-blk, virtio-net).
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint32_t DeviceType() const = 0;
  // Device-specific feature bits (the transport adds the ring and version bits).
  virtual uint64_t DeviceFeatures() const = 0;
  virtual size_t ConfigSize() const = 0;
  // [offset, offset + data.size()) is within ConfigSize().
  virtual void ReadConfig(uint64_t offset, std::span<uint8_t> data) = 0;
  // The driver notified `queue` (a valid, ready queue, with DRIVER_OK set).
  virtual void OnQueueNotify(size_t queue) = 0;
  // The driver reset the device (Status = 0): forget every request in flight.
  virtual void OnReset() = 0;
};

class VirtioMmio final : public Device {
 public:
  using State = proto::VirtioMmioState;

  // `name` must be a string literal. `mem`, `irq` and `device` must outlive the transport.
  VirtioMmio(std::string_view name, GuestMemory* mem, IrqSink* irq, unsigned irq_line,
             VirtioDevice* device, size_t num_queues, uint16_t queue_max);
  VirtioMmio(const VirtioMmio&) = delete;
  VirtioMmio& operator=(const VirtioMmio&) = delete;

  // Loads a saved register file into this (freshly constructed) transport.
  absl::Status LoadState(const State& state);
  State Save() const;

  std::string_view Name() const override { return name_; }
  void Read(uint64_t offset, std::span<uint8_t> data) override;
  void Write(uint64_t offset, std::span<const uint8_t> data) override;

  // For the device model.
  GuestMemory& memory() { return *mem_; }
  Virtqueue& queue(size_t i) { return queues_[i]; }
  size_t num_queues() const { return queues_.size(); }
  uint64_t driver_features() const { return driver_features_; }
  bool HasFeature(unsigned bit) const { return (driver_features_ >> bit) & 1; }
  // DRIVER_OK set, and neither FAILED nor DEVICE_NEEDS_RESET: queues may be used.
  bool live() const;
  // Used entries were added to `queue`: interrupt the driver if it asked for it.
  void NotifyUsed(size_t queue);
  // The driver broke the ring protocol: DEVICE_NEEDS_RESET + config interrupt.
  void DeviceNeedsReset(std::string_view why);
  // Pops every available chain of queue `index` and hands it to `handle` (false: stop),
  // until the queue is empty, the device is no longer live, or a malformed ring puts the
  // device into DEVICE_NEEDS_RESET. Bounded: each pop consumes an available entry.
  void DrainAvailable(size_t index, GuestMemory& mem, const std::function<bool(DescChain)>& handle);
  uint32_t status() const { return status_; }
  uint32_t interrupt_status() const { return interrupt_status_; }
  bool irq_level() const { return irq_level_; }
  uint64_t OfferedFeatures() const;

 private:
  uint32_t ReadRegister(uint64_t offset);
  void WriteRegister(uint64_t offset, uint32_t value);
  void WriteStatus(uint32_t value);
  void Reset();
  void RaiseInterrupt(uint32_t bits);
  void UpdateIrq();
  // The selected queue, or nullptr (reported) when QueueSel is out of range.
  Virtqueue* SelectedQueue(bool is_write, uint64_t offset);
  // Queue registers may only change while the queue is not ready.
  Virtqueue* SelectedQueueForConfig(uint64_t offset);

  std::string_view name_;
  GuestMemory* mem_;
  IrqSink* irq_;
  unsigned irq_line_;
  VirtioDevice* device_;
  BadAccessLog bad_access_;
  std::vector<Virtqueue> queues_;

  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
  bool irq_level_ = false;  // derived from interrupt_status_; never saved
};

}  // namespace ftd::vmm
