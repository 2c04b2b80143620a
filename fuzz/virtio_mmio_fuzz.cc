// The virtio-mmio register file of virtio-blk and virtio-net, driven by arbitrary
// register accesses, ring contents, host completions and received frames. Any crash,
// sanitizer report or hang is a bug: guest input must never take the VMM down. Each
// step also checks that the saved state restores (the invariants Restore() enforces hold
// after whatever the guest did).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "spdlog/spdlog.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/devices/virtio_net.h"

namespace {

using namespace ftd::vmm;

class NullIrq final : public IrqSink {
 public:
  void SetIrq(unsigned, bool) override {}
};

class RecordingBackend final : public BlockBackend {
 public:
  void Submit(BlockRequest r) override {
    if (pending.size() < 64) pending.push_back(std::move(r));
  }
  std::vector<BlockRequest> pending;
};

constexpr uint64_t kMem = 2 << 20;
constexpr uint64_t kFuzzedWindow = 0x20000;  // ring and buffer bytes the fuzzer may write

GuestMemory& Memory() {
  static GuestMemory* mem = [] {
    spdlog::set_level(spdlog::level::off);
    return new GuestMemory(std::move(*GuestMemory::Create(kMem)));
  }();
  return *mem;
}

// A state Save() produced must restore: anything else loses a machine at failover.
[[noreturn]] void RestoreFailed(const absl::Status& s) {
  std::fprintf(stderr, "saved state does not restore: %s\n", std::string(s.message()).c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftd::fuzz::Input in(data, size);
  GuestMemory& mem = Memory();
  std::memset(mem.host(), 0, kFuzzedWindow);
  NullIrq irq;
  RecordingBackend backend;
  auto blk = std::make_unique<VirtioBlk>(&mem, &irq, 10, &backend,
                                         VirtioBlkConfig{64 * 512, false, "fuzz"});
  auto net = std::make_unique<VirtioNet>(&mem, &irq, 11, MacAddress{2, 0, 0, 0, 0, 1},
                                         [](std::span<const uint8_t>) {});
  for (int step = 0; step < 512 && !in.empty(); ++step) {
    uint8_t op = in.Take<uint8_t>();
    bool on_net = op & 0x80;
    VirtioMmio* t = on_net ? net->transport() : blk->transport();
    switch (op & 0x7) {
      case 0:
      case 1:
      case 2: {  // register write; mostly aligned 32-bit, sometimes anything
        uint16_t off = in.Take<uint16_t>() % 0x210;
        if (op & 0x40) off &= 0xfc;
        uint32_t v = in.Take<uint32_t>();
        size_t n = (op & 0x20) ? (in.Take<uint8_t>() % 9) : 4;
        uint8_t buf[8] = {};
        std::memcpy(buf, &v, 4);
        t->Write(off, {buf, n});
        break;
      }
      case 3: {  // register read
        uint16_t off = in.Take<uint16_t>() % 0x210;
        size_t n = (op & 0x20) ? (in.Take<uint8_t>() % 9) : 4;
        uint8_t buf[8];
        t->Read(off, {buf, n});
        break;
      }
      case 4: {  // the guest writes ring or buffer memory
        uint32_t at = in.Take<uint32_t>() % kFuzzedWindow;
        auto bytes = in.TakeBytes(in.Take<uint8_t>() % 64);
        size_t n = std::min<size_t>(bytes.size(), kFuzzedWindow - at);
        (void)mem.Write(at, bytes.first(n));
        break;
      }
      case 5: {  // a block completion, for a real or a made-up request
        BlockCompletionEvent ev;
        if (!backend.pending.empty() && (op & 0x40)) {
          BlockRequest r = std::move(backend.pending.front());
          backend.pending.erase(backend.pending.begin());
          ev.request_id = r.id;
          ev.data.resize(r.kind == BlockRequest::Kind::kRead ? r.length : 0);
          if (op & 0x20) ev.data.resize(ev.data.size() / 2);  // short read
        } else {
          ev.request_id = in.Take<uint8_t>();
        }
        ev.status = in.Take<uint8_t>() % 3;
        blk->Complete(ev);
        break;
      }
      case 6: {  // a received frame of arbitrary length
        size_t n = in.Take<uint16_t>() % 2000;
        net->ReceiveFrame(std::vector<uint8_t>(n, 0x5a));
        break;
      }
      case 7: {  // save, then continue on the restored device (as after a failover)
        if (on_net) {
          auto r = VirtioNet::Restore(
              &mem, &irq, 11, [](std::span<const uint8_t>) {}, net->Save());
          if (!r.ok()) RestoreFailed(r.status());
          net = std::move(*r);
        } else if (blk->in_flight() == 0) {
          auto r = VirtioBlk::Restore(&mem, &irq, 10, &backend,
                                      VirtioBlkConfig{64 * 512, false, "fuzz"}, blk->Save());
          if (!r.ok()) RestoreFailed(r.status());
          blk = std::move(*r);
        }
        break;
      }
    }
  }
  return 0;
}
