// Host events: everything that enters the machine from outside asynchronously (serial
// input, block-I/O completions, received frames). Host threads (stdin reader, disk I/O
// thread, network back ends) Post() them; the vCPU loop takes them at an exit (a point)
// and applies them to the device models. That single hand-over is what record/replay
// logs: the devices never read host state themselves, so replaying the same events at
// the same points reproduces the run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace ftd::vmm {

// Bytes typed on the console, for the UART.
struct SerialInputEvent {
  std::vector<uint8_t> bytes;
};

// A block request finished on the I/O thread. `data` holds what a read returned (empty
// for writes and flushes); `status` is a virtio-blk status (VIRTIO_BLK_S_*).
struct BlockCompletionEvent {
  uint64_t request_id = 0;
  uint8_t status = 0;
  std::vector<uint8_t> data;
};

// An Ethernet frame received by the network back end (no virtio-net header).
struct FrameReceivedEvent {
  std::vector<uint8_t> frame;
};

using HostEvent = std::variant<SerialInputEvent, BlockCompletionEvent, FrameReceivedEvent>;

class HostEventQueue {
 public:
  HostEventQueue();
  HostEventQueue(const HostEventQueue&) = delete;
  HostEventQueue& operator=(const HostEventQueue&) = delete;
  ~HostEventQueue();

  // Error only when the eventfd cannot be created (fd limit).
  absl::Status status() const { return status_; }

  // Thread-safe. Queues `event`, makes fd() readable and calls the waker (which kicks the
  // vCPU out of KVM_RUN so the event is applied at the next exit, not at some later one).
  void Post(HostEvent event);
  // Every queued event, oldest first; clears the queue. vCPU thread.
  std::vector<HostEvent> TakeAll();
  bool empty() const;

  // Readable while events may be queued (or after Wake()); poll it while halted.
  int fd() const { return fd_; }
  // Consumes fd()'s readiness after a poll.
  void ClearWake();
  // Async-signal-safe: makes fd() readable without an event (stop requests).
  void Wake();
  // Called (outside the lock) after each Post. Set before any host thread posts.
  void SetWaker(std::function<void()> waker) { waker_ = std::move(waker); }

 private:
  absl::Status status_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::deque<HostEvent> events_;  // guarded by mu_
  std::function<void()> waker_;
};

}  // namespace ftd::vmm
