#include "failover/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/replication_protocol.h"

namespace ftd::failover {
namespace {

constexpr int64_t kLagStatusIntervalNs = 1'000'000'000;

std::string Gen(const proto::StatusReport& r) { return absl::StrCat(r.generation()); }

}  // namespace

// ", 12.3 of 45.6 MB" while a state transfer has moved bytes; "" otherwise.
static std::string TransferPart(const proto::StatusReport& r) {
  if (r.transfer_bytes_done() == 0) return "";
  std::string t = absl::StrFormat(", %.1f", r.transfer_bytes_done() / 1e6);
  if (r.transfer_bytes_total() > 0) absl::StrAppendFormat(&t, " of %.1f", r.transfer_bytes_total() / 1e6);
  return t + " MB";
}

std::string ServiceStatusLine(const proto::StatusReport& r) {
  const std::string& s = r.state();
  if (r.role() == "primary") {
    if (s == "starting") return "primary: starting";
    if (s == "transferring")
      return absl::StrCat("primary: connecting to the backup ", r.peer(),
                          " and sending it the VM's state", TransferPart(r));
    if (s == "protected") {
      return absl::StrFormat(
          "primary: protected at generation %s (backup %s; %u entries unacknowledged, %u "
          "outputs held)",
          Gen(r), r.peer(), r.log_seq() - std::min(r.log_seq(), r.acked_seq()), r.held_outputs());
    }
    if (s == "unprotected")
      return absl::StrCat("primary: unprotected at generation ", Gen(r),
                          " (the backup is lost; serving alone)");
    if (s == "halted") return absl::StrCat("primary: halted at generation ", Gen(r));
  } else if (r.role() == "backup") {
    if (s == "waiting") return absl::StrCat("backup: waiting for a primary on ", r.peer());
    if (s == "receiving-state")
      return absl::StrCat("backup: receiving the primary's state", TransferPart(r));
    if (s == "replaying") {
      return absl::StrFormat("backup: replaying generation %s, %u entries (%.1f ms) behind",
                             Gen(r), r.lag_entries(), r.lag_ms());
    }
    if (s == "live")
      return absl::StrCat("backup: live at generation ", Gen(r),
                          " (the primary was lost; serving as an unprotected primary)");
    if (s == "halted") return absl::StrCat("backup: halted at generation ", Gen(r));
  }
  return absl::StrCat(r.role(), ": ", s, " at generation ", Gen(r));
}

bool ServiceReady(const proto::StatusReport& r) {
  const std::string& s = r.state();
  if (r.role() == "primary") return s == "protected" || s == "unprotected";
  if (r.role() == "backup") return s == "replaying" || s == "live";
  return false;
}

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  watchdog_ = enabled_ && sd_watchdog_enabled(0, &usec) > 0;
}

void ServiceNotifier::Update(const proto::StatusReport& r) {
  if (!enabled_) return;
  std::string msg;
  const std::string key = absl::StrCat(r.role(), "/", r.state(), "/", r.generation());
  const std::string line = ServiceStatusLine(r);
  const int64_t now = repl::SteadyNowNs();
  if (key != last_key_ || (line != last_line_ && now - last_sent_ns_ >= kLagStatusIntervalNs)) {
    absl::StrAppend(&msg, "STATUS=", line, "\n");
    last_key_ = key;
    last_line_ = line;
    last_sent_ns_ = now;
  }
  if (!ready_sent_ && ServiceReady(r)) {
    absl::StrAppend(&msg, "READY=1\n");
    ready_sent_ = true;
  }
  if (!stopping_sent_ && r.state() == "halted") {
    absl::StrAppend(&msg, "STOPPING=1\n");
    stopping_sent_ = true;
  }
  if (watchdog_) absl::StrAppend(&msg, "WATCHDOG=1\n");
  if (!msg.empty()) sd_notify(0, msg.c_str());
}

}  // namespace ftd::failover
