// The event log on disk (format in proto/log.proto): a writer that appends framed,
// CRC-checked entries, and a reader that refuses malformed input with an error naming
// the entry and the byte offset, never crashing and never losing the entries before it.
//
// Torn tail vs. damaged log. The writer only appends, so a recording killed mid-write
// leaves a file whose last frame is cut short, or whose last frame(s) are garbage (a
// partly written block, zeros a file system left after a crash), with NOTHING intact
// after them. That is a torn tail: the entries before it are exactly what was recorded,
// and a replay may use them and end there with a warning. A frame that fails its checks
// (short, over-long length, CRC mismatch, does not parse, carries no event) while an
// intact entry starts at some later byte offset is something else: the log was damaged
// after it was written (a bit flip, a bad sector, an edit), entries are missing from the
// middle, and a replay that ends there would pass a fragment off as the recorded run. It
// must be refused. So is an intact entry (CRC and parse fine) whose sequence number or exit index
// is out of order: the writer never produces one, torn or not.
//
// "An intact entry" for this decision: a frame header at any byte offset after the
// damaged frame's start whose length is at most kMaxLogFrame and fits in the file, whose
// CRC matches its payload, and whose payload parses as a LogEntry that carries an event
// and has a sequence number above the last good entry's. (The damaged frame's own length
// is not trusted: a flipped length bit can make it end anywhere.) LogReader scans for one
// once, when a frame fails; a cheap wire-format check keeps the scan linear.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "log.pb.h"

namespace ftd::replay {

inline constexpr char kLogMagic[8] = {'F', 'T', 'D', 'L', 'O', 'G', '\0', '\0'};
// 2: timer deadline checks are logged only when due (ClockRead.timer), and epoch page numbers
// are varints; 1 read the clock at every point while a timer was armed and had fixed64 page
// numbers. A log of another version is refused.
inline constexpr uint32_t kLogFormatVersion = 2;
inline constexpr size_t kLogFileHeaderSize = 16;
inline constexpr size_t kLogFrameHeaderSize = 8;
inline constexpr uint32_t kMaxLogFrame = 16u << 20;

// The payload LogReader::Next() attaches to its kDataLoss errors: "torn" for a torn tail,
// "damaged" for a damaged log (see the top of this file).
inline constexpr char kLogTailPayloadUrl[] = "ftd.dev/log-tail";

// True only for an error LogReader::Next() returned at a torn tail: the log ends inside
// (or with garbage in) its last frame(s) and no intact entry follows; every entry before
// it was returned and may be replayed. False for a damaged log, for every other error
// (including LogReader::Open's: a damaged or truncated file header is always refused),
// for errors of other EntrySources, for OK, and for a status rebuilt without the payload:
// callers that see false must refuse the log, never warn and go on. The test is the
// payload kLogTailPayloadUrl (code kDataLoss), never the message.
bool IsTornTail(const absl::Status& s);
// True only for an error LogReader::Next() returned for a damaged log: an entry failed
// its checks and intact entries follow it, or an intact entry is out of order (code
// kDataLoss; the message names the entry number, its byte offset and what is wrong).
bool IsDamagedLog(const absl::Status& s);

// Encodes one frame (length, CRC, payload) for a file or a stream.
std::vector<uint8_t> EncodeFrame(const google::protobuf::MessageLite& msg);
std::vector<uint8_t> EncodeFileHeader();

// Where a recording's entries go: a file (LogWriter) or a replication stream (primary/).
class LogSink {
 public:
  virtual ~LogSink() = default;
  // Assigns the next sequence number to `entry` and takes it (it may move from it).
  virtual absl::Status Append(proto::LogEntry& entry) = 0;
  // Makes what was appended leave now (and reach stable storage when `durable`).
  virtual absl::Status Flush(bool durable = false) = 0;
  virtual uint64_t last_seq() const = 0;
};

// Where a replay's entries come from: a file (LogReader) or a replication stream (backup/).
class EntrySource {
 public:
  virtual ~EntrySource() = default;
  // The next entry; nullopt at the end. May block until one arrives (a stream). Errors
  // end the source; a file's torn tail is one IsTornTail() accepts, any other is fatal.
  virtual absl::StatusOr<std::optional<proto::LogEntry>> Next() = 0;
  // A second source at the same position that reads on independently (a debugger's
  // checkpoint); nullptr when the source cannot be read twice (a stream).
  virtual std::unique_ptr<EntrySource> Clone() const { return nullptr; }
};

class LogWriter final : public LogSink {
 public:
  // Creates (truncates) `path` and writes the file header and `header`.
  static absl::StatusOr<std::unique_ptr<LogWriter>> Create(const std::string& path,
                                                           const proto::LogHeader& header);
  ~LogWriter();
  // Assigns the next sequence number to `entry` and buffers it.
  absl::Status Append(proto::LogEntry& entry) override;
  // Writes buffered entries to the file (and fdatasync when `durable`).
  absl::Status Flush(bool durable = false) override;
  uint64_t last_seq() const override { return seq_; }
  uint64_t bytes_written() const { return bytes_; }

 private:
  LogWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::vector<uint8_t> buf_;
  uint64_t seq_ = 0;
  uint64_t bytes_ = 0;
};

// Appends to two sinks, numbering by the first: the primary's stream plus a local file.
class TeeSink final : public LogSink {
 public:
  TeeSink(std::unique_ptr<LogSink> first, std::unique_ptr<LogSink> second)
      : first_(std::move(first)), second_(std::move(second)) {}
  absl::Status Append(proto::LogEntry& entry) override {
    // The second (a file) only reads the entry; the first may take it (a stream moves it).
    if (auto s = second_->Append(entry); !s.ok()) return s;
    return first_->Append(entry);
  }
  absl::Status Flush(bool durable = false) override {
    if (auto s = first_->Flush(durable); !s.ok()) return s;
    return second_->Flush(durable);
  }
  uint64_t last_seq() const override { return first_->last_seq(); }

 private:
  std::unique_ptr<LogSink> first_, second_;
};

// Reads a whole log held in memory (files are mapped or read in full).
class LogReader final : public EntrySource {
 public:
  // Checks the file header and parses the LogHeader frame.
  static absl::StatusOr<LogReader> Open(std::vector<uint8_t> bytes, std::string what);
  static absl::StatusOr<LogReader> OpenFile(const std::string& path);

  const proto::LogHeader& header() const { return header_; }
  // The next entry; nullopt at a clean end. Errors name the entry number (1-based, the
  // seq it should have) and its byte offset, and are kDataLoss: IsTornTail() for a torn
  // tail ("truncated" or "torn tail" in the message), IsDamagedLog() for a damaged log
  // ("is damaged, not torn"). After an error, Next() returns the same error again.
  absl::StatusOr<std::optional<proto::LogEntry>> Next() override;
  uint64_t offset() const { return off_; }
  // A reader at the same position; the bytes are shared, so it is cheap.
  std::unique_ptr<EntrySource> Clone() const override {
    return std::unique_ptr<EntrySource>(new LogReader(*this));
  }
  uint64_t size() const { return bytes_.size(); }

 private:
  LogReader(std::vector<uint8_t> bytes, std::string what)
      : owner_(std::make_shared<const std::vector<uint8_t>>(std::move(bytes))),
        bytes_(*owner_),
        what_(std::move(what)) {}
  // Reads the frame at off_; sets *payload.
  absl::Status ReadFrame(std::span<const uint8_t>* payload, const char* kind);
  // The error for the entry at `at` failing with `why`: a torn tail when no intact entry
  // starts after `at`, else a damaged log; either is remembered in error_.
  absl::Status Failed(size_t at, const std::string& kind, const std::string& why);
  // The offset of the first intact entry (see the top of this file) at or after `from`;
  // SIZE_MAX when there is none.
  size_t FindIntactEntry(size_t from) const;

  std::shared_ptr<const std::vector<uint8_t>> owner_;  // shared by clones
  std::span<const uint8_t> bytes_;
  std::string what_;
  size_t off_ = 0;
  proto::LogHeader header_;
  uint64_t last_seq_ = 0;
  uint64_t last_exit_ = 0;
  absl::Status error_;  // the error that ended the log, returned again by Next()
};

}  // namespace ftd::replay
