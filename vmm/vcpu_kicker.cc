#include "vmm/vcpu_kicker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_format.h"

namespace ftd::vmm {
namespace {

thread_local kvm_run* tls_run = nullptr;

void OnKick(int) {
  if (tls_run != nullptr) tls_run->immediate_exit = 1;
}

}  // namespace

int KickSignal() { return SIGRTMIN + 1; }

VcpuKicker::~VcpuKicker() {
  if (timer_created_) timer_delete(timer_);
  if (attached_ && pthread_equal(thread_, pthread_self())) tls_run = nullptr;
}

absl::Status VcpuKicker::Attach(Vcpu* vcpu) {
  struct sigaction sa {};
  sa.sa_handler = OnKick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  if (sigaction(KickSignal(), &sa, nullptr) != 0) {
    return absl::InternalError(absl::StrFormat("sigaction: %s", strerror(errno)));
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, KickSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  tls_run = vcpu->run();
  thread_ = pthread_self();
  attached_ = true;
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = KickSignal();
  sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0) {
    return absl::InternalError(absl::StrFormat("timer_create: %s", strerror(errno)));
  }
  timer_created_ = true;
  return absl::OkStatus();
}

void VcpuKicker::KickNow() {
  if (attached_) pthread_kill(thread_, KickSignal());
}

void VcpuKicker::KickAfter(uint64_t delay_ns) {
  if (!timer_created_) return;
  itimerspec its{};
  if (delay_ns == 0) {
    timer_settime(timer_, 0, &its, nullptr);
    return;
  }
  its.it_value.tv_sec = static_cast<time_t>(delay_ns / 1'000'000'000);
  its.it_value.tv_nsec = static_cast<long>(delay_ns % 1'000'000'000);
  timer_settime(timer_, 0, &its, nullptr);
}

}  // namespace ftd::vmm
