#include "vmm/block/gated_backend.h"

#include <utility>

namespace ftd::vmm {

void GatedBlockBackend::Submit(BlockRequest request) {
  // A read with nothing held before it has no output to wait for.
  if (request.kind == BlockRequest::Kind::kRead && held_.load() == 0) {
    real_->Submit(std::move(request));
    return;
  }
  held_.fetch_add(1);
  const size_t bytes = request.data.size();
  gate_->Hold(bytes, [this, r = std::move(request)]() mutable {
    real_->Submit(std::move(r));
    held_.fetch_sub(1);
  });
}

}  // namespace ftd::vmm
