// Keeps a role's status file fresh (docs/pair.md "Status"): a thread that writes what
// `fill` reports every 200 ms, and once more when stopped; each report also goes to systemd
// (ServiceNotifier: READY, STATUS, WATCHDOG) when ftd runs under it. `fill` runs on that thread: it
// reads only what the role keeps thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "failover/service_notifier.h"
#include "status.pb.h"

namespace ftd::failover {

class StatusMonitor {
 public:
  StatusMonitor(std::string path, std::function<void(proto::StatusReport&)> fill,
                std::chrono::milliseconds period = std::chrono::milliseconds(200));
  ~StatusMonitor();
  // Stops the thread and writes the final status; the role calls it before it frees what
  // `fill` reads.
  void Stop();
  // Writes the status now (e.g. at a state change), from any thread.
  void PublishNow();

 private:
  const std::string path_;
  const std::function<void(proto::StatusReport&)> fill_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;  // one write at a time; guards stop_ for cv_
  std::condition_variable cv_;
  bool stop_ = false;
  bool warned_ = false;
  ServiceNotifier notifier_;  // under the write lock
  std::thread thread_;
};

}  // namespace ftd::failover
