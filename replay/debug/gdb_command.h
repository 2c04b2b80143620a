// The commands a gdb stub understands, parsed from a packet payload (already unescaped by
// PacketDecoder). A known command with malformed arguments is an error (the stub replies
// "E01"); a packet the stub does not know is kUnknown (it replies with an empty packet, which
// gdb reads as "not supported"). Parsing never throws and never trusts a length.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::replay::debug {

// Largest m/M/X transfer accepted; gdb keeps to the PacketSize the stub announces anyway.
inline constexpr uint64_t kMaxMemoryTransfer = 64 * 1024;

struct Command {
  enum class Kind {
    kUnknown,
    kQuerySupported,    // qSupported[:features]; `text` = gdb's feature list
    kHaltReason,        // ?
    kReadRegisters,     // g
    kWriteRegisters,    // G hex; `data` = the register bytes
    kReadRegister,      // p n; `regno`
    kWriteRegister,     // P n=hex; `regno`, `value`
    kReadMemory,        // m addr,len
    kWriteMemory,       // M addr,len:hex and X addr,len:bin; `data` has exactly `length` bytes
    kContinue,          // c [addr] (and C sig[;addr], the signal ignored); `resume_addr`
    kStep,              // s [addr] (and S sig[;addr]); `resume_addr`
    kReverseContinue,   // bc
    kReverseStep,       // bs
    kInsertBreakpoint,  // Z type,addr,kind; `bp_type` 0..4, `addr`, `bp_kind`
    kRemoveBreakpoint,  // z type,addr,kind
    kVContQuery,        // vCont?
    kVCont,             // vCont;action[:thread]...; `step` for the action that applies to us
    kXferFeatures,      // qXfer:features:read:annex:offset,length
    kDetach,            // D, D;pid
    kKill,              // k
    kSetThread,         // H op thread; `thread_op` 'g' or 'c', `thread`
    kCurrentThread,     // qC
    kAttached,          // qAttached[:pid]
    kThreadInfoFirst,   // qfThreadInfo
    kThreadInfoNext,    // qsThreadInfo
    kStartNoAckMode,    // QStartNoAckMode
    kThreadAlive,       // T thread; `thread`
    kMonitor,           // qRcmd,hex; `text` = the decoded monitor command
  };

  // Breakpoint types of Z/z: software, hardware, write, read and access watchpoints.
  enum BreakpointType {
    kSoftware = 0,
    kHardware = 1,
    kWriteWatch = 2,
    kReadWatch = 3,
    kAccessWatch = 4
  };

  Kind kind = Kind::kUnknown;
  uint64_t addr = 0;
  uint64_t length = 0;
  std::vector<uint8_t> data;
  int regno = -1;
  std::vector<uint8_t> value;
  int bp_type = 0;
  uint64_t bp_kind = 0;  // Z/z "kind": the breakpoint's byte length (1 for int3 on x86)
  std::optional<uint64_t> resume_addr;
  bool step = false;  // kVCont: the applying action is s (or S); else c (or C)
  std::string annex;  // kXferFeatures: e.g. "target.xml"; with `offset` and `length`
  uint64_t offset = 0;
  std::string thread;  // kSetThread, kThreadAlive: as sent, e.g. "0", "-1", "1", "p1.1"
  char thread_op = 0;
  std::string text;
};

absl::StatusOr<Command> ParseCommand(std::string_view payload);

}  // namespace ftd::replay::debug
