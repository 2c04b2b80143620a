// Foundation benchmark: compute under ftd vs natively on the host (and under QEMU
// TCG), exits per second of a port-I/O loop, and time from `ftd run` to the guest's
// first console byte. Prints a table and a JSON object; never a pass/fail.
//
//   ftd_bench [--iters N] [--reps R] [--json FILE]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "compute_kernel.h"
#include "tests/support/process.h"

namespace {

using ftd::testing::ProcessResult;
using ftd::testing::RunProcess;

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

std::string Guest(const std::string& name) {
  return std::string(FTD_GUEST_DIR) + "/" + name + ".elf";
}

std::vector<std::string> FtdRun(const std::string& guest, const std::string& cmdline) {
  return {FTD_BINARY, "run", "--guest", Guest(guest), "--cmdline", cmdline, "--no-stdin"};
}

std::vector<std::string> QemuRun(const std::string& guest, const std::string& cmdline) {
  return {"qemu-system-x86_64",
          "-accel",
          "tcg",
          "-m",
          "64",
          "-nodefaults",
          "-display",
          "none",
          "-no-reboot",
          "-serial",
          "stdio",
          "-device",
          "isa-debug-exit,iobase=0xf4,iosize=0x04",
          "-kernel",
          Guest(guest),
          "-append",
          cmdline};
}

// Best (minimum) wall time over reps; -1 when any run fails.
double BestWall(const std::vector<std::string>& argv, int reps, int expect_code,
                ProcessResult* last = nullptr) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    ProcessResult r = RunProcess(argv, 600);
    if (r.exit_code != expect_code) {
      std::fprintf(stderr, "bench: %s exited %d: %s\n", argv[0].c_str(), r.exit_code,
                   r.err.c_str());
      return -1;
    }
    best = std::min(best, r.wall_s);
    if (last) *last = r;
  }
  return best;
}

std::string Num(double v, const char* fmt = "%.4g") {
  if (v < 0) return "null";
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iters = 30'000'000;
  uint64_t size = 1 << 20;
  uint64_t io_iters = 100'000;
  int reps = 3;
  std::string json_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--iters")
      iters = std::stoull(argv[i + 1]);
    else if (a == "--io-iters")
      io_iters = std::stoull(argv[i + 1]);
    else if (a == "--reps")
      reps = std::stoi(argv[i + 1]);
    else if (a == "--json")
      json_path = argv[i + 1];
  }
  const bool kvm = ftd::testing::KvmAvailable();
  // Which KVM: the numbers mean different things on PVM and on nested SVM under QEMU TCG.
  // One rule for every benchmark: bench/kvm_module.sh.
  std::string kvm_module = ftd::testing::RunProcess({"sh", FTD_BENCH_DIR "/kvm_module.sh"}).out;
  while (!kvm_module.empty() && kvm_module.back() == '\n') kvm_module.pop_back();
  if (kvm_module.empty()) kvm_module = "none";
  const bool qemu = ftd::testing::HaveProgram("qemu-system-x86_64");
  const std::string compute_args =
      "iters=" + std::to_string(iters) + " size=" + std::to_string(size);

  // Native: the same kernel source, in this process.
  double native = 1e30;
  uint64_t native_result = 0;
  for (int i = 0; i < reps; ++i) {
    std::vector<uint64_t> buf(size / 8);
    double t0 = Now();
    native_result = ftd_compute(iters, buf.data(), buf.size());
    native = std::min(native, Now() - t0);
  }

  double ftd_hello = -1, ftd_compute_s = -1, ftd_io = -1, first_byte = -1;
  if (kvm) {
    ftd_hello = BestWall(FtdRun("hello", ""), reps, 0);
    ftd_compute_s = BestWall(FtdRun("compute", compute_args), reps, 0);
    ftd_io = BestWall(FtdRun("ioloop", "iters=" + std::to_string(io_iters)), reps, 0);
    first_byte = 1e30;
    for (int i = 0; i < reps + 2; ++i) {
      ProcessResult r = RunProcess(FtdRun("hello", ""), 60);
      if (r.first_out_s >= 0) first_byte = std::min(first_byte, r.first_out_s);
    }
    if (first_byte > 1e29) first_byte = -1;
  }
  double qemu_hello = -1, qemu_compute = -1;
  if (qemu) {
    qemu_hello = BestWall(QemuRun("hello", ""), reps, 1);
    qemu_compute = BestWall(QemuRun("compute", compute_args), 1, 1);
  }
  auto net = [](double total, double base) {
    return (total < 0 || base < 0) ? -1 : std::max(total - base, 1e-9);
  };
  double ftd_guest_compute = net(ftd_compute_s, ftd_hello);
  double qemu_guest_compute = net(qemu_compute, qemu_hello);
  double ratio_ftd = ftd_guest_compute < 0 ? -1 : ftd_guest_compute / native;
  double ratio_qemu = qemu_guest_compute < 0 ? -1 : qemu_guest_compute / native;
  double io_net = net(ftd_io, ftd_hello);
  double exits_per_s = io_net < 0 ? -1 : io_iters / io_net;

  std::printf("%-44s %14s\n", "measure", "value");
  std::printf("%-44s %14s\n", "compute iters", std::to_string(iters).c_str());
  std::printf("%-44s %14s\n", "native compute (s)", Num(native).c_str());
  std::printf("%-44s %14s\n", "ftd compute, boot excluded (s)", Num(ftd_guest_compute).c_str());
  std::printf("%-44s %14s\n", "ftd / native", Num(ratio_ftd, "%.3f").c_str());
  std::printf("%-44s %14s\n", "qemu tcg compute, boot excluded (s)",
              Num(qemu_guest_compute).c_str());
  std::printf("%-44s %14s\n", "qemu tcg / native", Num(ratio_qemu, "%.3f").c_str());
  std::printf("%-44s %14s\n", "port-I/O exits per second (ring 3)",
              Num(exits_per_s, "%.0f").c_str());
  std::printf("%-44s %14s\n", "ftd run -> first console byte (ms)",
              Num(first_byte < 0 ? -1 : first_byte * 1e3).c_str());
  std::printf("%-44s %14s\n", "ftd run hello, whole process (ms)",
              Num(ftd_hello < 0 ? -1 : ftd_hello * 1e3).c_str());
  std::printf("%-44s %14s\n", "KVM module", kvm_module.c_str());
  if (!kvm) std::printf("(no /dev/kvm on this host: ftd figures are null)\n");

  char json[2048];
  std::snprintf(json, sizeof json,
                "{\"kvm\": %s, \"kvm_module\": \"%s\", \"compute_iters\": %llu, \"compute_size\": "
                "%llu, \"native_result\": \"0x%016llx\", "
                "\"native_compute_s\": %s, \"ftd_compute_s\": %s, \"ftd_over_native\": %s, "
                "\"qemu_tcg_compute_s\": %s, \"qemu_tcg_over_native\": %s, \"io_iters\": %llu, "
                "\"exits_per_s\": %s, \"first_console_byte_ms\": %s, \"ftd_hello_process_ms\": %s}",
                kvm ? "true" : "false", kvm_module.c_str(), static_cast<unsigned long long>(iters),
                static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(native_result), Num(native).c_str(),
                Num(ftd_guest_compute).c_str(), Num(ratio_ftd).c_str(),
                Num(qemu_guest_compute).c_str(), Num(ratio_qemu).c_str(),
                static_cast<unsigned long long>(io_iters), Num(exits_per_s, "%.0f").c_str(),
                Num(first_byte < 0 ? -1 : first_byte * 1e3).c_str(),
                Num(ftd_hello < 0 ? -1 : ftd_hello * 1e3).c_str());
  std::printf("%s\n", json);
  if (!json_path.empty()) std::ofstream(json_path) << json << "\n";
  return 0;
}
