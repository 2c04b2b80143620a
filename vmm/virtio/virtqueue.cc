#include "vmm/virtio/virtqueue.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/devices/state_check.h"

namespace ftd::vmm {
namespace {

constexpr uint64_t kDescSize = 16;

absl::StatusOr<uint16_t> Load16(const GuestMemory& mem, uint64_t gpa) {
  uint8_t b[2];
  if (auto s = mem.Read(gpa, b); !s.ok()) return s;
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

absl::Status Store16(GuestMemory& mem, uint64_t gpa, uint16_t v) {
  const uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
  return mem.Write(gpa, b);
}

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

absl::StatusOr<Desc> LoadDesc(const GuestMemory& mem, uint64_t gpa) {
  uint8_t b[kDescSize];
  if (auto s = mem.Read(gpa, b); !s.ok()) return s;
  Desc d;
  std::memcpy(&d.addr, b, 8);  // little-endian host (x86-64)
  std::memcpy(&d.len, b + 8, 4);
  std::memcpy(&d.flags, b + 12, 2);
  std::memcpy(&d.next, b + 14, 2);
  return d;
}

// virtio 1.x 2.7.10: interrupt when new_idx has passed event_idx since old_idx.
bool NeedEvent(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

absl::Status Malformed(const std::string& what) { return absl::InvalidArgumentError(what); }

}  // namespace

absl::Status ReadFromChain(const GuestMemory& mem, const DescChain& chain, uint64_t offset,
                           std::span<uint8_t> out) {
  if (offset > chain.readable_len || out.size() > chain.readable_len - offset) {
    return absl::OutOfRangeError("read past the chain's readable buffers");
  }
  size_t done = 0;
  for (const VirtqSegment& seg : chain.readable) {
    if (done == out.size()) break;
    if (offset >= seg.len) {
      offset -= seg.len;
      continue;
    }
    size_t n = std::min<uint64_t>(seg.len - offset, out.size() - done);
    if (auto s = mem.Read(seg.addr + offset, out.subspan(done, n)); !s.ok()) return s;
    done += n;
    offset = 0;
  }
  return absl::OkStatus();
}

absl::Status WriteToChain(GuestMemory& mem, const DescChain& chain, uint64_t offset,
                          std::span<const uint8_t> in) {
  if (offset > chain.writable_len || in.size() > chain.writable_len - offset) {
    return absl::OutOfRangeError("write past the chain's writable buffers");
  }
  size_t done = 0;
  for (const VirtqSegment& seg : chain.writable) {
    if (done == in.size()) break;
    if (offset >= seg.len) {
      offset -= seg.len;
      continue;
    }
    size_t n = std::min<uint64_t>(seg.len - offset, in.size() - done);
    if (auto s = mem.Write(seg.addr + offset, in.subspan(done, n)); !s.ok()) return s;
    done += n;
    offset = 0;
  }
  return absl::OkStatus();
}

void Virtqueue::Reset() {
  num_ = max_size_;
  ready_ = false;
  desc_addr_ = driver_addr_ = device_addr_ = 0;
  last_avail_idx_ = used_idx_ = signalled_used_ = 0;
  signalled_used_valid_ = false;
  event_idx_ = indirect_ = false;
}

absl::Status Virtqueue::CheckRings(const GuestMemory& mem) const {
  if (num_ == 0 || num_ > max_size_ || (num_ & (num_ - 1)) != 0) {
    return Malformed(
        absl::StrFormat("queue size %u is not a power of 2 in [1, %u]", num_, max_size_));
  }
  if (desc_addr_ % 16 || driver_addr_ % 2 || device_addr_ % 4) {
    return Malformed(
        absl::StrFormat("ring addresses desc=%#x driver=%#x device=%#x are not 16/2/4-byte aligned",
                        desc_addr_, driver_addr_, device_addr_));
  }
  // Table, available ring with used_event, used ring with avail_event.
  if (!mem.InRange(desc_addr_, kDescSize * num_) || !mem.InRange(driver_addr_, 6 + 2ull * num_) ||
      !mem.InRange(device_addr_, 6 + 8ull * num_)) {
    return Malformed(
        absl::StrFormat("rings desc=%#x driver=%#x device=%#x (size %u) are outside RAM",
                        desc_addr_, driver_addr_, device_addr_, num_));
  }
  return absl::OkStatus();
}

absl::Status Virtqueue::SetReady(const GuestMemory& mem) {
  if (auto s = CheckRings(mem); !s.ok()) return s;
  ready_ = true;
  return absl::OkStatus();
}

absl::Status Virtqueue::ParseChain(const GuestMemory& mem, uint16_t head, DescChain* chain) const {
  chain->head = head;
  uint64_t table = desc_addr_;
  uint32_t table_len = num_;
  uint32_t index = head;
  uint32_t seen = 0;
  bool in_indirect = false;
  for (;;) {
    if (index >= table_len) {
      return Malformed(
          absl::StrFormat("descriptor index %u beyond a table of %u", index, table_len));
    }
    // A chain visits each descriptor at most once; more means a loop.
    if (++seen > table_len) {
      return Malformed(absl::StrFormat("chain from head %u is longer than its table (%u): a loop",
                                       head, table_len));
    }
    auto d = LoadDesc(mem, table + kDescSize * index);
    if (!d.ok()) return d.status();
    if (d->flags & kVirtqDescFIndirect) {
      if (!indirect_) return Malformed("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
      if (in_indirect) return Malformed("indirect descriptor inside an indirect table");
      if (d->flags & kVirtqDescFNext) return Malformed("indirect descriptor with NEXT set");
      if (d->len == 0 || d->len % kDescSize != 0 || d->len / kDescSize > kMaxIndirectDescriptors) {
        return Malformed(
            absl::StrFormat("indirect table of %u bytes (must be 16..%u, a multiple of 16)", d->len,
                            kMaxIndirectDescriptors * kDescSize));
      }
      if (d->addr % 16 != 0 || !mem.InRange(d->addr, d->len)) {
        return Malformed(absl::StrFormat("indirect table at %#x (+%u) is outside RAM or unaligned",
                                         d->addr, d->len));
      }
      table = d->addr;
      table_len = d->len / kDescSize;
      index = 0;
      seen = 0;
      in_indirect = true;
      continue;
    }
    if (!mem.InRange(d->addr, d->len)) {
      return Malformed(absl::StrFormat("buffer [%#x, +%u) is outside RAM", d->addr, d->len));
    }
    if (d->len != 0) {
      if (d->flags & kVirtqDescFWrite) {
        chain->writable.push_back({d->addr, d->len});
        chain->writable_len += d->len;
      } else {
        if (!chain->writable.empty())
          return Malformed("device-readable buffer after a writable one");
        chain->readable.push_back({d->addr, d->len});
        chain->readable_len += d->len;
      }
      // The used ring reports lengths in 32 bits.
      if (chain->readable_len + chain->writable_len > UINT32_MAX) {
        return Malformed("chain is longer than 4 GiB");
      }
    }
    if (!(d->flags & kVirtqDescFNext)) return absl::OkStatus();
    index = d->next;
  }
}

absl::StatusOr<std::optional<DescChain>> Virtqueue::Pop(GuestMemory& mem) {
  if (!ready_) return std::nullopt;
  auto avail_idx = Load16(mem, driver_addr_ + 2);
  if (!avail_idx.ok()) return avail_idx.status();
  uint16_t pending = static_cast<uint16_t>(*avail_idx - last_avail_idx_);
  if (pending > num_) {
    return Malformed(
        absl::StrFormat("available index %u is %u ahead of the device's %u, more than the "
                        "queue size %u",
                        *avail_idx, pending, last_avail_idx_, num_));
  }
  if (pending == 0) return std::nullopt;
  auto head = Load16(mem, driver_addr_ + 4 + 2ull * (last_avail_idx_ % num_));
  if (!head.ok()) return head.status();
  DescChain chain;
  if (auto s = ParseChain(mem, *head, &chain); !s.ok()) return s;
  ++last_avail_idx_;
  if (event_idx_) {
    // avail_event: the driver notifies again once it makes the next buffer available.
    if (auto s = Store16(mem, device_addr_ + 4 + 8ull * num_, last_avail_idx_); !s.ok()) return s;
  }
  return chain;
}

absl::Status Virtqueue::PushUsed(GuestMemory& mem, uint16_t head, uint32_t len) {
  if (!ready_) return absl::FailedPreconditionError("queue is not ready");
  uint8_t elem[8];
  uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &len, 4);
  if (auto s = mem.Write(device_addr_ + 4 + 8ull * (used_idx_ % num_), elem); !s.ok()) return s;
  ++used_idx_;
  return Store16(mem, device_addr_ + 2, used_idx_);
}

absl::StatusOr<bool> Virtqueue::ShouldInterrupt(const GuestMemory& mem) {
  if (!ready_) return false;
  if (!event_idx_) {
    auto flags = Load16(mem, driver_addr_);
    if (!flags.ok()) return flags.status();
    return (*flags & kVirtqAvailFNoInterrupt) == 0;
  }
  uint16_t old_idx = signalled_used_;
  bool valid = signalled_used_valid_;
  signalled_used_ = used_idx_;
  signalled_used_valid_ = true;
  auto used_event = Load16(mem, driver_addr_ + 4 + 2ull * num_);
  if (!used_event.ok()) return used_event.status();
  return !valid || NeedEvent(*used_event, used_idx_, old_idx);
}

Virtqueue::State Virtqueue::Save() const {
  State s;
  s.set_num(num_);
  s.set_ready(ready_);
  s.set_desc_addr(desc_addr_);
  s.set_driver_addr(driver_addr_);
  s.set_device_addr(device_addr_);
  s.set_last_avail_idx(last_avail_idx_);
  s.set_used_idx(used_idx_);
  s.set_signalled_used(signalled_used_);
  s.set_signalled_used_valid(signalled_used_valid_);
  return s;
}

absl::StatusOr<Virtqueue> Virtqueue::Restore(uint16_t max_size, const State& s,
                                             const GuestMemory& mem) {
  if (auto st = CheckNoUnknownFields(s, "virtqueue"); !st.ok()) return st;
  if (s.num() > 0xffff || s.last_avail_idx() > 0xffff || s.used_idx() > 0xffff ||
      s.signalled_used() > 0xffff) {
    return absl::InvalidArgumentError("virtqueue state: a 16-bit field is larger than 0xffff");
  }
  Virtqueue q(max_size);
  q.num_ = static_cast<uint16_t>(s.num());
  q.desc_addr_ = s.desc_addr();
  q.driver_addr_ = s.driver_addr();
  q.device_addr_ = s.device_addr();
  q.last_avail_idx_ = static_cast<uint16_t>(s.last_avail_idx());
  q.used_idx_ = static_cast<uint16_t>(s.used_idx());
  q.signalled_used_ = static_cast<uint16_t>(s.signalled_used());
  q.signalled_used_valid_ = s.signalled_used_valid();
  if (s.ready()) {
    if (auto st = q.SetReady(mem); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("virtqueue state: ready, but %s", st.message()));
    }
  } else if (q.num_ > max_size) {
    // A queue that is not ready may hold any size up to QueueNumMax: SetReady checks the rest.
    return absl::InvalidArgumentError(
        absl::StrFormat("virtqueue state: size %u exceeds QueueNumMax %u", q.num_, max_size));
  }
  return q;
}

}  // namespace ftd::vmm
