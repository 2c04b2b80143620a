#include "failover/status_monitor.h"

#include <unistd.h>

#include <cstdio>

#include "failover/status_file.h"
#include "proto/replication_protocol.h"

namespace ftd::failover {

StatusMonitor::StatusMonitor(std::string path, std::function<void(proto::StatusReport&)> fill,
                             std::chrono::milliseconds period)
    : path_(std::move(path)), fill_(std::move(fill)), period_(period) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      PublishNow();
      lock.lock();
      cv_.wait_for(lock, period_, [this] { return stop_; });
    }
  });
}

StatusMonitor::~StatusMonitor() { Stop(); }

void StatusMonitor::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  PublishNow();
}

void StatusMonitor::PublishNow() {
  proto::StatusReport r;
  fill_(r);
  r.set_pid(getpid());
  r.set_updated_unix_ns(repl::UnixNowNs());
  static std::mutex write_mu;  // the file is replaced by rename: one writer at a time
  std::lock_guard lock(write_mu);
  if (auto s = WriteStatusFile(path_, r); !s.ok() && !warned_) {
    warned_ = true;
    std::fprintf(stderr, "ftd: warning: cannot write the status file: %s\n",
                 std::string(s.message()).c_str());
  }
  notifier_.Update(r);
}

}  // namespace ftd::failover
