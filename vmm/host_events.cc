#include "vmm/host_events.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_format.h"

namespace ftd::vmm {

HostEventQueue::HostEventQueue() {
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) {
    status_ = absl::ResourceExhaustedError(absl::StrFormat(
        "eventfd for host events: %s (raise the open-file limit)", strerror(errno)));
  }
}

HostEventQueue::~HostEventQueue() {
  if (fd_ >= 0) close(fd_);
}

void HostEventQueue::Post(HostEvent event) {
  {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(std::move(event));
  }
  Wake();
  if (waker_) waker_();
}

std::vector<HostEvent> HostEventQueue::TakeAll() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<HostEvent> out(std::make_move_iterator(events_.begin()),
                             std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

bool HostEventQueue::empty() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_.empty();
}

void HostEventQueue::ClearWake() {
  uint64_t v;
  [[maybe_unused]] ssize_t n = read(fd_, &v, sizeof v);
}

void HostEventQueue::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(fd_, &one, sizeof one);
}

}  // namespace ftd::vmm
