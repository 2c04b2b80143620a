#include "replay/debug/gdb_command.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "replay/debug/gdb_packet.h"

namespace ftd::replay::debug {
namespace {

using Kind = Command::Kind;

absl::Status Malformed(std::string_view payload) {
  // Enough of the packet to recognise it in a log; a hostile one can be 64 KiB long.
  constexpr size_t kShown = 40;
  return absl::InvalidArgumentError(absl::StrFormat(
      "malformed gdb packet \"%s%s\"", absl::CHexEscape(std::string(payload.substr(0, kShown))),
      payload.size() > kShown ? "..." : ""));
}

// Splits at the first `sep`; nullopt if there is none.
std::optional<std::pair<std::string_view, std::string_view>> Split(std::string_view s, char sep) {
  size_t at = s.find(sep);
  if (at == std::string_view::npos) return std::nullopt;
  return std::pair(s.substr(0, at), s.substr(at + 1));
}

// "addr,length" as m, M, X and qXfer (offset,length) carry them.
bool ParseAddrLength(std::string_view s, uint64_t* addr, uint64_t* length) {
  auto parts = Split(s, ',');
  if (!parts) return false;
  auto a = ParseHexU64(parts->first);
  auto l = ParseHexU64(parts->second);
  if (!a || !l) return false;
  *addr = *a;
  *length = *l;
  return true;
}

bool ParseRegno(std::string_view s, int* regno) {
  auto v = ParseHexU64(s);
  if (!v || *v > 0x7fffffff) return false;
  *regno = static_cast<int>(*v);
  return true;
}

// One id of a thread-id: hex, or -1 for "all".
std::optional<int64_t> ParseIdPart(std::string_view s) {
  if (s == "-1") return -1;
  auto v = ParseHexU64(s);
  if (!v || *v > 0x7fffffff) return std::nullopt;
  return static_cast<int64_t>(*v);
}

// Whether thread-id `s` ("1", "-1", "0", "p1.1", "p1.-1", "p1") includes our only thread,
// thread 1; nullopt if it is not a thread-id. The guest is one process, so any pid is ours.
std::optional<bool> IncludesThreadOne(std::string_view s) {
  if (s.starts_with("p")) {
    auto parts = Split(s.substr(1), '.');
    if (!parts) return ParseIdPart(s.substr(1)) ? std::optional(true) : std::nullopt;
    if (!ParseIdPart(parts->first)) return std::nullopt;
    s = parts->second;
  }
  auto tid = ParseIdPart(s);
  if (!tid) return std::nullopt;
  return *tid == -1 || *tid == 0 || *tid == 1;
}

// c/s/C/S: an optional signal (ignored: a guest has no signals to deliver) and resume address.
absl::StatusOr<Command> ParseResume(std::string_view payload, Kind kind, bool with_signal) {
  Command cmd;
  cmd.kind = kind;
  std::string_view rest = payload.substr(1);
  if (with_signal) {
    auto parts = Split(rest, ';');
    auto sig = ParseHexU64(parts ? parts->first : rest);
    if (!sig || *sig > 0xff) return Malformed(payload);
    rest = parts ? parts->second : std::string_view();
    if (parts && rest.empty()) return Malformed(payload);
  }
  if (!rest.empty()) {
    cmd.resume_addr = ParseHexU64(rest);
    if (!cmd.resume_addr) return Malformed(payload);
  }
  return cmd;
}

// vCont;action[:thread-id];... We have one thread, so the first action that includes it decides.
// 'r' (range step) may be done as a single step, as the protocol allows; 't' does not resume.
absl::StatusOr<Command> ParseVCont(std::string_view payload) {
  std::string_view rest = payload.substr(5);  // past "vCont"
  if (rest.size() < 2 || rest[0] != ';') return Malformed(payload);
  rest.remove_prefix(1);
  for (;;) {
    auto next = Split(rest, ';');
    std::string_view action = next ? next->first : rest;
    std::string_view args;
    std::optional<bool> applies = true;
    if (auto colon = Split(action, ':')) {
      action = colon->first;
      applies = IncludesThreadOne(colon->second);
      if (!applies) return Malformed(payload);
    }
    if (action.empty()) return Malformed(payload);
    args = action.substr(1);
    bool step;
    switch (action[0]) {
      case 'c':
      case 's':
      case 't':
        if (!args.empty()) return Malformed(payload);
        step = action[0] == 's';
        break;
      case 'C':
      case 'S': {
        auto sig = ParseHexU64(args);
        if (!sig || *sig > 0xff) return Malformed(payload);
        step = action[0] == 'S';
        break;
      }
      case 'r': {
        uint64_t start, end;
        if (!ParseAddrLength(args, &start, &end)) return Malformed(payload);
        step = true;
        break;
      }
      default:
        return Malformed(payload);
    }
    if (*applies && action[0] != 't') {
      Command cmd;
      cmd.kind = Kind::kVCont;
      cmd.step = step;
      return cmd;
    }
    if (!next) break;
    rest = next->second;
  }
  // Nothing resumes thread 1: gdb never asks that of a one-thread target.
  return Malformed(payload);
}

absl::StatusOr<Command> ParseBreakpoint(std::string_view payload) {
  Command cmd;
  cmd.kind = payload[0] == 'Z' ? Kind::kInsertBreakpoint : Kind::kRemoveBreakpoint;
  std::string_view rest = payload.substr(1);
  // Conditions and commands (";X...") only come if the stub announced them; they are ignored.
  if (auto cond = Split(rest, ';')) rest = cond->first;
  auto type_rest = Split(rest, ',');
  if (!type_rest) return Malformed(payload);
  auto type = ParseHexU64(type_rest->first);
  if (!type || *type > Command::kAccessWatch) return Malformed(payload);
  cmd.bp_type = static_cast<int>(*type);
  if (!ParseAddrLength(type_rest->second, &cmd.addr, &cmd.bp_kind)) return Malformed(payload);
  return cmd;
}

absl::StatusOr<Command> ParseMemory(std::string_view payload) {
  Command cmd;
  cmd.kind = payload[0] == 'm' ? Kind::kReadMemory : Kind::kWriteMemory;
  std::string_view range = payload.substr(1);
  std::string_view data;
  if (payload[0] != 'm') {
    auto parts = Split(range, ':');
    if (!parts) return Malformed(payload);
    range = parts->first;
    data = parts->second;
  }
  if (!ParseAddrLength(range, &cmd.addr, &cmd.length) || cmd.length > kMaxMemoryTransfer) {
    return Malformed(payload);
  }
  if (payload[0] == 'M') {
    auto bytes = FromHex(data);
    if (!bytes) return Malformed(payload);
    cmd.data = std::move(*bytes);
  } else if (payload[0] == 'X') {
    cmd.data.assign(data.begin(), data.end());
  }
  if (payload[0] != 'm' && cmd.data.size() != cmd.length) return Malformed(payload);
  return cmd;
}

absl::StatusOr<Command> ParseQuery(std::string_view payload) {
  Command cmd;
  if (payload == "qSupported" || payload.starts_with("qSupported:")) {
    cmd.kind = Kind::kQuerySupported;
    if (payload.size() > 10) cmd.text = std::string(payload.substr(11));
  } else if (payload == "qC") {
    cmd.kind = Kind::kCurrentThread;
  } else if (payload == "qAttached" || payload.starts_with("qAttached:")) {
    cmd.kind = Kind::kAttached;
  } else if (payload == "qfThreadInfo") {
    cmd.kind = Kind::kThreadInfoFirst;
  } else if (payload == "qsThreadInfo") {
    cmd.kind = Kind::kThreadInfoNext;
  } else if (payload.starts_with("qXfer:features:read:")) {
    auto parts = Split(payload.substr(20), ':');
    if (!parts || parts->first.empty() ||
        !ParseAddrLength(parts->second, &cmd.offset, &cmd.length)) {
      return Malformed(payload);
    }
    cmd.kind = Kind::kXferFeatures;
    cmd.annex = std::string(parts->first);
  } else if (payload.starts_with("qRcmd,")) {
    auto text = FromHex(payload.substr(6));
    if (!text) return Malformed(payload);
    cmd.kind = Kind::kMonitor;
    cmd.text.assign(text->begin(), text->end());
  }
  return cmd;
}

}  // namespace

absl::StatusOr<Command> ParseCommand(std::string_view payload) {
  Command cmd;
  if (payload.empty()) return cmd;
  std::string_view rest = payload.substr(1);
  switch (payload[0]) {
    case '?':
      if (rest.empty()) cmd.kind = Kind::kHaltReason;
      return cmd;
    case 'g':
      if (rest.empty()) cmd.kind = Kind::kReadRegisters;
      return cmd;
    case 'k':
      if (rest.empty()) cmd.kind = Kind::kKill;
      return cmd;
    case 'G': {
      auto bytes = FromHex(rest);
      if (!bytes || bytes->empty()) return Malformed(payload);
      cmd.kind = Kind::kWriteRegisters;
      cmd.data = std::move(*bytes);
      return cmd;
    }
    case 'p':
      if (!ParseRegno(rest, &cmd.regno)) return Malformed(payload);
      cmd.kind = Kind::kReadRegister;
      return cmd;
    case 'P': {
      auto parts = Split(rest, '=');
      if (!parts || !ParseRegno(parts->first, &cmd.regno)) return Malformed(payload);
      auto value = FromHex(parts->second);
      if (!value || value->empty()) return Malformed(payload);
      cmd.kind = Kind::kWriteRegister;
      cmd.value = std::move(*value);
      return cmd;
    }
    case 'm':
    case 'M':
    case 'X':
      return ParseMemory(payload);
    case 'c':
    case 's':
      return ParseResume(payload, payload[0] == 'c' ? Kind::kContinue : Kind::kStep, false);
    case 'C':
    case 'S':
      return ParseResume(payload, payload[0] == 'C' ? Kind::kContinue : Kind::kStep, true);
    case 'b':
      if (rest == "c") cmd.kind = Kind::kReverseContinue;
      if (rest == "s") cmd.kind = Kind::kReverseStep;
      return cmd;
    case 'Z':
    case 'z':
      return ParseBreakpoint(payload);
    case 'v':
      if (payload == "vCont?") {
        cmd.kind = Kind::kVContQuery;
        return cmd;
      }
      if (payload.starts_with("vCont;") || payload == "vCont") return ParseVCont(payload);
      return cmd;
    case 'q':
      return ParseQuery(payload);
    case 'Q':
      if (payload == "QStartNoAckMode") cmd.kind = Kind::kStartNoAckMode;
      return cmd;
    case 'D':
      if (!rest.empty() && (rest[0] != ';' || !ParseHexU64(rest.substr(1)))) {
        return Malformed(payload);
      }
      cmd.kind = Kind::kDetach;
      return cmd;
    case 'H':
      if (rest.size() < 2 || (rest[0] != 'g' && rest[0] != 'c') ||
          !IncludesThreadOne(rest.substr(1))) {
        return Malformed(payload);
      }
      cmd.kind = Kind::kSetThread;
      cmd.thread_op = rest[0];
      cmd.thread = std::string(rest.substr(1));
      return cmd;
    case 'T':
      if (!IncludesThreadOne(rest)) return Malformed(payload);
      cmd.kind = Kind::kThreadAlive;
      cmd.thread = std::string(rest);
      return cmd;
    default:
      return cmd;
  }
}

}  // namespace ftd::replay::debug
