// The kv service's text protocol (UDP port 7000, one datagram per request and per reply):
//
//   request  <client-id> <request-no> SET <key> <value>
//            <client-id> <request-no> GET|INCR|DEL <key>
//   reply    <client-id> <request-no> OK [<value>] | NOTFOUND | ERR <reason>
//
// client-id is decimal 1..2^32-1, request-no a decimal u64 that increases per client. A key is
// 1..64 bytes of [A-Za-z0-9_.:-]; a value 1..200 printable non-space bytes. A trailing "\n"
// (or "\r\n") on a datagram is tolerated when parsing and never produced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::ftkv {

inline constexpr uint16_t kDefaultPort = 7000;
inline constexpr size_t kMaxKey = 64;
inline constexpr size_t kMaxValue = 200;
// Larger than any valid datagram (two u64s, an op, a key and a value), so a truncated read is
// always detectable.
inline constexpr size_t kMaxDatagram = 512;

enum class Op { kSet, kGet, kIncr, kDel };
enum class Status { kOk, kNotFound, kErr };

std::string_view OpName(Op op);
std::optional<Op> ParseOpName(std::string_view s);
std::string_view StatusName(Status s);

struct Request {
  uint32_t client = 0;
  uint64_t seq = 0;  // the request-no
  Op op = Op::kGet;
  std::string key;
  std::string value;  // SET only
  bool operator==(const Request&) const = default;
};

struct Reply {
  uint32_t client = 0;
  uint64_t seq = 0;
  Status status = Status::kOk;
  // OK: the value, possibly empty (SET, DEL). ERR: the reason (may contain spaces).
  std::string value;
  bool operator==(const Reply&) const = default;
};

bool ValidKey(std::string_view key);
bool ValidValue(std::string_view value);
// Splits at `sep` into at most max_fields fields; the last one keeps the rest, separators included.
std::vector<std::string_view> SplitFields(std::string_view s, char sep,
                                          size_t max_fields = SIZE_MAX);
// Digits only (no sign, no spaces), fits in u64.
std::optional<uint64_t> ParseDecimalU64(std::string_view s);

std::string FormatRequest(const Request& r);
absl::StatusOr<Request> ParseRequest(std::string_view datagram);
std::string FormatReply(const Reply& r);
absl::StatusOr<Reply> ParseReply(std::string_view datagram);

// Whether a reply's shape is one the protocol allows for `op` (SET: OK without value; GET: OK
// value or NOTFOUND; INCR: OK decimal; DEL: OK without value or NOTFOUND; any: ERR reason).
// Returns the problem, or an empty string.
std::string ReplyShapeProblem(Op op, const Reply& reply);

// "OK 42", "OK", "NOTFOUND", "ERR reason": what `ftkv HOST op` prints.
std::string ReplyText(const Reply& r);

}  // namespace ftd::ftkv
