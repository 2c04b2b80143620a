#include "replay/log_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "vmm/envelope.h"

namespace ftd::replay {
namespace {

using vmm::Get32;
using vmm::Put32;

constexpr uint64_t kMaxLogFile = 64ull << 30;

constexpr char kTorn[] = "torn";
constexpr char kDamaged[] = "damaged";

absl::Status Tagged(absl::Status s, const char* tag) {
  s.SetPayload(kLogTailPayloadUrl, absl::Cord(tag));
  return s;
}

bool HasTag(const absl::Status& s, const char* tag) {
  if (s.code() != absl::StatusCode::kDataLoss) return false;
  auto p = s.GetPayload(kLogTailPayloadUrl);
  return p.has_value() && *p == tag;
}

// A protobuf varint at p (before end); false when it runs past end or over 10 bytes.
bool Varint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  for (int i = 0; i < 10; ++i) {
    if (p == end) return false;
    const uint8_t b = *p++;
    r |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *v = r;
      return true;
    }
  }
  return false;
}

// A necessary condition, in O(1), for `payload` to parse as a LogEntry that carries an
// event and has a seq above `last_seq`: its top-level fields (at most 16, any order, any
// unknown ones) tile it exactly, seq is there (field 1, varint) and so is an event
// (fields 3..8, length-delimited). Keeps the resync scan from CRC-ing at every offset.
bool LooksLikeEntry(std::span<const uint8_t> payload, uint64_t last_seq) {
  const uint8_t* p = payload.data();
  const uint8_t* const end = p + payload.size();
  bool event = false;
  uint64_t seq = 0;
  for (int fields = 0; p < end; ++fields) {
    if (fields == 16) return false;
    uint64_t tag = 0;
    if (!Varint(p, end, &tag)) return false;
    const uint64_t field = tag >> 3;
    if (field == 0 || field >= (1u << 29)) return false;
    switch (tag & 7) {
      case 0: {
        uint64_t v = 0;
        if (!Varint(p, end, &v)) return false;
        if (field == 1) seq = v;
        break;
      }
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2: {
        uint64_t n = 0;
        if (!Varint(p, end, &n) || n > static_cast<uint64_t>(end - p)) return false;
        p += n;
        if (field >= 3 && field <= 8) event = true;
        break;
      }
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;  // groups (never written) and invalid wire types
    }
  }
  return event && seq > last_seq;
}

}  // namespace

bool IsTornTail(const absl::Status& s) { return HasTag(s, kTorn); }
bool IsDamagedLog(const absl::Status& s) { return HasTag(s, kDamaged); }

std::vector<uint8_t> EncodeFrame(const google::protobuf::MessageLite& msg) {
  std::string payload = msg.SerializeAsString();
  std::vector<uint8_t> out(kLogFrameHeaderSize + payload.size());
  Put32(out.data(), static_cast<uint32_t>(payload.size()));
  Put32(out.data() + 4,
        vmm::Crc32({reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}));
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
  if (fd < 0)
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot create log %s: %s", path, strerror(errno)));
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
    return absl::ResourceExhaustedError(absl::StrFormat(
        "log entry %u is %u bytes, over the %u-byte limit", seq_, len, kMaxLogFrame));
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
    if (n <= 0)
      return absl::InternalError(absl::StrFormat("writing log %s: %s", path_, strerror(errno)));
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
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated: %u bytes, shorter than the log file header", r.what_, r.bytes_.size()));
  }
  if (std::memcmp(r.bytes_.data(), kLogMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not an ftd log (wrong magic)", r.what_));
  }
  uint32_t version = Get32(r.bytes_.data() + 8);
  if (version != kLogFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: log format version %u, this ftd reads version %u only", r.what_,
                        version, kLogFormatVersion));
  }
  if (Get32(r.bytes_.data() + 12) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: reserved header field is not zero", r.what_));
  }
  r.off_ = kLogFileHeaderSize;
  std::span<const uint8_t> payload;
  if (auto s = r.ReadFrame(&payload, "log header"); !s.ok()) return s;
  if (!r.header_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrFormat("%s: the log header does not parse", r.what_));
  }
  if (r.header_.format_version() != kLogFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: log header says format version %u, expected %u", r.what_,
                        r.header_.format_version(), kLogFormatVersion));
  }
  r.last_exit_ = r.header_.start_exit_index();
  return r;
}

absl::Status LogReader::ReadFrame(std::span<const uint8_t>* payload, const char* kind) {
  size_t left = bytes_.size() - off_;
  if (left < kLogFrameHeaderSize) {
    return absl::DataLossError(
        absl::StrFormat("%s: truncated %s at offset %u (%u of %u frame header bytes)", what_, kind,
                        off_, left, kLogFrameHeaderSize));
  }
  uint32_t len = Get32(&bytes_[off_]);
  uint32_t crc = Get32(&bytes_[off_ + 4]);
  if (len > kMaxLogFrame) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: %s at offset %u claims %u bytes, over the %u-byte limit (corrupted?)",
                        what_, kind, off_, len, kMaxLogFrame));
  }
  if (left - kLogFrameHeaderSize < len) {
    return absl::DataLossError(absl::StrFormat("%s: truncated %s at offset %u (%u of %u bytes)",
                                               what_, kind, off_, left - kLogFrameHeaderSize, len));
  }
  *payload = std::span<const uint8_t>(&bytes_[off_ + kLogFrameHeaderSize], len);
  if (vmm::Crc32(*payload) != crc) {
    return absl::DataLossError(
        absl::StrFormat("%s: %s at offset %u is corrupted (CRC mismatch)", what_, kind, off_));
  }
  off_ += kLogFrameHeaderSize + len;
  return absl::OkStatus();
}

size_t LogReader::FindIntactEntry(size_t from) const {
  const size_t n = bytes_.size();
  for (size_t p = from; p < n && n - p >= kLogFrameHeaderSize; ++p) {
    const uint32_t len = Get32(&bytes_[p]);
    if (len == 0 || len > kMaxLogFrame || len > n - p - kLogFrameHeaderSize) continue;
    std::span<const uint8_t> payload(&bytes_[p + kLogFrameHeaderSize], len);
    if (!LooksLikeEntry(payload, last_seq_)) continue;
    if (vmm::Crc32(payload) != Get32(&bytes_[p + 4])) continue;
    proto::LogEntry e;
    if (!e.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) continue;
    if (e.event_case() == proto::LogEntry::EVENT_NOT_SET || e.seq() <= last_seq_) continue;
    return p;
  }
  return SIZE_MAX;
}

absl::Status LogReader::Failed(size_t at, const std::string& kind, const std::string& why) {
  const size_t next = FindIntactEntry(at + 1);
  if (next == SIZE_MAX) {
    error_ =
        Tagged(absl::DataLossError(absl::StrFormat(
                   "%s: %s at offset %u %s, and no intact entry follows it: a torn tail (the %u "
                   "entries before it are intact)",
                   what_, kind, at, why, last_seq_)),
               kTorn);
  } else {
    error_ = Tagged(
        absl::DataLossError(absl::StrFormat(
            "%s: %s at offset %u %s, and intact entries follow it (the next at offset %u): the "
            "log is damaged, not torn",
            what_, kind, at, why, next)),
        kDamaged);
  }
  return error_;
}

absl::StatusOr<std::optional<proto::LogEntry>> LogReader::Next() {
  if (!error_.ok()) return error_;
  if (off_ == bytes_.size()) return std::nullopt;
  const size_t at = off_;
  const std::string kind = absl::StrFormat("entry %u", last_seq_ + 1);
  const size_t left = bytes_.size() - at;
  if (left < kLogFrameHeaderSize) {
    return Failed(
        at, kind,
        absl::StrFormat("is truncated (%u of %u frame header bytes)", left, kLogFrameHeaderSize));
  }
  const uint32_t len = Get32(&bytes_[at]);
  const uint32_t crc = Get32(&bytes_[at + 4]);
  if (len > kMaxLogFrame) {
    return Failed(at, kind,
                  absl::StrFormat("claims %u bytes, over the %u-byte limit", len, kMaxLogFrame));
  }
  if (left - kLogFrameHeaderSize < len) {
    return Failed(
        at, kind,
        absl::StrFormat("is truncated (%u of %u bytes)", left - kLogFrameHeaderSize, len));
  }
  std::span<const uint8_t> payload(&bytes_[at + kLogFrameHeaderSize], len);
  if (vmm::Crc32(payload) != crc) return Failed(at, kind, "is corrupted (CRC mismatch)");
  proto::LogEntry e;
  if (!e.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return Failed(at, kind, "does not parse");
  if (e.event_case() == proto::LogEntry::EVENT_NOT_SET) {
    return Failed(at, kind, "carries no event (written by a newer ftd?)");
  }
  // An intact entry out of order is never a torn write.
  if (e.seq() != last_seq_ + 1) {
    error_ = Tagged(absl::DataLossError(absl::StrFormat(
                        "%s: %s at offset %u has sequence number %u: the log is damaged, not torn",
                        what_, kind, at, e.seq())),
                    kDamaged);
    return error_;
  }
  if (e.exit_index() < last_exit_) {
    error_ = Tagged(
        absl::DataLossError(absl::StrFormat(
            "%s: %s at offset %u goes back to exit %u from exit %u: the log is damaged, not torn",
            what_, kind, at, e.exit_index(), last_exit_)),
        kDamaged);
    return error_;
  }
  off_ = at + kLogFrameHeaderSize + len;
  last_seq_ = e.seq();
  last_exit_ = e.exit_index();
  return e;
}

}  // namespace ftd::replay
