#include "failover/status_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"

namespace ftd::failover {
namespace {

constexpr size_t kMaxStatusBytes = 1 << 20;

std::string Ms(double ms) { return ms > 0 ? absl::StrFormat("%.1f ms", ms) : "-"; }

}  // namespace

absl::StatusOr<std::string> StatusToJson(const proto::StatusReport& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto s = google::protobuf::util::MessageToJsonString(report, &json, options);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("status report to JSON: ", s.ToString()));
  }
  return json;
}

absl::Status WriteStatusFile(const std::string& path, const proto::StatusReport& report) {
  absl::StatusOr<std::string> json = StatusToJson(report);
  if (!json.ok()) return json.status();
  json->push_back('\n');
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "we");
  if (f == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("status file: open ", tmp));
  bool ok = std::fwrite(json->data(), 1, json->size(), f) == json->size();
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("status file: write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("status file: rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::StatusReport> ReadStatusFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("no status file at ", path, " (is ftd running with this --status-file?)"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("status file: open ", path));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("status file: read ", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxStatusBytes) {
      close(fd);
      return absl::DataLossError(
          absl::StrCat("status file ", path, " is over ", kMaxStatusBytes, " bytes"));
    }
  }
  close(fd);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return absl::DataLossError(absl::StrCat("status file ", path, " is empty"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  proto::StatusReport report;
  auto s = google::protobuf::util::JsonStringToMessage(text, &report, options);
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat("status file ", path, " is not a status report: ", s.ToString()));
  }
  return report;
}

bool IsStale(const proto::StatusReport& report, uint64_t now_unix_ns) {
  if (report.updated_unix_ns() == 0) return true;
  return now_unix_ns > report.updated_unix_ns() &&
         now_unix_ns - report.updated_unix_ns() > kStatusStaleNs;
}

std::string FormatStatus(const proto::StatusReport& r, uint64_t now_unix_ns) {
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  std::string out;
  auto line = [&out](absl::string_view label, absl::string_view value) {
    absl::StrAppendFormat(&out, "%-22s %s\n", absl::StrCat(label, ":"), value);
  };
  line("role", or_dash(r.role()));
  line("state", or_dash(r.state()));
  line("generation", r.generation() > 0 ? absl::StrCat(r.generation()) : "- (none held)");
  line("node", or_dash(r.node()));
  line("peer", r.peer().empty() ? "- (none)" : r.peer());
  if (r.pid() != 0) line("pid", absl::StrCat(r.pid()));
  line("exit index", absl::StrCat(r.exit_index()));
  line("log seq",
       absl::StrCat(r.log_seq(), " (acked ", r.acked_seq(), ", replayed ", r.replayed_seq(), ")"));
  line("lag", absl::StrFormat("%u entries, %.1f ms", r.lag_entries(), r.lag_ms()));
  line("unacknowledged", absl::StrCat(r.unacked_bytes(), " bytes"));
  line("held outputs", absl::StrCat(r.held_outputs(), " (", r.held_bytes(), " bytes)"));
  line("log bandwidth", absl::StrFormat("%.1f KB/s (%u bytes in total)",
                                        r.log_bandwidth_bps() / 1000.0, r.log_bytes()));
  if (r.transfer_bytes_done() > 0 || r.transfer_bytes_total() > 0) {
    std::string t = absl::StrFormat("%.1f", r.transfer_bytes_done() / 1e6);
    if (r.transfer_bytes_total() > 0) {
      absl::StrAppendFormat(&t, " of %.1f", r.transfer_bytes_total() / 1e6);
    }
    absl::StrAppend(&t, " MB");
    if (r.transfer_rate_bps() > 0) absl::StrAppendFormat(&t, ", %.1f MB/s", r.transfer_rate_bps() / 1e6);
    line("state transfer", t);
  }
  line("first-transfer pause", Ms(r.first_transfer_pause_ms()));
  line("failover time", Ms(r.failover_ms()));
  if (!r.detail().empty()) line("detail", r.detail());
  std::string updated;
  if (r.updated_unix_ns() == 0) {
    updated = "never";
  } else {
    double age_s = now_unix_ns > r.updated_unix_ns()
                       ? static_cast<double>(now_unix_ns - r.updated_unix_ns()) / 1e9
                       : 0.0;
    updated = absl::StrFormat("%.1f s ago", age_s);
  }
  if (IsStale(r, now_unix_ns)) absl::StrAppend(&updated, " (STALE: the daemon is not updating it)");
  line("updated", updated);
  return out;
}

}  // namespace ftd::failover
