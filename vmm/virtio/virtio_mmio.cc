#include "vmm/virtio/virtio_mmio.h"

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {

using namespace virtio_mmio;

VirtioMmio::VirtioMmio(std::string_view name, GuestMemory* mem, IrqSink* irq, unsigned irq_line,
                       VirtioDevice* device, size_t num_queues, uint16_t queue_max)
    : name_(name),
      mem_(mem),
      irq_(irq),
      irq_line_(irq_line),
      device_(device),
      bad_access_(name),
      queues_(num_queues, Virtqueue(queue_max)) {}

uint64_t VirtioMmio::OfferedFeatures() const {
  return device_->DeviceFeatures() | (1ull << kVirtioFVersion1) | (1ull << kVirtioFRingEventIdx) |
         (1ull << kVirtioFRingIndirectDesc);
}

bool VirtioMmio::live() const {
  return (status_ & kVirtioStatusDriverOk) &&
         !(status_ & (kVirtioStatusFailed | kVirtioStatusNeedsReset));
}

void VirtioMmio::Read(uint64_t offset, std::span<uint8_t> data) {
  size_t n = data.size();
  if (offset >= kConfig) {
    uint64_t off = offset - kConfig;
    size_t size = device_->ConfigSize();
    if ((n != 1 && n != 2 && n != 4 && n != 8) || off > size || n > size - off) {
      bad_access_.Report(false, offset, n, "outside the device configuration space");
      FillOpenBus(data);
      return;
    }
    device_->ReadConfig(off, data);
    return;
  }
  if (n != 4 || offset % 4 != 0) {
    bad_access_.Report(false, offset, n, "registers are read as aligned 32-bit words");
    FillOpenBus(data);
    return;
  }
  StoreLe(data, ReadRegister(offset));
}

void VirtioMmio::Write(uint64_t offset, std::span<const uint8_t> data) {
  size_t n = data.size();
  if (offset >= kConfig) {
    // Neither virtio-blk (no WCE feature) nor virtio-net has driver-writable config.
    bad_access_.Report(true, offset, n, "the configuration space is read-only");
    return;
  }
  if (n != 4 || offset % 4 != 0) {
    bad_access_.Report(true, offset, n, "registers are written as aligned 32-bit words");
    return;
  }
  WriteRegister(offset, static_cast<uint32_t>(LoadLe(data)));
}

Virtqueue* VirtioMmio::SelectedQueue(bool is_write, uint64_t offset) {
  if (queue_sel_ >= queues_.size()) {
    bad_access_.Report(is_write, offset, 4, "QueueSel names no queue");
    return nullptr;
  }
  return &queues_[queue_sel_];
}

Virtqueue* VirtioMmio::SelectedQueueForConfig(uint64_t offset) {
  Virtqueue* q = SelectedQueue(true, offset);
  if (q != nullptr && q->ready()) {
    bad_access_.Report(true, offset, 4,
                       "queue registers of a ready queue (write QueueReady=0 first)");
    return nullptr;
  }
  return q;
}

uint32_t VirtioMmio::ReadRegister(uint64_t offset) {
  switch (offset) {
    case kMagic:
      return kVirtioMmioMagic;
    case kVersion:
      return kVirtioMmioVersion;
    case kDeviceId:
      return device_->DeviceType();
    case kVendorId:
      return kVirtioVendorId;
    case kDeviceFeatures:
      return device_features_sel_ < 2
                 ? static_cast<uint32_t>(OfferedFeatures() >> (32 * device_features_sel_))
                 : 0;
    case kQueueNumMax: {
      Virtqueue* q = SelectedQueue(false, offset);
      // A QueueSel past the last queue reads 0: "queue not available" (4.2.3.2).
      return q ? q->max_size() : 0;
    }
    case kQueueReady: {
      Virtqueue* q = SelectedQueue(false, offset);
      return q && q->ready();
    }
    case kInterruptStatus:
      return interrupt_status_;
    case kStatus:
      return status_;
    case kConfigGeneration:
      return config_generation_;
    default:
      bad_access_.Report(false, offset, 4, "no such readable register");
      return 0xffffffff;
  }
}

void VirtioMmio::WriteRegister(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kDeviceFeaturesSel:
      device_features_sel_ = value;
      return;
    case kDriverFeaturesSel:
      driver_features_sel_ = value;
      return;
    case kDriverFeatures: {
      // Features are negotiated between DRIVER and FEATURES_OK (3.1.1).
      if (!(status_ & kVirtioStatusDriver) || (status_ & kVirtioStatusFeaturesOk)) {
        bad_access_.Report(true, offset, 4, "DriverFeatures outside feature negotiation");
        return;
      }
      if (driver_features_sel_ >= 2) {
        if (value != 0) bad_access_.Report(true, offset, 4, "feature bits beyond 63");
        return;
      }
      unsigned shift = 32 * driver_features_sel_;
      driver_features_ =
          (driver_features_ & ~(0xffffffffull << shift)) | (uint64_t{value} << shift);
      return;
    }
    case kQueueSel:
      queue_sel_ = value;
      return;
    case kQueueNum:
      if (Virtqueue* q = SelectedQueueForConfig(offset)) {
        if (value == 0 || value > q->max_size()) {
          bad_access_.Report(true, offset, 4, "QueueNum must be in [1, QueueNumMax]");
          return;
        }
        q->set_num(static_cast<uint16_t>(value));
      }
      return;
    case kQueueDescLow:
    case kQueueDescHigh:
    case kQueueDriverLow:
    case kQueueDriverHigh:
    case kQueueDeviceLow:
    case kQueueDeviceHigh:
      if (Virtqueue* q = SelectedQueueForConfig(offset)) {
        auto merge = [&](uint64_t old) {
          return (offset & 4) ? (old & 0xffffffffull) | (uint64_t{value} << 32)
                              : (old & ~0xffffffffull) | value;
        };
        if (offset < kQueueDriverLow)
          q->set_desc_addr(merge(q->desc_addr()));
        else if (offset < kQueueDeviceLow)
          q->set_driver_addr(merge(q->driver_addr()));
        else
          q->set_device_addr(merge(q->device_addr()));
      }
      return;
    case kQueueReady: {
      Virtqueue* q = SelectedQueue(true, offset);
      if (q == nullptr) return;
      if (value == 0) {
        q->ClearReady();
        return;
      }
      if (q->ready()) return;
      if (absl::Status s = q->SetReady(*mem_); !s.ok()) {
        DeviceNeedsReset(
            absl::StrFormat("queue %u cannot be enabled: %s", queue_sel_, s.message()));
        return;
      }
      // The ring semantics follow the negotiated features; a queue enabled after
      // FEATURES_OK gets them now, one enabled before gets them at DRIVER_OK.
      q->SetFeatures(HasFeature(kVirtioFRingEventIdx), HasFeature(kVirtioFRingIndirectDesc));
      return;
    }
    case kQueueNotify:
      if (value >= queues_.size()) {
        bad_access_.Report(true, offset, 4, "QueueNotify names no queue");
        return;
      }
      // Notifications before DRIVER_OK, after a failure, or for a disabled queue are
      // ignored: the device does not use a queue the driver has not handed over.
      if (live() && queues_[value].ready()) device_->OnQueueNotify(value);
      return;
    case kInterruptAck:
      interrupt_status_ &= ~value;
      UpdateIrq();
      return;
    case kStatus:
      WriteStatus(value);
      return;
    default:
      bad_access_.Report(true, offset, 4, "no such writable register");
      return;
  }
}

void VirtioMmio::WriteStatus(uint32_t value) {
  if (value == 0) {
    Reset();
    return;
  }
  value &= 0xff;
  if ((value & kVirtioStatusFeaturesOk) && !(status_ & kVirtioStatusFeaturesOk)) {
    uint64_t unknown = driver_features_ & ~OfferedFeatures();
    if (unknown != 0 || !HasFeature(kVirtioFVersion1)) {
      // The driver reads Status back and finds FEATURES_OK clear (3.1.1 step 6).
      bad_access_.ReportOther(
          driver_features_,
          unknown ? "driver features the device does not offer"
                  : "driver features without VIRTIO_F_VERSION_1 (no legacy interface)");
      value &= ~kVirtioStatusFeaturesOk;
    }
  }
  bool was_ok = status_ & kVirtioStatusDriverOk;
  // DEVICE_NEEDS_RESET is the device's to set; only a reset clears it.
  status_ = (value & ~kVirtioStatusNeedsReset) | (status_ & kVirtioStatusNeedsReset);
  if ((status_ & kVirtioStatusDriverOk) && !was_ok) {
    if (!(status_ & kVirtioStatusFeaturesOk)) {
      DeviceNeedsReset("DRIVER_OK without FEATURES_OK");
      return;
    }
    for (Virtqueue& q : queues_) {
      q.SetFeatures(HasFeature(kVirtioFRingEventIdx), HasFeature(kVirtioFRingIndirectDesc));
    }
    // Buffers made available before DRIVER_OK (RX buffers) are taken now.
    for (size_t i = 0; i < queues_.size() && live(); ++i) {
      if (queues_[i].ready()) device_->OnQueueNotify(i);
    }
  }
}

void VirtioMmio::Reset() {
  device_->OnReset();
  status_ = 0;
  device_features_sel_ = driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  for (Virtqueue& q : queues_) q.Reset();
  interrupt_status_ = 0;
  UpdateIrq();
}

void VirtioMmio::NotifyUsed(size_t queue) {
  auto want = queues_[queue].ShouldInterrupt(*mem_);
  if (!want.ok()) {
    DeviceNeedsReset(std::string(want.status().message()));
    return;
  }
  if (*want) RaiseInterrupt(kVirtioIntUsedBuffer);
}

void VirtioMmio::DeviceNeedsReset(std::string_view why) {
  if (status_ & kVirtioStatusNeedsReset) return;
  // Reported once per transport: a broken driver tends to repeat itself.
  bad_access_.ReportOther(0, absl::StrFormat("driver error, device needs reset (%s); status", why));
  status_ |= kVirtioStatusNeedsReset;
  ++config_generation_;
  RaiseInterrupt(kVirtioIntConfigChange);
}

void VirtioMmio::RaiseInterrupt(uint32_t bits) {
  interrupt_status_ |= bits;
  UpdateIrq();
}

void VirtioMmio::UpdateIrq() {
  bool level = interrupt_status_ != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  irq_->SetIrq(irq_line_, level);
}

VirtioMmio::State VirtioMmio::Save() const {
  State s;
  s.set_status(status_);
  s.set_device_features_sel(device_features_sel_);
  s.set_driver_features_sel(driver_features_sel_);
  s.set_driver_features(driver_features_);
  s.set_queue_sel(queue_sel_);
  s.set_interrupt_status(interrupt_status_);
  s.set_config_generation(config_generation_);
  for (const Virtqueue& q : queues_) *s.add_queues() = q.Save();
  return s;
}

absl::Status VirtioMmio::LoadState(const State& s) {
  if (auto st = CheckNoUnknownFields(s, name_); !st.ok()) return st;
  auto bad = [this](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("%s transport state: %s", name_, what));
  };
  if (s.status() > 0xff) return bad(absl::StrFormat("status %#x does not fit a byte", s.status()));
  if (s.interrupt_status() & ~3u) {
    return bad(
        absl::StrFormat("InterruptStatus %#x has bits other than 0-1", s.interrupt_status()));
  }
  // Before FEATURES_OK the driver may have written anything (FEATURES_OK is then refused).
  if ((s.status() & kVirtioStatusFeaturesOk) && (s.driver_features() & ~OfferedFeatures())) {
    return bad(absl::StrFormat("driver features %#x are not a subset of the offered %#x",
                               s.driver_features(), OfferedFeatures()));
  }
  if (static_cast<size_t>(s.queues_size()) != queues_.size()) {
    return bad(
        absl::StrFormat("%d queues saved, the device has %d", s.queues_size(), queues_.size()));
  }
  std::vector<Virtqueue> queues;
  for (const auto& qs : s.queues()) {
    auto q = Virtqueue::Restore(queues_[0].max_size(), qs, *mem_);
    if (!q.ok()) return bad(std::string(q.status().message()));
    queues.push_back(std::move(*q));
  }
  queues_ = std::move(queues);
  status_ = s.status();
  device_features_sel_ = s.device_features_sel();
  driver_features_sel_ = s.driver_features_sel();
  driver_features_ = s.driver_features();
  queue_sel_ = s.queue_sel();
  interrupt_status_ = s.interrupt_status();
  config_generation_ = s.config_generation();
  for (Virtqueue& q : queues_) {
    if (q.ready())
      q.SetFeatures(HasFeature(kVirtioFRingEventIdx), HasFeature(kVirtioFRingIndirectDesc));
  }
  // The interrupt controller's saved state already holds the line's level.
  irq_level_ = interrupt_status_ != 0;
  return absl::OkStatus();
}

void VirtioMmio::DrainAvailable(size_t index, GuestMemory& mem,
                                const std::function<bool(DescChain)>& handle) {
  Virtqueue& q = queue(index);
  while (live()) {
    auto chain = q.Pop(mem);
    if (!chain.ok()) {
      DeviceNeedsReset(std::string(chain.status().message()));
      return;
    }
    if (!chain->has_value() || !handle(std::move(**chain))) return;
  }
}

}  // namespace ftd::vmm
