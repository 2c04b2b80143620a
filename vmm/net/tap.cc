#include "vmm/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace ftd::vmm {

absl::StatusOr<std::unique_ptr<NetBackend>> OpenNetBackend(const std::string& spec,
                                                           HostEventQueue* events) {
  if (absl::StartsWith(spec, "tap:") && spec.size() > 4) {
    auto tap = TapBackend::Open(spec.substr(4), events);
    if (!tap.ok()) return tap.status();
    return std::unique_ptr<NetBackend>(std::move(*tap));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("--net '%s': expected 'tap:IFNAME' or 'none'", spec));
}

absl::StatusOr<std::unique_ptr<TapBackend>> TapBackend::Open(const std::string& ifname,
                                                             HostEventQueue* events) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--net tap:%s: interface names are 1-%d characters", ifname, IFNAMSIZ - 1));
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return absl::FailedPreconditionError(absl::StrFormat(
        "--net tap:%s: cannot open /dev/net/tun: %s (load the tun module)", ifname, strerror(e)));
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int e = errno;
    close(fd);
    std::string msg = absl::StrFormat("--net tap:%s: TUNSETIFF: %s", ifname, strerror(e));
    if (e == EPERM || e == EACCES) {
      return absl::PermissionDeniedError(
          msg +
          absl::StrFormat(
              " (create it first: ip tuntap add dev %s mode tap user $USER; ip link set %s up)",
              ifname, ifname));
    }
    return absl::FailedPreconditionError(msg);
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    int e = errno;
    close(fd);
    return absl::ResourceExhaustedError(absl::StrFormat("eventfd: %s", strerror(e)));
  }
  return std::unique_ptr<TapBackend>(new TapBackend(fd, wake, events));
}

TapBackend::TapBackend(int fd, int wake_fd, HostEventQueue* events)
    : fd_(fd), wake_fd_(wake_fd), events_(events), thread_([this] { Loop(); }) {}

TapBackend::~TapBackend() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
  thread_.join();
  close(wake_fd_);
  close(fd_);
}

void TapBackend::Send(std::span<const uint8_t> frame) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (tx_.size() >= kMaxTxQueued) {
      if (tx_dropped_++ == 0)
        spdlog::warn("tap: the interface does not keep up; dropping guest frames");
      return;
    }
    tx_.emplace_back(frame.begin(), frame.end());
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof one);
}

void TapBackend::Loop() {
  std::vector<uint8_t> buf(65536);
  for (;;) {
    bool want_out;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      want_out = !tx_.empty();
    }
    pollfd pfds[2] = {{fd_, static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0},
                      {wake_fd_, POLLIN, 0}};
    if (poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("tap: poll: {}; the network is down for this guest", strerror(errno));
      return;
    }
    if (pfds[1].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = read(wake_fd_, &v, sizeof v);
    }
    if (pfds[0].revents & POLLIN) {
      // Bounded per wakeup so TX is not starved by a flood.
      for (int i = 0; i < 64; ++i) {
        ssize_t n = read(fd_, buf.data(), buf.size());
        if (n <= 0) break;
        events_->Post(FrameReceivedEvent{{buf.begin(), buf.begin() + n}});
      }
    }
    if (pfds[0].revents & (POLLERR | POLLHUP)) {
      spdlog::error("tap: the interface went away; the network is down for this guest");
      return;
    }
    for (;;) {
      std::vector<uint8_t> frame;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (tx_.empty()) break;
        frame = std::move(tx_.front());
        tx_.pop_front();
      }
      ssize_t n = write(fd_, frame.data(), frame.size());
      if (n < 0 && errno == EAGAIN) {
        std::lock_guard<std::mutex> l(mu_);
        tx_.push_front(std::move(frame));  // retried when POLLOUT says so
        break;
      }
      // Other errors (interface down: EIO) drop the frame, as a cable pulled would.
    }
  }
}

}  // namespace ftd::vmm
