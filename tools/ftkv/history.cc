#include "tools/ftkv/history.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "fmt/format.h"

namespace ftd::ftkv {
namespace {

std::optional<int64_t> ParseNs(std::string_view s) {
  auto v = ParseDecimalU64(s);
  if (!v || *v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(*v);
}

absl::Status Bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

}  // namespace

std::string FormatRecord(const HistoryRecord& r) {
  std::string out = fmt::format("{} {} {} {} {} {} ", r.client, r.seq, OpName(r.op), r.key,
                                r.op == Op::kSet ? r.arg : "-", r.send_ns);
  if (r.pending) return out + "- PENDING";
  out += fmt::format("{} {}", r.reply_ns, StatusName(r.status));
  if (r.status != Status::kNotFound && !r.value.empty()) out += " " + r.value;
  return out;
}

absl::StatusOr<HistoryRecord> ParseRecord(std::string_view line) {
  std::vector<std::string_view> f = SplitFields(line, ' ', 9);
  if (f.size() < 8) return Bad("too few fields (want 8 or 9)");
  HistoryRecord r;
  auto c = ParseDecimalU64(f[0]);
  if (!c || *c == 0 || *c > UINT32_MAX) return Bad("bad client-id");
  r.client = static_cast<uint32_t>(*c);
  auto s = ParseDecimalU64(f[1]);
  if (!s) return Bad("bad request-no");
  r.seq = *s;
  auto op = ParseOpName(f[2]);
  if (!op) return Bad("bad operation");
  r.op = *op;
  if (!ValidKey(f[3])) return Bad("bad key");
  r.key = std::string(f[3]);
  if (r.op == Op::kSet) {
    if (!ValidValue(f[4])) return Bad("bad SET value");
    r.arg = std::string(f[4]);
  } else if (f[4] != "-") {
    return Bad("argument must be '-' for GET, INCR and DEL");
  }
  auto send = ParseNs(f[5]);
  if (!send) return Bad("bad send time");
  r.send_ns = *send;
  if (f[7] == "PENDING") {
    if (f[6] != "-") return Bad("a PENDING request has reply time '-'");
    if (f.size() != 8) return Bad("a PENDING request has no value");
    r.pending = true;
    return r;
  }
  auto reply = ParseNs(f[6]);
  if (!reply) return Bad("bad reply time");
  r.reply_ns = *reply;
  if (r.reply_ns < r.send_ns) return Bad("reply time before send time");
  if (f[7] == "OK") {
    r.status = Status::kOk;
  } else if (f[7] == "NOTFOUND") {
    r.status = Status::kNotFound;
  } else if (f[7] == "ERR") {
    r.status = Status::kErr;
  } else {
    return Bad("bad status (want OK, NOTFOUND, ERR or PENDING)");
  }
  if (f.size() == 9) r.value = std::string(f[8]);
  if (r.status == Status::kErr && r.value.empty()) return Bad("ERR without a reason");
  if (r.status == Status::kOk && !r.value.empty() && !ValidValue(r.value)) return Bad("bad value");
  if (r.status == Status::kNotFound && !r.value.empty()) return Bad("NOTFOUND with a value");
  Reply shape{r.client, r.seq, r.status, r.value};
  if (std::string p = ReplyShapeProblem(r.op, shape); !p.empty()) return Bad(p);
  return r;
}

absl::StatusOr<std::vector<HistoryRecord>> ParseHistory(std::string_view text) {
  std::vector<HistoryRecord> out;
  std::set<std::pair<uint32_t, uint64_t>> seen;
  int lineno = 0;
  for (std::string_view line : SplitFields(text, '\n')) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    auto r = ParseRecord(line);
    if (!r.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "line {}: {}: {}", lineno, std::string(r.status().message()), line.substr(0, 200)));
    }
    r->line = lineno;
    if (!seen.emplace(r->client, r->seq).second) {
      return absl::InvalidArgumentError(
          fmt::format("line {}: client {} request-no {} appears twice", lineno, r->client, r->seq));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

absl::StatusOr<std::vector<HistoryRecord>> ReadHistoryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(fmt::format("cannot open history {}: {}", path, strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  auto h = ParseHistory(ss.str());
  if (!h.ok())
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", path, std::string(h.status().message())));
  return h;
}

absl::Status HistoryWriter::Open(const std::string& path, std::string_view header) {
  if (f_ != nullptr) return absl::FailedPreconditionError("history already open");
  f_ = std::fopen(path.c_str(), "we");
  if (f_ == nullptr) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create history {}: {}", path, strerror(errno)));
  }
  path_ = path;
  std::string h =
      header.empty() ? std::string(kHistoryMagic) : fmt::format("{} {}", kHistoryMagic, header);
  if (std::fprintf(f_, "%s\n", h.c_str()) < 0) return absl::DataLossError("history write failed");
  return absl::OkStatus();
}

absl::Status HistoryWriter::Append(const HistoryRecord& r) {
  if (f_ == nullptr) return absl::FailedPreconditionError("history not open");
  std::string line = FormatRecord(r);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size()) {
    return absl::DataLossError(fmt::format("writing history {}: {}", path_, strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status HistoryWriter::Flush() {
  if (f_ != nullptr && std::fflush(f_) != 0) {
    return absl::DataLossError(fmt::format("writing history {}: {}", path_, strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status HistoryWriter::Close() {
  if (f_ == nullptr) return absl::OkStatus();
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0)
    return absl::DataLossError(fmt::format("closing history {}: {}", path_, strerror(errno)));
  return absl::OkStatus();
}

}  // namespace ftd::ftkv
