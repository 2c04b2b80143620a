// RAII wrappers for /dev/kvm, a VM and a vCPU. Every ioctl failure becomes an
// absl::Status naming the ioctl and errno, so callers can tell the user what to do.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmm/exit.h"

namespace ftd::vmm {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class Vm;

class Kvm {
 public:
  // Opens /dev/kvm (or `path`) and checks the API version and the capabilities ftd needs.
  static absl::StatusOr<Kvm> Open(const char* path = "/dev/kvm");
  // Whether /dev/kvm exists and can be opened; for tests that must skip without it.
  static bool Available(const char* path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  int CheckExtension(int cap) const;
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }

 private:
  Fd fd_;
  int vcpu_mmap_size_ = 0;
};

class Vcpu {
 public:
  Vcpu(Vcpu&&) noexcept;
  Vcpu& operator=(Vcpu&&) = delete;
  ~Vcpu();

  // Runs the vCPU until the next exit and decodes it. EINTR (a kick) and
  // immediate_exit give InterruptedExit; other KVM_RUN errors are errors.
  absl::StatusOr<VcpuExit> Run();
  kvm_run* run() { return run_; }
  int fd() const { return fd_.get(); }

  // Asks KVM to exit with IrqWindowExit as soon as the guest can take an interrupt.
  void RequestInterruptWindow(bool on) { run_->request_interrupt_window = on ? 1 : 0; }
  bool ReadyForInterrupt() const {
    return run_->ready_for_interrupt_injection && (run_->if_flag != 0);
  }
  // kvm_run's flags from the last exit, as the next point reads them (KVM only writes them,
  // at each exit): what a restored vCPU must see before its first run (vcpu_state.h).
  struct ExitFlags {
    bool ready_for_interrupt = false;
    bool if_flag = false;
    bool window_requested = false;
  };
  ExitFlags exit_flags() const {
    return {run_->ready_for_interrupt_injection != 0, run_->if_flag != 0,
            run_->request_interrupt_window != 0};
  }
  void RestoreExitFlags(const ExitFlags& f) {
    run_->ready_for_interrupt_injection = f.ready_for_interrupt ? 1 : 0;
    run_->if_flag = f.if_flag ? 1 : 0;
    run_->request_interrupt_window = f.window_requested ? 1 : 0;
  }
  absl::Status InjectInterrupt(uint8_t vector);
  // Makes the next (or current, if set from a signal handler) KVM_RUN return at once.
  void SetImmediateExit(bool on) { run_->immediate_exit = on ? 1 : 0; }

  absl::StatusOr<kvm_regs> GetRegs() const;
  absl::Status SetRegs(const kvm_regs& r);
  absl::StatusOr<kvm_sregs> GetSregs() const;
  absl::Status SetSregs(const kvm_sregs& s);
  absl::Status SetCpuid(const std::vector<kvm_cpuid_entry2>& entries);

  // Generic get/set for the state ioctls used by snapshots.
  absl::Status Ioctl(unsigned long request, void* arg, const char* what) const;

 private:
  friend class Vm;
  Vcpu(Fd fd, kvm_run* run, int mmap_size) : fd_(std::move(fd)), run_(run), mmap_size_(mmap_size) {}
  Fd fd_;
  kvm_run* run_ = nullptr;
  int mmap_size_ = 0;
};

class Vm {
 public:
  static absl::StatusOr<Vm> Create(const Kvm& kvm);
  int fd() const { return fd_.get(); }

  absl::Status SetMemoryRegion(uint32_t slot, uint64_t guest_phys, uint64_t size, void* host,
                               bool log_dirty);
  absl::StatusOr<Vcpu> CreateVcpu(const Kvm& kvm, int id);
  // Sends the listed MSRs to userspace as MsrRead/MsrWriteExit; all others stay in KVM.
  absl::Status FilterMsrsToUserspace(const std::vector<uint32_t>& msrs);
  // Returns (and clears) KVM's dirty bitmap for a slot: one bit per 4 KiB page.
  absl::StatusOr<std::vector<uint64_t>> GetDirtyLog(uint32_t slot, uint64_t size);

 private:
  explicit Vm(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace ftd::vmm
