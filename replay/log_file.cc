#include "replay/log_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_format.h"
#include "vmm/envelope.h"

namespace ftd::replay {
namespace {

void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr uint64_t kMaxLogFile = 64ull << 30;

}  // namespace

std::vector<uint8_t> EncodeFrame(const google::protobuf::MessageLite& msg) {
  std::string payload = msg.SerializeAsString();
  std::vector<uint8_t> out(kLogFrameHeaderSize + payload.size());
  Put32(out.data(), static_cast<uint32_t>(payload.size()));
  Put32(out.data() + 4, vmm::Crc32({reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}));
  std::memcpy(out.data() + kLogFrameHeaderSize, payload.data(), payload.size());
  return out;
}

std::vector<uint8_t> EncodeFileHeader() {
  std::vector<uint8_t> h(kLogFileHeaderSize, 0);
  std::memcpy(h.data(), kLogMagic, 8);
  Put32(h.data() + 8, kLogFormatVersion);
  return h;
}

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::Create(const std::string& path,
                                                             const proto::LogHeader& header) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InvalidArgumentError(absl::StrFormat("cannot create log %s: %s", path, strerror(errno)));
  std::unique_ptr<LogWriter> w(new LogWriter(fd, path));
  w->buf_ = EncodeFileHeader();
  proto::LogHeader h = header;
  h.set_format_version(kLogFormatVersion);
  auto frame = EncodeFrame(h);
  w->buf_.insert(w->buf_.end(), frame.begin(), frame.end());
  if (auto s = w->Flush(); !s.ok()) return s;
  return w;
}

LogWriter::~LogWriter() {
  (void)Flush();
  if (fd_ >= 0) close(fd_);
}

absl::Status LogWriter::Append(proto::LogEntry& entry) {
  entry.set_seq(++seq_);
  // Serialized straight into the buffer: this runs for every clock read while recording.
  size_t len = entry.ByteSizeLong();
  if (len > kMaxLogFrame) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("log entry %u is %u bytes, over the %u-byte limit", seq_, len, kMaxLogFrame));
  }
  size_t at = buf_.size();
  buf_.resize(at + kLogFrameHeaderSize + len);
  uint8_t* payload = buf_.data() + at + kLogFrameHeaderSize;
  entry.SerializeWithCachedSizesToArray(payload);
  Put32(buf_.data() + at, static_cast<uint32_t>(len));
  Put32(buf_.data() + at + 4, vmm::Crc32({payload, len}));
  if (buf_.size() >= (1u << 16)) return Flush();
  return absl::OkStatus();
}

absl::Status LogWriter::Flush(bool durable) {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrFormat("writing log %s: %s", path_, strerror(errno)));
    off += static_cast<size_t>(n);
  }
  bytes_ += buf_.size();
  buf_.clear();
  if (durable && fdatasync(fd_) != 0) {
    return absl::InternalError(absl::StrFormat("syncing log %s: %s", path_, strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<LogReader> LogReader::OpenFile(const std::string& path) {
  auto bytes = vmm::ReadWholeFile(path, kMaxLogFile);
  if (!bytes.ok()) return bytes.status();
  return Open(std::move(*bytes), path);
}

absl::StatusOr<LogReader> LogReader::Open(std::vector<uint8_t> bytes, std::string what) {
  LogReader r(std::move(bytes), std::move(what));
  if (r.bytes_.size() < kLogFileHeaderSize) {
    return absl::DataLossError(absl::StrFormat("%s: truncated: %u bytes, shorter than the log file header",
                                               r.what_, r.bytes_.size()));
  }
  if (std::memcmp(r.bytes_.data(), kLogMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not an ftd log (wrong magic)", r.what_));
  }
  uint32_t version = Get32(r.bytes_.data() + 8);
  if (version != kLogFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: log format version %u, this ftd reads version %u only", r.what_, version, kLogFormatVersion));
  }
  if (Get32(r.bytes_.data() + 12) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: reserved header field is not zero", r.what_));
  }
  r.off_ = kLogFileHeaderSize;
  std::span<const uint8_t> payload;
  if (auto s = r.ReadFrame(&payload, "log header"); !s.ok()) return s;
  if (!r.header_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrFormat("%s: the log header does not parse", r.what_));
  }
  if (r.header_.format_version() != kLogFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat("%s: log header says format version %u, expected %u",
                                                         r.what_, r.header_.format_version(), kLogFormatVersion));
  }
  r.last_exit_ = r.header_.start_exit_index();
  return r;
}

absl::Status LogReader::ReadFrame(std::span<const uint8_t>* payload, const char* kind) {
  size_t left = bytes_.size() - off_;
  if (left < kLogFrameHeaderSize) {
    return absl::DataLossError(absl::StrFormat("%s: truncated %s at offset %u (%u of %u frame header bytes)",
                                               what_, kind, off_, left, kLogFrameHeaderSize));
  }
  uint32_t len = Get32(&bytes_[off_]);
  uint32_t crc = Get32(&bytes_[off_ + 4]);
  if (len > kMaxLogFrame) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: %s at offset %u claims %u bytes, over the %u-byte limit (corrupted?)", what_, kind, off_, len,
        kMaxLogFrame));
  }
  if (left - kLogFrameHeaderSize < len) {
    return absl::DataLossError(absl::StrFormat("%s: truncated %s at offset %u (%u of %u bytes)", what_, kind,
                                               off_, left - kLogFrameHeaderSize, len));
  }
  *payload = std::span<const uint8_t>(&bytes_[off_ + kLogFrameHeaderSize], len);
  if (vmm::Crc32(*payload) != crc) {
    return absl::DataLossError(absl::StrFormat("%s: %s at offset %u is corrupted (CRC mismatch)", what_, kind, off_));
  }
  off_ += kLogFrameHeaderSize + len;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<proto::LogEntry>> LogReader::Next() {
  if (off_ == bytes_.size()) return std::nullopt;
  std::string kind = absl::StrFormat("entry %u", last_seq_ + 1);
  std::span<const uint8_t> payload;
  if (auto s = ReadFrame(&payload, kind.c_str()); !s.ok()) return s;
  proto::LogEntry e;
  if (!e.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrFormat("%s: %s does not parse", what_, kind));
  }
  if (e.seq() != last_seq_ + 1) {
    return absl::DataLossError(absl::StrFormat("%s: %s has sequence number %u", what_, kind, e.seq()));
  }
  if (e.exit_index() < last_exit_) {
    return absl::DataLossError(absl::StrFormat("%s: %s goes back to exit %u from exit %u", what_, kind,
                                               e.exit_index(), last_exit_));
  }
  if (e.event_case() == proto::LogEntry::EVENT_NOT_SET) {
    return absl::DataLossError(absl::StrFormat("%s: %s carries no event (written by a newer ftd?)", what_, kind));
  }
  last_seq_ = e.seq();
  last_exit_ = e.exit_index();
  return e;
}

}  // namespace ftd::replay
