// `ftd replay --gdb [ADDR:]PORT`: the gdb remote serial protocol served over TCP on a
// Debugger. One client at a time; the replay only ever goes where the recording went:
// writes to registers or memory that would change it are refused (E01) unless they
// write what is already there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replay/debug/debugger.h"

namespace ftd::replay::debug {

class GdbServer {
 public:
  // "PORT" (on 127.0.0.1) or "ADDR:PORT"; port 0 picks a free one (see port()).
  static absl::StatusOr<std::unique_ptr<GdbServer>> Listen(const std::string& where);
  ~GdbServer();

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  // Accepts one client and serves it until it detaches, kills or hangs up. Errors are the
  // connection's; what the debugger cannot do is told to gdb, not returned.
  absl::Status Serve(Debugger& debugger);

 private:
  GdbServer(int fd, std::string address, uint16_t port)
      : listen_fd_(fd), address_(std::move(address)), port_(port) {}
  int listen_fd_;
  std::string address_;
  uint16_t port_;
};

}  // namespace ftd::replay::debug
