// Tells systemd how a role is doing (deploy/systemd: Type=notify), from the same reports the
// status file gets (StatusMonitor calls Update with each one): READY=1 once the role serves
// (primary: protected or unprotected; backup: replaying the primary's log, or live), a
// STATUS= line at every change of role, state or generation (and at most once a second while
// only the lag or held outputs change), STOPPING=1 when halted, and WATCHDOG=1 with every
// report when the unit sets WatchdogSec=. Without $NOTIFY_SOCKET (not under systemd) it does
// nothing.
#pragma once

#include <cstdint>
#include <string>

#include "status.pb.h"

namespace ftd::failover {

// The STATUS= text for a report, e.g. "primary: protected at generation 3 (backup
// 198.19.0.2:7411; 2 entries unacknowledged, 0 outputs held)" or "backup: replaying
// generation 3, 12 entries (4.1 ms) behind".
std::string ServiceStatusLine(const proto::StatusReport& r);
// Whether a report's state is one in which the role serves (READY=1).
bool ServiceReady(const proto::StatusReport& r);

class ServiceNotifier {
 public:
  ServiceNotifier();
  // Not thread-safe: one caller at a time (the monitor holds its write lock).
  void Update(const proto::StatusReport& r);

 private:
  bool enabled_ = false;
  bool watchdog_ = false;
  bool ready_sent_ = false;
  bool stopping_sent_ = false;
  std::string last_key_;   // role, state, generation of the last STATUS sent
  std::string last_line_;
  int64_t last_sent_ns_ = 0;
};

}  // namespace ftd::failover
