// Where the guest's console goes: ftd's stdout (carrying nothing else) or a file.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::cli {

class ConsoleWriter {
 public:
  // spec: "stdio" or "file:PATH".
  static absl::StatusOr<std::unique_ptr<ConsoleWriter>> Open(const std::string& spec);
  ~ConsoleWriter();
  void Write(std::span<const uint8_t> bytes);
  void Flush();
  bool is_stdio() const { return fd_ == 1; }

 private:
  explicit ConsoleWriter(int fd) : fd_(fd) {}
  void FlushLocked();
  int fd_;
  std::mutex mu_;  // output commit writes from its release thread
  std::vector<uint8_t> buf_;
};

}  // namespace ftd::cli
