// Split-virtqueue parsing on arbitrary ring contents: descriptor chains pointing outside
// memory, loops, oversized lengths, nested or malformed indirect tables, available
// indexes running ahead. Pop() must return a chain whose every segment lies in RAM, or
// an error, always in bounded time.
#include <cstdint>
#include <cstring>

#include "fuzz/fuzz_input.h"
#include "vmm/virtio/virtqueue.h"

namespace {

using namespace ftd::vmm;

constexpr uint64_t kMem = 2 << 20;
constexpr uint64_t kWindow = 0x10000;

GuestMemory& Memory() {
  static GuestMemory* mem = new GuestMemory(std::move(*GuestMemory::Create(kMem)));
  return *mem;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftd::fuzz::Input in(data, size);
  GuestMemory& mem = Memory();
  std::memset(mem.host(), 0, kWindow);
  uint8_t cfg = in.Take<uint8_t>();
  Virtqueue q(256);
  q.set_num(static_cast<uint16_t>(1u << (cfg % 9)));
  // Rings inside the fuzzed window; the addresses themselves are fuzzed too (and may be
  // refused by SetReady).
  q.set_desc_addr(in.Take<uint16_t>() % kWindow);
  q.set_driver_addr(in.Take<uint16_t>() % kWindow);
  q.set_device_addr(in.Take<uint16_t>() % kWindow);
  if (!q.SetReady(mem).ok()) return 0;
  q.SetFeatures(cfg & 0x10, cfg & 0x20);
  auto rest = in.TakeBytes(kWindow);
  std::memcpy(mem.host(), rest.data(), rest.size());
  for (int i = 0; i < 300; ++i) {
    auto c = q.Pop(mem);
    if (!c.ok() || !c->has_value()) break;
    const DescChain& chain = **c;
    for (const auto* segs : {&chain.readable, &chain.writable}) {
      for (const VirtqSegment& s : *segs) {
        if (!mem.InRange(s.addr, s.len)) __builtin_trap();
      }
    }
    uint8_t b[32];
    size_t n = std::min<uint64_t>(chain.readable_len, sizeof b);
    if (!ReadFromChain(mem, chain, 0, {b, n}).ok()) __builtin_trap();
    if (!q.PushUsed(mem, chain.head, static_cast<uint32_t>(chain.writable_len)).ok()) break;
    (void)q.ShouldInterrupt(mem);
  }
  return 0;
}
