// virtio-blk (virtio 1.x section 5.2) behind a virtio-mmio transport: IN, OUT, FLUSH and
// GET_ID requests, VIRTIO_BLK_F_RO and VIRTIO_BLK_F_FLUSH, one request queue.
//
// The device never touches the host: reads, writes and flushes go to a BlockBackend (the
// I/O thread of a raw image) tagged with a request id, and come back as
// BlockCompletionEvents that the machine applies at a point (Complete()). Read data
// reaches guest memory only then, through GuestMemory::Write. Write data is copied out of
// guest memory at the notify exit, so the guest may reuse its buffer at once and the
// output-commit gate (later) can hold the copy. Record/replay therefore only logs the
// completions; GET_ID and malformed requests complete synchronously at the notify.
//
// Request checks: the header (16 readable bytes) and a writable status byte must be
// there; IN/OUT data must be a multiple of 512 bytes, at most kMaxRequestBytes, and lie
// within the capacity. A failing request completes with VIRTIO_BLK_S_IOERR (or UNSUPP
// for unknown types); a chain without a status byte is returned with length 0.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices.pb.h"
#include "vmm/host_events.h"
#include "vmm/virtio/virtio_mmio.h"

namespace ftd::vmm {

inline constexpr uint32_t kVirtioIdBlock = 2;
inline constexpr uint8_t kVirtioBlkSOk = 0;
inline constexpr uint8_t kVirtioBlkSIoErr = 1;
inline constexpr uint8_t kVirtioBlkSUnsupp = 2;
inline constexpr uint32_t kVirtioBlkTIn = 0;
inline constexpr uint32_t kVirtioBlkTOut = 1;
inline constexpr uint32_t kVirtioBlkTFlush = 4;
inline constexpr uint32_t kVirtioBlkTGetId = 8;
inline constexpr unsigned kVirtioBlkFRo = 5;
inline constexpr unsigned kVirtioBlkFFlush = 9;
inline constexpr size_t kVirtioBlkIdBytes = 20;
inline constexpr uint64_t kSectorSize = 512;

// What the device asks of the host. Completion comes back as a BlockCompletionEvent
// with the same id.
struct BlockRequest {
  enum class Kind { kRead, kWrite, kFlush };
  uint64_t id = 0;
  Kind kind = Kind::kRead;
  uint64_t offset = 0;        // bytes
  uint32_t length = 0;        // bytes to read
  std::vector<uint8_t> data;  // bytes to write
};

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  // Queues a request; never blocks on I/O. Requests complete in submission order.
  virtual void Submit(BlockRequest request) = 0;
};

struct VirtioBlkConfig {
  uint64_t capacity_bytes = 0;  // a multiple of 512
  bool read_only = false;
  std::string serial;  // GET_ID answer, at most 20 bytes
};

class VirtioBlk final : public VirtioDevice {
 public:
  using State = proto::VirtioBlkState;
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint32_t kMaxRequestBytes = 4u << 20;
  static constexpr size_t kConfigSize = 0x3c;  // struct virtio_blk_config up to topology

  // Pointers are not owned and must outlive the device.
  VirtioBlk(GuestMemory* mem, IrqSink* irq, unsigned irq_line, BlockBackend* backend,
            VirtioBlkConfig config);
  // `config` describes the image as opened now; the saved state must agree with it.
  static absl::StatusOr<std::unique_ptr<VirtioBlk>> Restore(GuestMemory* mem, IrqSink* irq,
                                                            unsigned irq_line,
                                                            BlockBackend* backend,
                                                            VirtioBlkConfig config,
                                                            const State& state);
  // Only with no request in flight (in_flight() == 0): the machine waits for them first.
  State Save() const;

  VirtioMmio* transport() { return &transport_; }
  // Go-live: requests from now on go to `backend` (not owned).
  void set_backend(BlockBackend* backend) { backend_ = backend; }
  // Requests handed to the back end whose completion has not been applied.
  size_t in_flight() const { return pending_.size(); }
  // Applies a completion (at a point). Unknown ids (the driver reset the device since)
  // are ignored.
  void Complete(const BlockCompletionEvent& event);

  // VirtioDevice
  uint32_t DeviceType() const override { return kVirtioIdBlock; }
  uint64_t DeviceFeatures() const override;
  size_t ConfigSize() const override { return kConfigSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void OnQueueNotify(size_t queue) override;
  void OnReset() override { pending_.clear(); }

 private:
  struct Pending {
    DescChain chain;
    BlockRequest::Kind kind;
    uint32_t data_len;  // bytes a read returns into the chain
  };
  // Starts one request, or completes it at once (GET_ID, malformed requests).
  void HandleRequest(DescChain chain);
  // Writes the status (after `data_len` data bytes) and returns the chain to the driver.
  void Finish(const DescChain& chain, uint32_t data_len, uint8_t status);

  GuestMemory* mem_;
  BlockBackend* backend_;
  VirtioBlkConfig config_;
  VirtioMmio transport_;
  BadAccessLog bad_request_{"virtio-blk"};
  uint64_t next_request_id_ = 1;
  std::map<uint64_t, Pending> pending_;  // by request id
  bool pushed_ = false;                  // used entries added since the last NotifyUsed
};

// A stable GET_ID serial for an image path ("ftd-" and 16 hex digits of its FNV-1a hash).
std::string BlockSerialForPath(std::string_view path);

}  // namespace ftd::vmm
