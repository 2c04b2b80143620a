// Output commit's seam in the machine (DESIGN.md "Output commit"): every output the guest
// produces (a console byte run, a network frame, a disk request) is handed to the gate
// instead of leaving at once. The gate decides when it may leave; the machine neither
// knows nor waits. Without a gate, outputs leave immediately (run, record, replay).
#pragma once

#include <cstddef>
#include <functional>

namespace ftd::vmm {

class OutputGate {
 public:
  virtual ~OutputGate() = default;
  // Called on the vCPU thread when the guest produced an output of `bytes` bytes.
  // `release` makes it leave; the gate runs it exactly once (or never, when the VM is
  // halted), on any thread, and runs the releases of one machine in the order held.
  virtual void Hold(size_t bytes, std::function<void()> release) = 0;
};

}  // namespace ftd::vmm
