#include "vmm/block/raw_image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace ftd::vmm {

absl::StatusOr<std::unique_ptr<RawImage>> RawImage::Open(const std::string& path, bool read_only,
                                                         HostEventQueue* events) {
  int fd = open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    std::string msg = absl::StrFormat("--disk %s: %s", path, strerror(e));
    if (e == ENOENT) return absl::NotFoundError(msg);
    if (e == EACCES || e == EROFS || e == EPERM) {
      return absl::PermissionDeniedError(
          msg + (read_only ? "" : " (add --disk-readonly to use it read-only)"));
    }
    return absl::InvalidArgumentError(msg);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat("--disk %s: not a regular file", path));
  }
  if (st.st_size <= 0 || st.st_size % static_cast<off_t>(kSectorSize) != 0) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrFormat("--disk %s: size %d bytes is not a non-zero multiple of 512 (resize it, "
                        "e.g. truncate -s 64M)",
                        path, static_cast<long long>(st.st_size)));
  }
  VirtioBlkConfig config{static_cast<uint64_t>(st.st_size), read_only, BlockSerialForPath(path)};
  return std::unique_ptr<RawImage>(new RawImage(fd, std::move(config), events));
}

RawImage::RawImage(int fd, VirtioBlkConfig config, HostEventQueue* events)
    : fd_(fd), config_(std::move(config)), events_(events), thread_([this] { Loop(); }) {}

RawImage::~RawImage() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  close(fd_);
}

void RawImage::Submit(BlockRequest request) {
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(request));
  }
  cv_.notify_one();
}

void RawImage::Loop() {
  for (;;) {
    BlockRequest r;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      // Queued writes are finished even when stopping: the guest was told nothing yet,
      // but dropping them would lose data a later snapshot assumes written.
      if (queue_.empty()) return;
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    events_->Post(Execute(r));
  }
}

BlockCompletionEvent RawImage::Execute(BlockRequest& r) {
  BlockCompletionEvent ev{r.id, kVirtioBlkSOk, {}};
  auto fail = [&](const char* what) {
    spdlog::warn("virtio-blk: {} at offset {} failed: {}", what, r.offset, strerror(errno));
    ev.status = kVirtioBlkSIoErr;
    ev.data.clear();
    return ev;
  };
  switch (r.kind) {
    case BlockRequest::Kind::kRead: {
      ev.data.resize(r.length);
      size_t done = 0;
      while (done < r.length) {
        ssize_t n =
            pread(fd_, ev.data.data() + done, r.length - done, static_cast<off_t>(r.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          if (n == 0) errno = EIO;  // the image shrank under us
          return fail("read");
        }
        done += static_cast<size_t>(n);
      }
      return ev;
    }
    case BlockRequest::Kind::kWrite:
      // The dirty-block map first: a write it does not name must never reach the image.
      if (auto s = WriteTracked(fd_, dirty_map_.load(), r.offset, r.data, "the disk image");
          !s.ok()) {
        spdlog::warn("virtio-blk: write at offset {} failed: {}", r.offset,
                     std::string(s.message()));
        ev.status = kVirtioBlkSIoErr;
      }
      return ev;
    case BlockRequest::Kind::kFlush:
      if (config_.read_only) return ev;  // nothing to write back
      if (fdatasync(fd_) != 0) return fail("flush");
      return ev;
  }
  return ev;
}

}  // namespace ftd::vmm
