// The history file `ftkv load` writes and `ftkv check` reads: one line per request, text.
//
//   # ftkv-history v1 ...            comment / header lines start with '#'; blank lines ignored
//   <client> <request-no> <OP> <key> <arg> <send-ns> <reply-ns> <STATUS> [<value>]
//
//   OP       SET | GET | INCR | DEL
//   arg      the SET value; "-" for the other operations
//   send-ns  CLOCK_REALTIME (ns since the epoch) of the request's first transmission
//   reply-ns CLOCK_REALTIME of the reply's arrival; "-" when the request is pending (sent, never
//            answered before the run ended: it may or may not have taken effect)
//   STATUS   OK | NOTFOUND | ERR | PENDING
//   value    OK: the GET value or the INCR result (absent for SET and DEL); ERR: the reason
//            (the rest of the line, may contain spaces); absent otherwise
//
// Lines are in completion order (pending ones last); `check` does not depend on the order.
// (client, request-no) is unique in a file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/ftkv/protocol.h"

namespace ftd::ftkv {

inline constexpr std::string_view kHistoryMagic = "# ftkv-history v1";

struct HistoryRecord {
  uint32_t client = 0;
  uint64_t seq = 0;
  Op op = Op::kGet;
  std::string key;
  std::string arg;  // SET value
  int64_t send_ns = 0;
  int64_t reply_ns = 0;  // meaningless when pending
  bool pending = false;
  Status status = Status::kOk;  // meaningless when pending
  std::string value;
  int line = 0;  // 1-based line in the file it was read from (0 if not read from a file)

  bool acked() const { return !pending && status != Status::kErr; }
  bool operator==(const HistoryRecord& o) const {
    return client == o.client && seq == o.seq && op == o.op && key == o.key && arg == o.arg &&
           send_ns == o.send_ns &&
           (pending
                ? o.pending
                : (!o.pending && reply_ns == o.reply_ns && status == o.status && value == o.value));
  }
};

std::string FormatRecord(const HistoryRecord& r);
absl::StatusOr<HistoryRecord> ParseRecord(std::string_view line);
// Parses a whole history (the text of a file); errors name the line.
absl::StatusOr<std::vector<HistoryRecord>> ParseHistory(std::string_view text);
absl::StatusOr<std::vector<HistoryRecord>> ReadHistoryFile(const std::string& path);

// Writes records as they complete. Not thread-safe.
class HistoryWriter {
 public:
  HistoryWriter() = default;
  ~HistoryWriter() { (void)Close(); }
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  // Creates (truncates) the file and writes the header line ("# ftkv-history v1 <header>").
  absl::Status Open(const std::string& path, std::string_view header);
  absl::Status Append(const HistoryRecord& r);
  absl::Status Flush();
  absl::Status Close();

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace ftd::ftkv
