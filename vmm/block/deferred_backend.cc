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
    if (auto s =
            WriteTracked(fd_, dirty_map_.load(), request.offset, request.data, "the disk copy");
        !s.ok()) {
      spdlog::warn("replay: writing the disk copy failed: {}", std::string(s.message()));
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
