// The gdb stub's protocol layer on arbitrary bytes from a debugger connection: the decoder cuts
// any chunking of the stream into events in bounded memory, every packet either parses or gives
// an error, and register payloads decode or are refused. Properties checked on the way: a packet
// re-encoded decodes to itself, and decoded registers re-encode to what was decoded.
// The first byte seeds the chunk sizes, so the same stream is also tried split differently.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "replay/debug/gdb_command.h"
#include "replay/debug/gdb_packet.h"
#include "replay/debug/x86_64_target.h"

namespace {

using namespace ftd::replay::debug;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void TryRegisters(const Command& cmd, std::string_view payload) {
  GdbRegisters regs;
  if (cmd.kind == Command::Kind::kWriteRegisters &&
      DecodeAll(std::span<const uint8_t>(cmd.data), &regs)) {
    GdbRegisters again;
    Check(DecodeAll(EncodeAll(regs), &again) && again == regs);
  }
  if (cmd.kind == Command::Kind::kWriteRegister &&
      DecodeOne(cmd.regno, std::span<const uint8_t>(cmd.value), &regs)) {
    auto hex = EncodeOne(regs, cmd.regno);
    Check(hex && *hex == ToHex(cmd.value));
  }
  // The raw payload as hex, too: gdb's 'g'/'p' replies of another stub, or garbage.
  DecodeAll(payload, &regs);
  int regno = payload.empty() ? 0 : static_cast<uint8_t>(payload[0]) - 0x20;
  DecodeOne(regno, payload.substr(payload.empty() ? 0 : 1), &regs);
}

void OnPacket(const std::string& payload) {
  std::vector<PacketEvent> events;
  PacketDecoder fresh;
  std::string enc = EncodePacket(payload);
  fresh.Feed(std::span(reinterpret_cast<const uint8_t*>(enc.data()), enc.size()), &events);
  Check(events.size() == 1 && events[0].kind == PacketEvent::Kind::kPacket &&
        events[0].payload == payload);
  auto cmd = ParseCommand(payload);
  if (!cmd.ok()) return;
  if (cmd->kind == Command::Kind::kReadMemory || cmd->kind == Command::Kind::kWriteMemory) {
    Check(cmd->length <= kMaxMemoryTransfer);
  }
  TryRegisters(*cmd, payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftd::fuzz::Input in(data, size);
  uint32_t rng = in.Take<uint8_t>() * 2654435761u + 1;
  std::span<const uint8_t> stream = in.TakeBytes(size);
  PacketDecoder decoder;
  std::vector<PacketEvent> events;
  while (!stream.empty()) {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    size_t n = std::min<size_t>(stream.size(), 1 + rng % 64);
    decoder.Feed(stream.first(n), &events);
    stream = stream.subspan(n);
    for (const auto& e : events) {
      Check(e.payload.size() <= kMaxPacket);
      if (e.kind == PacketEvent::Kind::kPacket) OnPacket(e.payload);
    }
    events.clear();
  }
  return 0;
}
