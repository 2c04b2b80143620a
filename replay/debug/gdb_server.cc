#include "replay/debug/gdb_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "replay/debug/gdb_command.h"
#include "replay/debug/gdb_packet.h"
#include "replay/debug/x86_64_target.h"

namespace ftd::replay::debug {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrFormat("%s: %s", what, strerror(errno)));
}

// One connection: a reader thread decodes what gdb sends (an interrupt byte reaches the
// debugger at once, also while it runs); the serving thread takes packets in order.
class Connection {
 public:
  Connection(int fd, Debugger& dbg) : fd_(fd), dbg_(dbg) {
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~Connection() {
    shutdown(fd_, SHUT_RDWR);
    reader_.join();
    close(fd_);
  }

  absl::Status Serve();

 private:
  void ReadLoop();
  bool Send(const std::string& payload);
  std::optional<std::string> NextPacket();
  std::string Handle(const Command& c, bool* done);
  std::string Resume(absl::StatusOr<Stop> (Debugger::*op)(), bool forward);
  std::string StopReply() const;
  absl::StatusOr<GdbRegisters> ReadRegisters();
  std::string Monitor(const std::string& text);

  int fd_;
  Debugger& dbg_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> packets_;
  bool closed_ = false;
  bool no_ack_ = false;
  bool told_points_ = false;
  Stop last_{Stop::Kind::kPoint, 0, {}};
  std::map<uint64_t, int> z_type_;  // an execution breakpoint's Z type (0 or 1), by address
};

void Connection::ReadLoop() {
  PacketDecoder decoder;
  uint8_t buf[4096];
  for (;;) {
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) break;
    std::vector<PacketEvent> events;
    decoder.Feed({buf, static_cast<size_t>(n)}, &events);
    for (PacketEvent& e : events) {
      switch (e.kind) {
        case PacketEvent::Kind::kInterrupt:
          dbg_.Interrupt();
          break;
        case PacketEvent::Kind::kPacket: {
          std::lock_guard<std::mutex> lock(mu_);
          if (!no_ack_) (void)!write(fd_, "+", 1);
          packets_.push_back(std::move(e.payload));
          cv_.notify_all();
          break;
        }
        case PacketEvent::Kind::kBadChecksum:
        case PacketEvent::Kind::kTooLong: {
          std::lock_guard<std::mutex> lock(mu_);
          if (!no_ack_) (void)!write(fd_, "-", 1);
          break;
        }
        case PacketEvent::Kind::kAck:
        case PacketEvent::Kind::kNack:
          break;  // replies are not resent: TCP does not lose them
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

bool Connection::Send(const std::string& payload) {
  const std::string wire = EncodePacket(payload);
  std::lock_guard<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < wire.size()) {
    ssize_t n = write(fd_, wire.data() + done, wire.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> Connection::NextPacket() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !packets_.empty() || closed_; });
  if (packets_.empty()) return std::nullopt;
  std::string p = std::move(packets_.front());
  packets_.pop_front();
  return p;
}

absl::StatusOr<GdbRegisters> Connection::ReadRegisters() {
  auto regs = dbg_.Regs();
  if (!regs.ok()) return regs.status();
  auto sregs = dbg_.Sregs();
  if (!sregs.ok()) return sregs.status();
  auto fpu = dbg_.Fpu();
  if (!fpu.ok()) return fpu.status();
  return FromKvm(*regs, *sregs, *fpu);
}

std::string Connection::StopReply() const {
  switch (last_.kind) {
    case Stop::Kind::kBreakpoint: {
      auto it = z_type_.find(last_.addr);
      const bool hw = it != z_type_.end() && it->second == Command::kHardware;
      return hw ? "T05thread:1;hwbreak:;" : "T05thread:1;swbreak:;";
    }
    case Stop::Kind::kWatchpoint:
      return absl::StrFormat("T05thread:1;watch:%x;", last_.addr);
    case Stop::Kind::kBegin:
      return "T05thread:1;replaylog:begin;";
    case Stop::Kind::kEnd:
      return "T05thread:1;replaylog:end;";
    case Stop::Kind::kInterrupted:
      return "T02thread:1;";
    case Stop::Kind::kStep:
    case Stop::Kind::kPoint:
      break;
  }
  return "T05thread:1;";
}

std::string Connection::Resume(absl::StatusOr<Stop> (Debugger::*op)(), bool forward) {
  if (dbg_.options().point_granularity && !told_points_) {
    told_points_ = true;
    Send("O" + ToHex(std::string_view(
                   "ftd: this KVM cannot single-step or break in guest ring 3 (PVM): steps, "
                   "breakpoints and watchpoints work at points (exits) only\n")));
  }
  if (forward && dbg_.at_end()) {
    last_ = Stop{Stop::Kind::kEnd, 0, {}};
    return StopReply();
  }
  auto stop = (dbg_.*op)();
  if (!stop.ok()) {
    Send("O" + ToHex("ftd: " + std::string(stop.status().message()) + "\n"));
    return "E01";
  }
  last_ = *stop;
  if (stop->kind == Stop::Kind::kEnd && !stop->note.empty()) {
    Send("O" + ToHex("ftd: " + stop->note + "\n"));
  }
  return StopReply();
}

std::string Connection::Monitor(const std::string& text) {
  std::string out;
  if (text == "info" || text == "position" || text.empty()) {
    const Position& p = dbg_.position();
    out = absl::StrFormat(
        "position: %s\ncheckpoints: %u (%u bytes), every %u points; %u restored so far\n"
        "epoch hashes verified: %u\ngranularity: %s\n",
        Describe(p), dbg_.checkpoints(), dbg_.checkpoint_bytes(), dbg_.options().checkpoint_every,
        dbg_.restores(), dbg_.session().replayer().epochs_checked(),
        dbg_.options().point_granularity
            ? "points only (this KVM cannot trap in guest ring 3)"
            : "instructions (single steps, breakpoints; watchpoints compared at points, the write found by single steps)");
  } else {
    uint64_t n = 0;
    if (text.rfind("point ", 0) == 0 && absl::SimpleAtoi(text.substr(6), &n)) {
      auto s = dbg_.RunToPoint(n);
      out = s.ok() ? absl::StrFormat("at %s\n", Describe(dbg_.position()))
                   : std::string(s.status().message()) + "\n";
      if (s.ok()) last_ = *s;
    } else {
      out = "ftd monitor commands: info, point N (go to point N)\n";
    }
  }
  return ToHex(out);
}

std::string Connection::Handle(const Command& c, bool* done) {
  using K = Command::Kind;
  switch (c.kind) {
    case K::kQuerySupported:
      return "PacketSize=4000;qXfer:features:read+;ReverseStep+;ReverseContinue+;swbreak+;"
             "hwbreak+;QStartNoAckMode+;vContSupported+";
    case K::kStartNoAckMode: {
      Send("OK");
      std::lock_guard<std::mutex> lock(mu_);
      no_ack_ = true;
      return {};
    }
    case K::kHaltReason:
      return StopReply();
    case K::kReadRegisters: {
      auto r = ReadRegisters();
      return r.ok() ? EncodeAll(*r) : "E01";
    }
    case K::kReadRegister: {
      auto r = ReadRegisters();
      if (!r.ok()) return "E01";
      auto one = EncodeOne(*r, c.regno);
      return one ? *one : "E00";
    }
    case K::kWriteRegisters:
    case K::kWriteRegister: {
      // The replay cannot be changed: only a write of what is there is accepted.
      auto r = ReadRegisters();
      if (!r.ok()) return "E01";
      GdbRegisters w = *r;
      const bool ok = c.kind == K::kWriteRegisters ? DecodeAll(c.data, &w)
                                                    : DecodeOne(c.regno, c.value, &w);
      return ok && w == *r ? "OK" : "E01";
    }
    case K::kReadMemory: {
      std::vector<uint8_t> buf(c.length);
      // Page by page: gdb takes a short read, not an error, when the range runs off the map.
      size_t got = 0;
      while (got < buf.size()) {
        const size_t n = std::min<size_t>(buf.size() - got, 4096 - ((c.addr + got) & 4095));
        if (!dbg_.ReadMemory(c.addr + got, std::span<uint8_t>(buf).subspan(got, n)).ok()) break;
        got += n;
      }
      if (got == 0 && c.length != 0) return "E14";
      buf.resize(got);
      return ToHex(buf);
    }
    case K::kWriteMemory: {
      std::vector<uint8_t> now(c.data.size());
      if (!dbg_.ReadMemory(c.addr, now).ok()) return "E14";
      return now == c.data ? "OK" : "E01";
    }
    case K::kContinue:
      return Resume(&Debugger::Continue, true);
    case K::kStep:
      return Resume(&Debugger::Step, true);
    case K::kVCont:
      return Resume(c.step ? &Debugger::Step : &Debugger::Continue, true);
    case K::kReverseContinue:
      return Resume(&Debugger::ReverseContinue, false);
    case K::kReverseStep:
      return Resume(&Debugger::ReverseStep, false);
    case K::kVContQuery:
      return "vCont;c;C;s;S";
    case K::kInsertBreakpoint:
    case K::kRemoveBreakpoint: {
      vmm::HwBreakpoint bp;
      bp.addr = c.addr;
      switch (c.bp_type) {
        case Command::kSoftware:
        case Command::kHardware:
          bp.kind = vmm::HwBreakpoint::Kind::kExec;
          bp.len = 1;
          break;
        case Command::kWriteWatch:
          bp.kind = vmm::HwBreakpoint::Kind::kWrite;
          bp.len = static_cast<uint8_t>(c.bp_kind);
          break;
        default:  // x86 has no read-only watchpoint: reads and writes
          bp.kind = vmm::HwBreakpoint::Kind::kAccess;
          bp.len = static_cast<uint8_t>(c.bp_kind);
          break;
      }
      if (c.bp_kind == 0 || c.bp_kind > 8) return "E22";
      if (c.kind == K::kRemoveBreakpoint) return dbg_.RemoveTrigger(bp).ok() ? "OK" : "E02";
      auto s = dbg_.AddTrigger(bp);
      if (!s.ok()) {
        Send("O" + ToHex("ftd: " + std::string(s.message()) + "\n"));
        return "E28";
      }
      if (bp.kind == vmm::HwBreakpoint::Kind::kExec) z_type_[bp.addr] = c.bp_type;
      return "OK";
    }
    case K::kXferFeatures:
      if (c.annex != "target.xml") return "E00";
      return XferChunk(TargetXml(), c.offset, c.length);
    case K::kDetach:
      *done = true;
      return "OK";
    case K::kKill:
      *done = true;
      return {};
    case K::kSetThread:
    case K::kThreadAlive:
      return "OK";
    case K::kCurrentThread:
      return "QC1";
    case K::kAttached:
      return "1";
    case K::kThreadInfoFirst:
      return "m1";
    case K::kThreadInfoNext:
      return "l";
    case K::kMonitor:
      return Monitor(c.text);
    case K::kUnknown:
      return "";
  }
  return "";
}

absl::Status Connection::Serve() {
  for (;;) {
    auto packet = NextPacket();
    if (!packet) return absl::OkStatus();  // gdb hung up
    auto cmd = ParseCommand(*packet);
    bool done = false;
    std::string reply = cmd.ok() ? Handle(*cmd, &done) : "E01";
    if (cmd.ok() && cmd->kind == Command::Kind::kStartNoAckMode) continue;
    if (cmd.ok() && cmd->kind == Command::Kind::kKill) return absl::OkStatus();
    if (!Send(reply)) return absl::OkStatus();
    if (done) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<GdbServer>> GdbServer::Listen(const std::string& where) {
  std::string host = "127.0.0.1";
  std::string port_text = where;
  if (auto colon = where.rfind(':'); colon != std::string::npos) {
    host = where.substr(0, colon);
    port_text = where.substr(colon + 1);
    if (host.empty()) host = "127.0.0.1";
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--gdb: expected [ADDR:]PORT, got '%s'", where));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrFormat("--gdb: '%s' is not an IPv4 address", host));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, 1) != 0) {
    auto s = Errno(absl::StrFormat("--gdb: cannot listen on %s:%u", host, port));
    close(fd);
    return s;
  }
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return std::unique_ptr<GdbServer>(new GdbServer(fd, host, ntohs(sa.sin_port)));
}

GdbServer::~GdbServer() { close(listen_fd_); }

absl::Status GdbServer::Serve(Debugger& debugger) {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return Errno("--gdb: accept");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Connection c(fd, debugger);
  return c.Serve();
}

}  // namespace ftd::replay::debug
