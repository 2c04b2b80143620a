// A split virtqueue (virtio 1.x, section 2.7) seen from the device: descriptor chains
// taken from the available ring, completions put on the used ring, and notification
// suppression with VIRTIO_F_EVENT_IDX.
//
// Everything in the rings is written by the guest and is validated here, against guest
// RAM and against the queue size: a chain pointing outside RAM, an index beyond the
// table, a loop (more descriptors than the table holds), a nested indirect table, a
// readable descriptor after a writable one, an available index that jumped by more than
// the queue size. Pop() returns an error for those; the transport then sets
// DEVICE_NEEDS_RESET and stops using the device until the driver resets it. Nothing a
// guest writes can crash or hang the VMM: every loop is bounded by a table size.
//
// Ring memory is accessed through GuestMemory (reads from its mapping, writes through
// Write() so the VMM-dirty bitmap sees them). The vCPU is stopped at an exit whenever a
// queue is used, so no memory barriers are needed against the driver.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/guest_memory.h"

namespace ftd::vmm {

// Descriptor flags and ring flags (virtio 1.x 2.7.5, 2.7.6).
inline constexpr uint16_t kVirtqDescFNext = 1;
inline constexpr uint16_t kVirtqDescFWrite = 2;
inline constexpr uint16_t kVirtqDescFIndirect = 4;
inline constexpr uint16_t kVirtqAvailFNoInterrupt = 1;
// An indirect table may hold at most this many descriptors (bounds work per chain).
inline constexpr uint32_t kMaxIndirectDescriptors = 1024;

struct VirtqSegment {
  uint64_t addr;
  uint32_t len;
};

// One request: the device-readable buffers, then the device-writable ones, in chain
// order. Every segment lies in guest RAM; zero-length descriptors are dropped.
struct DescChain {
  uint16_t head = 0;
  std::vector<VirtqSegment> readable;
  std::vector<VirtqSegment> writable;
  uint64_t readable_len = 0;
  uint64_t writable_len = 0;
};

// Copies the chain's readable bytes [offset, offset + out.size()) into `out`.
absl::Status ReadFromChain(const GuestMemory& mem, const DescChain& chain, uint64_t offset,
                           std::span<uint8_t> out);
// Copies `in` into the chain's writable bytes starting at `offset`.
absl::Status WriteToChain(GuestMemory& mem, const DescChain& chain, uint64_t offset,
                          std::span<const uint8_t> in);

class Virtqueue {
 public:
  using State = proto::VirtqueueState;

  explicit Virtqueue(uint16_t max_size) : max_size_(max_size), num_(max_size) {}
  static absl::StatusOr<Virtqueue> Restore(uint16_t max_size, const State& state,
                                           const GuestMemory& mem);
  State Save() const;

  // Back to the power-on state (num = QueueNumMax, not ready, indexes 0).
  void Reset();

  // Transport registers; only meaningful while !ready().
  uint16_t max_size() const { return max_size_; }
  uint16_t num() const { return num_; }
  bool ready() const { return ready_; }
  void set_num(uint16_t n) { num_ = n; }
  void set_desc_addr(uint64_t a) { desc_addr_ = a; }
  void set_driver_addr(uint64_t a) { driver_addr_ = a; }
  void set_device_addr(uint64_t a) { device_addr_ = a; }
  uint64_t desc_addr() const { return desc_addr_; }
  uint64_t driver_addr() const { return driver_addr_; }
  uint64_t device_addr() const { return device_addr_; }
  // Makes the queue usable after checking its size and rings (error: left not ready).
  absl::Status SetReady(const GuestMemory& mem);
  void ClearReady() { ready_ = false; }

  // Negotiated features that change ring semantics (set at DRIVER_OK).
  void SetFeatures(bool event_idx, bool indirect) {
    event_idx_ = event_idx;
    indirect_ = indirect;
  }

  // The next available chain; nullopt when the driver has made none available (or the
  // queue is not ready). An error means the ring or the chain is malformed.
  absl::StatusOr<std::optional<DescChain>> Pop(GuestMemory& mem);
  // Returns a chain to the driver with `len` bytes written into its writable part.
  absl::Status PushUsed(GuestMemory& mem, uint16_t head, uint32_t len);
  // Whether the driver asked to be interrupted for the used entries added since the
  // last call (avail flags, or used_event with VIRTIO_F_EVENT_IDX).
  absl::StatusOr<bool> ShouldInterrupt(const GuestMemory& mem);

  uint16_t last_avail_idx() const { return last_avail_idx_; }
  uint16_t used_idx() const { return used_idx_; }

 private:
  absl::Status CheckRings(const GuestMemory& mem) const;
  absl::Status ParseChain(const GuestMemory& mem, uint16_t head, DescChain* chain) const;

  uint16_t max_size_;
  uint16_t num_;
  bool ready_ = false;
  uint64_t desc_addr_ = 0;
  uint64_t driver_addr_ = 0;
  uint64_t device_addr_ = 0;
  uint16_t last_avail_idx_ = 0;
  uint16_t used_idx_ = 0;
  uint16_t signalled_used_ = 0;
  bool signalled_used_valid_ = false;
  bool event_idx_ = false;  // derived from the transport's features; not saved here
  bool indirect_ = false;
};

}  // namespace ftd::vmm
