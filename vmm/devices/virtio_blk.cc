#include "vmm/devices/virtio_blk.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {

std::string BlockSerialForPath(std::string_view path) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return absl::StrFormat("ftd-%016x", h);
}

VirtioBlk::VirtioBlk(GuestMemory* mem, IrqSink* irq, unsigned irq_line, BlockBackend* backend,
                     VirtioBlkConfig config)
    : mem_(mem),
      backend_(backend),
      config_(std::move(config)),
      transport_("virtio-blk", mem, irq, irq_line, this, 1, kQueueSize) {
  if (config_.serial.size() > kVirtioBlkIdBytes) config_.serial.resize(kVirtioBlkIdBytes);
}

uint64_t VirtioBlk::DeviceFeatures() const {
  uint64_t f = 1ull << kVirtioBlkFFlush;
  if (config_.read_only) f |= 1ull << kVirtioBlkFRo;
  return f;
}

void VirtioBlk::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  uint8_t config[kConfigSize] = {};
  uint64_t sectors = config_.capacity_bytes / kSectorSize;
  std::memcpy(config, &sectors, 8);  // capacity, le64 at offset 0
  std::memcpy(data.data(), config + offset, data.size());
}

void VirtioBlk::OnQueueNotify(size_t queue) {
  pushed_ = false;
  transport_.DrainAvailable(queue, *mem_, [this](DescChain chain) {
    HandleRequest(std::move(chain));
    return true;
  });
  if (pushed_) transport_.NotifyUsed(0);
}

void VirtioBlk::Finish(const DescChain& chain, uint32_t data_len, uint8_t status) {
  if (!WriteToChain(*mem_, chain, chain.writable_len - 1, {&status, 1}).ok() ||
      !transport_.queue(0).PushUsed(*mem_, chain.head, data_len + 1).ok()) {
    transport_.DeviceNeedsReset("used ring not writable");
    return;
  }
  pushed_ = true;
}

void VirtioBlk::HandleRequest(DescChain chain) {
  if (chain.writable_len == 0) {
    bad_request_.ReportOther(chain.head, "request without a writable status byte; head");
    if (transport_.queue(0).PushUsed(*mem_, chain.head, 0).ok()) pushed_ = true;
    return;
  }
  uint8_t header[16];
  if (!ReadFromChain(*mem_, chain, 0, header).ok()) {
    bad_request_.ReportOther(chain.readable_len, "request header shorter than 16 bytes");
    Finish(chain, 0, kVirtioBlkSIoErr);
    return;
  }
  uint32_t type;
  uint64_t sector;
  std::memcpy(&type, header, 4);
  std::memcpy(&sector, header + 8, 8);
  const uint64_t capacity = config_.capacity_bytes / kSectorSize;
  // Checks an IN/OUT data length and range; reports and returns false when bad.
  auto in_bounds = [&](uint64_t len) {
    if (len % kSectorSize != 0 || len > kMaxRequestBytes) {
      bad_request_.ReportOther(len, "data length not a multiple of 512 or over 4 MiB");
      return false;
    }
    if (sector > capacity || len / kSectorSize > capacity - sector) {
      bad_request_.ReportOther(sector, "request beyond the disk's capacity at sector");
      return false;
    }
    return true;
  };
  switch (type) {
    case kVirtioBlkTIn: {
      uint64_t len = chain.writable_len - 1;
      if (!in_bounds(len)) return Finish(chain, 0, kVirtioBlkSIoErr);
      BlockRequest r{next_request_id_++,
                     BlockRequest::Kind::kRead,
                     sector * kSectorSize,
                     static_cast<uint32_t>(len),
                     {}};
      pending_.emplace(r.id, Pending{std::move(chain), r.kind, r.length});
      backend_->Submit(std::move(r));
      return;
    }
    case kVirtioBlkTOut: {
      uint64_t len = chain.readable_len - sizeof header;
      if (config_.read_only) return Finish(chain, 0, kVirtioBlkSIoErr);
      if (!in_bounds(len)) return Finish(chain, 0, kVirtioBlkSIoErr);
      BlockRequest r{next_request_id_++, BlockRequest::Kind::kWrite, sector * kSectorSize, 0,
                     std::vector<uint8_t>(len)};
      if (!ReadFromChain(*mem_, chain, sizeof header, r.data).ok()) {
        return Finish(chain, 0, kVirtioBlkSIoErr);
      }
      pending_.emplace(r.id, Pending{std::move(chain), r.kind, 0});
      backend_->Submit(std::move(r));
      return;
    }
    case kVirtioBlkTFlush: {
      BlockRequest r{next_request_id_++, BlockRequest::Kind::kFlush, 0, 0, {}};
      pending_.emplace(r.id, Pending{std::move(chain), r.kind, 0});
      backend_->Submit(std::move(r));
      return;
    }
    case kVirtioBlkTGetId: {
      uint8_t id[kVirtioBlkIdBytes] = {};
      std::memcpy(id, config_.serial.data(), config_.serial.size());
      // The driver's buffer may be shorter than 20 bytes; a shorter ID is not NUL-terminated.
      uint32_t n =
          static_cast<uint32_t>(std::min<uint64_t>(kVirtioBlkIdBytes, chain.writable_len - 1));
      if (!WriteToChain(*mem_, chain, 0, {id, n}).ok()) return Finish(chain, 0, kVirtioBlkSIoErr);
      return Finish(chain, n, kVirtioBlkSOk);
    }
    default:
      bad_request_.ReportOther(type, "unsupported request type");
      return Finish(chain, 0, kVirtioBlkSUnsupp);
  }
}

void VirtioBlk::Complete(const BlockCompletionEvent& event) {
  auto it = pending_.find(event.request_id);
  if (it == pending_.end()) return;  // the driver reset the device since
  Pending p = std::move(it->second);
  pending_.erase(it);
  uint8_t status = event.status;
  uint32_t written = 0;
  if (p.kind == BlockRequest::Kind::kRead && status == kVirtioBlkSOk) {
    if (event.data.size() != p.data_len || !WriteToChain(*mem_, p.chain, 0, event.data).ok()) {
      status = kVirtioBlkSIoErr;
    } else {
      written = p.data_len;
    }
  }
  if (!transport_.queue(0).ready()) return;
  pushed_ = false;
  Finish(p.chain, written, status);
  if (pushed_) transport_.NotifyUsed(0);
}

VirtioBlk::State VirtioBlk::Save() const {
  State s;
  *s.mutable_transport() = transport_.Save();
  s.set_capacity_sectors(config_.capacity_bytes / kSectorSize);
  s.set_read_only(config_.read_only);
  s.set_serial(config_.serial);
  s.set_next_request_id(next_request_id_);
  return s;
}

absl::StatusOr<std::unique_ptr<VirtioBlk>> VirtioBlk::Restore(GuestMemory* mem, IrqSink* irq,
                                                              unsigned irq_line,
                                                              BlockBackend* backend,
                                                              VirtioBlkConfig config,
                                                              const State& s) {
  if (auto st = CheckNoUnknownFields(s, "virtio-blk"); !st.ok()) return st;
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat("virtio-blk state: %s", what));
  };
  if (!s.has_transport()) return bad("no transport state");
  if (s.capacity_sectors() != config.capacity_bytes / kSectorSize) {
    return bad(
        absl::StrFormat("saved with a disk of %d sectors, the image now has %d (use the image the "
                        "machine was saved with)",
                        s.capacity_sectors(), config.capacity_bytes / kSectorSize));
  }
  if (s.read_only() != config.read_only) {
    return bad(s.read_only()
                   ? "saved with a read-only disk, restored read-write (add --disk-readonly)"
                   : "saved with a writable disk, the image is now read-only");
  }
  if (s.serial().size() > kVirtioBlkIdBytes) return bad("serial longer than 20 bytes");
  if (s.next_request_id() == 0) return bad("next_request_id must be at least 1");
  config.serial = s.serial();  // the guest-visible identity survives a moved image
  auto dev = std::make_unique<VirtioBlk>(mem, irq, irq_line, backend, std::move(config));
  if (auto st = dev->transport_.LoadState(s.transport()); !st.ok()) return st;
  dev->next_request_id_ = s.next_request_id();
  return dev;
}

}  // namespace ftd::vmm
