// A raw disk image file served by one I/O thread: the BlockBackend behind virtio-blk.
// Requests run in submission order (so a read after a write sees it); each posts a
// BlockCompletionEvent (read data included) to the machine's host-event queue. The
// vCPU thread never waits for the disk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "vmm/block/dirty_map.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/host_events.h"

namespace ftd::vmm {

class RawImage final : public BlockBackend {
 public:
  // Opens `path`, read-only when `read_only` (an image the user may only read must be
  // asked for read-only: ftd never silently downgrades). Its size must be a non-zero
  // multiple of 512.
  // Completions go to `events`, which must outlive the image.
  static absl::StatusOr<std::unique_ptr<RawImage>> Open(const std::string& path, bool read_only,
                                                        HostEventQueue* events);
  ~RawImage() override;  // finishes queued requests, then stops the thread

  void Submit(BlockRequest request) override;

  // From now on each write is recorded in `map` (not owned; it must outlive the image)
  // before the I/O thread issues it. Thread-safe.
  void set_dirty_map(DirtyBlockMap* map) { dirty_map_.store(map); }

  // What the guest sees: capacity, RO flag and the GET_ID serial.
  VirtioBlkConfig config() const { return config_; }

 private:
  RawImage(int fd, VirtioBlkConfig config, HostEventQueue* events);
  void Loop();
  BlockCompletionEvent Execute(BlockRequest& r);

  int fd_;
  VirtioBlkConfig config_;
  HostEventQueue* events_;
  std::atomic<DirtyBlockMap*> dirty_map_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BlockRequest> queue_;  // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  std::thread thread_;
};

}  // namespace ftd::vmm
