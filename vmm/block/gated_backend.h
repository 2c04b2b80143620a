// A block back end whose requests wait for output commit: a write (or flush) is issued to
// the real back end only once the OutputGate releases it, so the disk never holds a write
// the backup could not reproduce. Requests behind a held one wait too, in order, so a read
// never overtakes a write it depends on. Completions come from the real back end as usual
// (host events, logged by a recording).
#pragma once

#include <atomic>

#include "vmm/devices/virtio_blk.h"
#include "vmm/output_gate.h"

namespace ftd::vmm {

class GatedBlockBackend final : public BlockBackend {
 public:
  // Neither pointer is owned; both must outlive this back end (and its held releases).
  GatedBlockBackend(BlockBackend* real, OutputGate* gate) : real_(real), gate_(gate) {}
  void Submit(BlockRequest request) override;
  // Requests handed to the gate and not yet issued.
  uint64_t held() const { return held_.load(); }

 private:
  BlockBackend* real_;
  OutputGate* gate_;
  std::atomic<uint64_t> held_{0};
};

}  // namespace ftd::vmm
