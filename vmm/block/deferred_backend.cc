#include "vmm/block/deferred_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace ftd::vmm {

absl::StatusOr<std::unique_ptr<DeferredBlockBackend>> DeferredBlockBackend::Open(
    const std::string& copy_path) {
  int fd = -1;
  if (!copy_path.empty()) {
    fd = open(copy_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return absl::NotFoundError(
          absl::StrFormat("cannot open disk %s: %s", copy_path, strerror(errno)));
    }
  }
  return std::unique_ptr<DeferredBlockBackend>(new DeferredBlockBackend(fd));
}

DeferredBlockBackend::~DeferredBlockBackend() {
  if (fd_ >= 0) close(fd_);
}

void DeferredBlockBackend::Submit(BlockRequest request) {
  if (fd_ >= 0 && request.kind == BlockRequest::Kind::kWrite) {
    size_t off = 0;
    while (off < request.data.size()) {
      ssize_t n = pwrite(fd_, request.data.data() + off, request.data.size() - off,
                         static_cast<off_t>(request.offset + off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        spdlog::warn("replay: writing the disk copy failed at offset {}: {}", request.offset + off,
                     strerror(errno));
        break;
      }
      off += static_cast<size_t>(n);
    }
  }
  uint64_t id = request.id;
  outstanding_.emplace(id, std::move(request));
}

void DeferredBlockBackend::HandOver(BlockBackend& real) {
  for (auto& [id, r] : outstanding_) real.Submit(std::move(r));
  outstanding_.clear();
}

}  // namespace ftd::vmm
