#include "failover/transfer_progress.h"

#include "absl/strings/str_format.h"
#include "proto/replication_protocol.h"

namespace ftd::failover {

namespace {
constexpr int64_t kLineIntervalNs = 1'000'000'000;
}  // namespace

void TransferProgress::Start(uint64_t total) {
  std::lock_guard lock(mu_);
  done_.store(0);
  total_.store(total);
  finished_.store(false);
  const int64_t now = repl::SteadyNowNs();
  start_ns_.store(now);
  next_line_ns_ = now + kLineIntervalNs;
}

double TransferProgress::rate_bps() const {
  const int64_t start = start_ns_.load();
  if (start == 0) return 0;
  const double secs = static_cast<double>(repl::SteadyNowNs() - start) / 1e9;
  return secs > 0 ? static_cast<double>(done_.load()) / secs : 0;
}

std::optional<std::string> TransferProgress::LineDue(const char* verb) {
  std::lock_guard lock(mu_);
  const int64_t now = repl::SteadyNowNs();
  if (start_ns_.load() == 0 || finished_.load() || now < next_line_ns_) return std::nullopt;
  next_line_ns_ = now + kLineIntervalNs;
  const uint64_t done = done_.load(), total = total_.load();
  const std::string of =
      total > 0 ? absl::StrFormat(" of %.1f MB (%d %%)", total / 1e6,
                                  static_cast<int>(100.0 * static_cast<double>(done) /
                                                   static_cast<double>(total)))
                : std::string();
  return absl::StrFormat("%s: %.1f MB%s, %.1f MB/s", verb, done / 1e6, of, rate_bps() / 1e6);
}

void TransferProgress::Fill(proto::StatusReport& r) const {
  r.set_transfer_bytes_done(done_.load());
  r.set_transfer_bytes_total(total_.load());
  r.set_transfer_rate_bps(finished_.load() ? 0 : rate_bps());
}

}  // namespace ftd::failover
