// The event log on disk (format in proto/log.proto): a writer that appends framed,
// CRC-checked entries, and a reader that refuses malformed input with an error naming
// the entry and the byte offset, never crashing and never losing the entries before it.
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
inline constexpr uint32_t kLogFormatVersion = 1;
inline constexpr size_t kLogFileHeaderSize = 16;
inline constexpr size_t kLogFrameHeaderSize = 8;
inline constexpr uint32_t kMaxLogFrame = 16u << 20;

// Encodes one frame (length, CRC, payload) for a file or a stream.
std::vector<uint8_t> EncodeFrame(const google::protobuf::MessageLite& msg);
std::vector<uint8_t> EncodeFileHeader();

// Where a recording's entries go: a file (LogWriter) or a replication stream (primary/).
class LogSink {
 public:
  virtual ~LogSink() = default;
  // Assigns the next sequence number to `entry` and takes it.
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
  // (a torn tail) end the source.
  virtual absl::StatusOr<std::optional<proto::LogEntry>> Next() = 0;
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
    if (auto s = first_->Append(entry); !s.ok()) return s;
    return second_->Append(entry);
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
  // The next entry; nullopt at a clean end. Errors name the entry number and offset:
  // a torn last frame is kDataLoss with "truncated" in the message.
  absl::StatusOr<std::optional<proto::LogEntry>> Next() override;
  uint64_t offset() const { return off_; }
  uint64_t size() const { return bytes_.size(); }

 private:
  LogReader(std::vector<uint8_t> bytes, std::string what) : bytes_(std::move(bytes)), what_(std::move(what)) {}
  // Reads the frame at off_; sets *payload.
  absl::Status ReadFrame(std::span<const uint8_t>* payload, const char* kind);

  std::vector<uint8_t> bytes_;
  std::string what_;
  size_t off_ = 0;
  proto::LogHeader header_;
  uint64_t last_seq_ = 0;
  uint64_t last_exit_ = 0;
};

}  // namespace ftd::replay
