#include "cli/console.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"

namespace ftd::cli {

absl::StatusOr<std::unique_ptr<ConsoleWriter>> ConsoleWriter::Open(const std::string& spec) {
  if (spec == "stdio") return std::unique_ptr<ConsoleWriter>(new ConsoleWriter(1));
  if (absl::StartsWith(spec, "file:") && spec.size() > 5) {
    std::string path = spec.substr(5);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--console: cannot open %s: %s", path, strerror(errno)));
    }
    return std::unique_ptr<ConsoleWriter>(new ConsoleWriter(fd));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("--console '%s': expected 'stdio' or 'file:PATH'", spec));
}

ConsoleWriter::~ConsoleWriter() {
  Flush();
  if (fd_ > 2) close(fd_);
}

void ConsoleWriter::Write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  // Line-buffered: a newline or a full buffer goes out at once.
  if (buf_.size() >= 4096 || (!bytes.empty() && bytes.back() == '\n')) FlushLocked();
}

void ConsoleWriter::Flush() {
  std::lock_guard lock(mu_);
  FlushLocked();
}

void ConsoleWriter::FlushLocked() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // console gone (closed pipe): drop, never block the guest
    off += static_cast<size_t>(n);
  }
  buf_.clear();
}

}  // namespace ftd::cli
