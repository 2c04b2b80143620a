#include "vmm/exit_handler.h"

#include <cstring>

#include "spdlog/spdlog.h"

namespace ftd::vmm {
namespace {

constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrTscAdjust = 0x3b;
constexpr uint32_t kMsrTscAux = 0xc0000103;

ExitResult HandleIo(const IoExit& io, ExitContext& ctx) {
  if (io.size != 1 && io.size != 2 && io.size != 4) {
    return {ExitAction::kError, "port I/O of impossible size " + std::to_string(io.size)};
  }
  if (io.data.size() != static_cast<size_t>(io.size) * io.count) {
    return {ExitAction::kError, "port I/O data does not match size*count"};
  }
  for (uint32_t i = 0; i < io.count; ++i) {
    std::span<uint8_t> chunk = io.data.subspan(static_cast<size_t>(i) * io.size, io.size);
    bool claimed = io.is_write ? ctx.pio->Write(io.port, chunk) : ctx.pio->Read(io.port, chunk);
    if (!claimed) {
      if (!io.is_write) std::memset(chunk.data(), 0xff, chunk.size());
      if (ctx.unclaimed->FirstTime('p', io.port)) {
        spdlog::warn("guest {} port {:#x} ({} bytes): no device there; {}",
                     io.is_write ? "wrote" : "read", io.port, io.size,
                     io.is_write ? "ignored" : "reads as all ones");
      }
    }
  }
  return {};
}

ExitResult HandleMmio(const MmioExit& m, ExitContext& ctx) {
  bool claimed = m.is_write ? ctx.mmio->Write(m.addr, m.data) : ctx.mmio->Read(m.addr, m.data);
  if (!claimed) {
    if (!m.is_write) std::memset(m.data.data(), 0xff, m.data.size());
    if (ctx.unclaimed->FirstTime('m', m.addr)) {
      spdlog::warn("guest {} MMIO {:#x} ({} bytes): no device there; {}",
                   m.is_write ? "wrote" : "read", m.addr, m.data.size(),
                   m.is_write ? "ignored" : "reads as all ones");
    }
  }
  return {};
}

}  // namespace

bool TimeMsrs::Read(uint32_t index, uint64_t* value) {
  switch (index) {
    case kMsrTsc:
      *value = clock_->MonotonicNs();
      return true;
    case kMsrTscAdjust:
    case kMsrTscAux:
      *value = 0;
      return true;
    default:
      return false;
  }
}

bool TimeMsrs::Write(uint32_t index, uint64_t) {
  return index == kMsrTsc || index == kMsrTscAdjust || index == kMsrTscAux;
}

ExitResult HandleExit(const VcpuExit& exit, ExitContext& ctx) {
  if (const auto* io = std::get_if<IoExit>(&exit)) return HandleIo(*io, ctx);
  if (const auto* m = std::get_if<MmioExit>(&exit)) return HandleMmio(*m, ctx);
  if (std::holds_alternative<HltExit>(exit)) return {ExitAction::kHalt, {}};
  if (std::holds_alternative<IrqWindowExit>(exit)) return {ExitAction::kIrqWindow, {}};
  if (std::holds_alternative<InterruptedExit>(exit)) return {ExitAction::kInterrupted, {}};
  if (std::holds_alternative<ShutdownExit>(exit)) return {ExitAction::kShutdown, {}};
  if (std::holds_alternative<DebugTrapExit>(exit)) return {ExitAction::kDebugTrap, {}};
  if (const auto* r = std::get_if<MsrReadExit>(&exit)) {
    uint64_t v = 0;
    bool ok = ctx.msrs->Read(r->index, &v);
    *r->data = ok ? v : 0;
    *r->error = ok ? 0 : 1;
    return {};
  }
  if (const auto* w = std::get_if<MsrWriteExit>(&exit)) {
    *w->error = ctx.msrs->Write(w->index, w->data) ? 0 : 1;
    return {};
  }
  return {ExitAction::kError, DescribeExit(exit)};
}

}  // namespace ftd::vmm
