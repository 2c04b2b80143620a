#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "vmm/kvm_abi.h"

namespace ftd::vmm {
namespace {

absl::Status Errno(const char* what) {
  int e = errno;
  std::string msg = absl::StrFormat("%s failed: %s (errno %d)", what, strerror(e), e);
  if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(msg);
  if (e == ENOENT || e == ENODEV) return absl::NotFoundError(msg);
  if (e == EINVAL || e == E2BIG) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

bool Kvm::Available(const char* path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

absl::StatusOr<Kvm> Kvm::Open(const char* path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) {
      return absl::NotFoundError(absl::StrFormat(
          "%s does not exist: this host has no KVM (load kvm_intel/kvm_amd/kvm_pvm, or run on a "
          "host with hardware virtualization)",
          path));
    }
    if (e == EACCES || e == EPERM) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "cannot open %s: permission denied (run as root or add the user to group 'kvm')", path));
    }
    errno = e;
    return Errno(path);
  }
  Kvm kvm;
  kvm.fd_ = Fd(fd);
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: KVM API version %d, ftd needs %d", path, version, KVM_API_VERSION));
  }
  kvm.vcpu_mmap_size_ = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (kvm.vcpu_mmap_size_ < static_cast<int>(sizeof(kvm_run)))
    return Errno("KVM_GET_VCPU_MMAP_SIZE");
  return kvm;
}

int Kvm::CheckExtension(int cap) const { return ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

absl::StatusOr<std::vector<kvm_cpuid_entry2>> Kvm::SupportedCpuid() const {
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    std::vector<uint64_t> buf((sizeof(KvmCpuid2Header) + n * sizeof(kvm_cpuid_entry2) + 7) / 8);
    auto* c = reinterpret_cast<KvmCpuid2Header*>(buf.data());
    c->nent = n;
    if (ioctl(fd_.get(), kKvmGetSupportedCpuid, c) == 0) {
      auto* entries = reinterpret_cast<const kvm_cpuid_entry2*>(c + 1);
      return std::vector<kvm_cpuid_entry2>(entries, entries + c->nent);
    }
    if (errno != E2BIG) return Errno("KVM_GET_SUPPORTED_CPUID");
  }
  return absl::InternalError("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

absl::StatusOr<Vm> Vm::Create(const Kvm& kvm) {
  int fd = ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  if (fd < 0) return Errno("KVM_CREATE_VM");
  Vm vm{Fd(fd)};
  // Intel VMX needs a TSS region below 4 GiB; harmless elsewhere (the platform probe sets it).
  ioctl(fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
  return vm;
}

absl::Status Vm::SetMemoryRegion(uint32_t slot, uint64_t guest_phys, uint64_t size, void* host,
                                 bool log_dirty) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  r.guest_phys_addr = guest_phys;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) != 0)
    return Errno("KVM_SET_USER_MEMORY_REGION");
  return absl::OkStatus();
}

absl::StatusOr<Vcpu> Vm::CreateVcpu(const Kvm& kvm, int id) {
  int fd = ioctl(fd_.get(), KVM_CREATE_VCPU, id);
  if (fd < 0) return Errno("KVM_CREATE_VCPU");
  Fd owned(fd);
  void* p = mmap(nullptr, kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Errno("mmap of kvm_run");
  return Vcpu(std::move(owned), static_cast<kvm_run*>(p), kvm.vcpu_mmap_size());
}

absl::Status Vm::FilterMsrsToUserspace(const std::vector<uint32_t>& msrs) {
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
  cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
  if (ioctl(fd_.get(), KVM_ENABLE_CAP, &cap) != 0)
    return Errno("KVM_ENABLE_CAP(X86_USER_SPACE_MSR)");
  if (msrs.size() > KVM_MSR_FILTER_MAX_RANGES) {
    return absl::InvalidArgumentError("too many MSRs for the KVM MSR filter");
  }
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  // One single-MSR range per MSR; a cleared bit denies the access, which with
  // KVM_MSR_EXIT_REASON_FILTER means "exit to userspace".
  static uint8_t deny_bitmap = 0;
  for (size_t i = 0; i < msrs.size(); ++i) {
    filter.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    filter.ranges[i].nmsrs = 1;
    filter.ranges[i].base = msrs[i];
    filter.ranges[i].bitmap = &deny_bitmap;
  }
  if (ioctl(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter) != 0)
    return Errno("KVM_X86_SET_MSR_FILTER");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> Vm::GetDirtyLog(uint32_t slot, uint64_t size) {
  uint64_t pages = size / 4096;
  std::vector<uint64_t> bitmap((pages + 63) / 64, 0);
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  if (ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) != 0) return Errno("KVM_GET_DIRTY_LOG");
  return bitmap;
}

Vcpu::Vcpu(Vcpu&& o) noexcept : fd_(std::move(o.fd_)), run_(o.run_), mmap_size_(o.mmap_size_) {
  o.run_ = nullptr;
}

Vcpu::~Vcpu() {
  if (run_ != nullptr) munmap(run_, mmap_size_);
}

absl::Status Vcpu::Ioctl(unsigned long request, void* arg, const char* what) const {
  if (ioctl(fd_.get(), request, arg) != 0) return Errno(what);
  return absl::OkStatus();
}

absl::StatusOr<kvm_regs> Vcpu::GetRegs() const {
  kvm_regs r{};
  if (auto s = Ioctl(KVM_GET_REGS, &r, "KVM_GET_REGS"); !s.ok()) return s;
  return r;
}
absl::Status Vcpu::SetRegs(const kvm_regs& r) {
  return Ioctl(KVM_SET_REGS, const_cast<kvm_regs*>(&r), "KVM_SET_REGS");
}
absl::StatusOr<kvm_sregs> Vcpu::GetSregs() const {
  kvm_sregs s{};
  if (auto st = Ioctl(KVM_GET_SREGS, &s, "KVM_GET_SREGS"); !st.ok()) return st;
  return s;
}
absl::Status Vcpu::SetSregs(const kvm_sregs& s) {
  return Ioctl(KVM_SET_SREGS, const_cast<kvm_sregs*>(&s), "KVM_SET_SREGS");
}

absl::Status Vcpu::SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  std::vector<uint64_t> buf(
      (sizeof(KvmCpuid2Header) + entries.size() * sizeof(kvm_cpuid_entry2) + 7) / 8);
  auto* c = reinterpret_cast<KvmCpuid2Header*>(buf.data());
  c->nent = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), reinterpret_cast<kvm_cpuid_entry2*>(c + 1));
  return Ioctl(kKvmSetCpuid2, c, "KVM_SET_CPUID2");
}

absl::Status Vcpu::InjectInterrupt(uint8_t vector) {
  kvm_interrupt irq{};
  irq.irq = vector;
  return Ioctl(KVM_INTERRUPT, &irq, "KVM_INTERRUPT");
}

absl::StatusOr<VcpuExit> Vcpu::Run() {
  if (ioctl(fd_.get(), KVM_RUN, 0) != 0) {
    if (errno == EINTR || errno == EAGAIN) return VcpuExit{InterruptedExit{}};
    return Errno("KVM_RUN");
  }
  kvm_run* r = run_;
  switch (r->exit_reason) {
    case KVM_EXIT_IO: {
      IoExit io;
      io.port = r->io.port;
      io.size = r->io.size;
      io.is_write = r->io.direction == KVM_EXIT_IO_OUT;
      io.count = r->io.count;
      io.data = std::span<uint8_t>(reinterpret_cast<uint8_t*>(r) + r->io.data_offset,
                                   static_cast<size_t>(r->io.size) * r->io.count);
      return VcpuExit{io};
    }
    case KVM_EXIT_MMIO: {
      MmioExit m;
      m.addr = r->mmio.phys_addr;
      m.is_write = r->mmio.is_write != 0;
      m.data = std::span<uint8_t>(r->mmio.data, std::min<uint32_t>(r->mmio.len, 8));
      return VcpuExit{m};
    }
    case KVM_EXIT_HLT:
      return VcpuExit{HltExit{}};
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return VcpuExit{IrqWindowExit{}};
    case KVM_EXIT_SHUTDOWN:
      return VcpuExit{ShutdownExit{}};
    case KVM_EXIT_INTR:
      return VcpuExit{InterruptedExit{}};
    case KVM_EXIT_X86_RDMSR:
      r->msr.error = 0;
      return VcpuExit{
          MsrReadExit{r->msr.index, reinterpret_cast<uint64_t*>(&r->msr.data), &r->msr.error}};
    case KVM_EXIT_X86_WRMSR:
      r->msr.error = 0;
      return VcpuExit{MsrWriteExit{r->msr.index, r->msr.data, &r->msr.error}};
    case KVM_EXIT_INTERNAL_ERROR:
      return VcpuExit{InternalErrorExit{r->internal.suberror}};
    case KVM_EXIT_FAIL_ENTRY:
      return VcpuExit{FailEntryExit{r->fail_entry.hardware_entry_failure_reason}};
    case KVM_EXIT_DEBUG:
      return VcpuExit{DebugTrapExit{r->debug.arch.pc, r->debug.arch.dr6, r->debug.arch.dr7,
                                    r->debug.arch.exception}};
    default:
      return VcpuExit{UnknownExit{r->exit_reason}};
  }
}

}  // namespace ftd::vmm
