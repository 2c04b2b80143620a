// The block back end of a replay: it takes the device's requests but does no I/O of its
// own, because their completions (and read data) come from the log. Writes are applied
// to a disk copy when one is given, so that the copy holds the replayed disk at go-live;
// requests the log has not completed yet are handed to the real back end then.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "vmm/block/dirty_map.h"
#include "vmm/devices/virtio_blk.h"

namespace ftd::vmm {

class DeferredBlockBackend final : public BlockBackend {
 public:
  // `copy_path` may be empty (no disk copy: writes are dropped).
  static absl::StatusOr<std::unique_ptr<DeferredBlockBackend>> Open(const std::string& copy_path);
  ~DeferredBlockBackend() override;

  void Submit(BlockRequest request) override;
  // Writes to the copy are recorded in `map` (not owned; it must outlive this back end) before
  // they are issued.
  void set_dirty_map(DirtyBlockMap* map) { dirty_map_.store(map); }
  // The log completed request `id`.
  void Completed(uint64_t id) { outstanding_.erase(id); }
  // Go-live: issues every request the log left unfinished to `real`, in order.
  void HandOver(BlockBackend& real);
  size_t outstanding() const { return outstanding_.size(); }

 private:
  explicit DeferredBlockBackend(int fd) : fd_(fd) {}
  int fd_;
  std::atomic<DirtyBlockMap*> dirty_map_{nullptr};
  std::map<uint64_t, BlockRequest> outstanding_;  // by id (ids grow in submission order)
};

}  // namespace ftd::vmm
