// Where the guest's console goes: ftd's stdout (carrying nothing else) or a file.
#pragma once

#include <cstdint>
#include <memory>
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
  int fd_;
  std::vector<uint8_t> buf_;
};

}  // namespace ftd::cli
