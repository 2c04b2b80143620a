// The backup role (docs/pair.md): a replication server that takes one primary's initial
// state and log, a replay session that follows the log in near lockstep and acknowledges
// each replayed entry, and go-live when the primary is lost and this host wins the next
// generation. The role owns all of them; the server (whose threads call into the role) is
// stopped first, then the session, then the entry stream the session reads.
//
// Use: Listen(), WaitForPrimary(), StartReplay(), Replay() (until the log ends), then
// GoLive() and run machine() live (the cli drives it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "backup/entry_stream.h"
#include "backup/replication_server.h"
#include "failover/promotion.h"
#include "failover/status_monitor.h"
#include "failover/transfer_progress.h"
#include "replay/replay_session.h"
#include "replication.pb.h"

namespace ftd::backup {

enum class BackupState { kWaiting, kReceivingState, kReplaying, kLive, kHalted };
const char* BackupStateName(BackupState s);

struct BackupOptions {
  ReplicationServerOptions server;  // the callbacks are the role's
  std::string disk;                 // this host's replica (replicated) or the shared image
  std::string net = "none";         // the tap the guest gets at go-live ("none": the recorded one)
  bool restore_at_boot = false;     // restore the boot snapshot instead of booting the image
  int replay_nice = 10;             // the replaying thread's nice value while acks matter
  std::string status_path;
};

// How the replay ended.
enum class ReplayEnd {
  kGuestExited,  // the recorded guest exited (replayed): exit_status()
  kStopped,      // a signal, or the primary ended the log cleanly
  kPrimaryLost,  // the stream ended without a LogEnd: fail over
};

class BackupRole {
 public:
  BackupRole(BackupOptions options, std::unique_ptr<failover::Promotion> promotion,
             std::unique_ptr<vmm::Kvm> kvm, vmm::ConsoleOutput console);
  ~BackupRole();
  BackupRole(const BackupRole&) = delete;
  BackupRole& operator=(const BackupRole&) = delete;

  absl::Status Listen();
  int port() const;
  // Waits for a primary's initial state; false when stopped before one came.
  bool WaitForPrimary();
  // Builds the replay session from the initial state.
  absl::Status StartReplay();
  // Replays until the log ends. A divergence is kAborted.
  absl::StatusOr<ReplayEnd> Replay();
  // The primary is lost: win the next generation and go live (FailedPrecondition: lost the
  // arbiter, this host must not serve: PermissionDenied), then announce the guest's MAC.
  absl::Status GoLive();
  // Async-signal-safe: stop waiting (for a primary, for entries) soon.
  void RequestStop();
  // The end: writes the final status ("halted").
  void Close();

  vmm::Machine& machine() { return session_->machine(); }
  uint32_t exit_status() const { return exit_status_; }
  BackupState state() const { return state_.load(); }
  uint64_t generation() const { return promotion_->generation(); }
  const EntryStream& stream() const { return stream_; }
  // The seq of the last entry replayed (thread-safe).
  uint64_t replayed_seq() const { return replayed_seq_.load(); }

 private:
  std::string CheckHello(const proto::Hello& hello);
  absl::Status OnState(uint64_t offset, const std::string& data, bool last, uint64_t total);
  void OnLost(const std::string& why);
  // Replicated disk: the machine's writes from now on count for the generation this host
  // follows or holds (docs/pair.md "Incremental disk for a rejoin"); a failure is a warning.
  void TrackDiskWrites();
  void Fill(proto::StatusReport& r);

  const BackupOptions options_;
  std::unique_ptr<failover::Promotion> promotion_;
  std::unique_ptr<vmm::Kvm> kvm_;
  const vmm::ConsoleOutput console_;
  std::atomic<BackupState> state_{BackupState::kWaiting};
  std::atomic<bool> live_{false};
  std::atomic<bool> stop_{false};
  std::atomic<double> failover_ms_{0};
  std::atomic<int64_t> ended_at_ns_{0};
  std::atomic<uint64_t> replayed_seq_{0};
  std::atomic<pid_t> replay_tid_{0};
  std::atomic<bool> session_ready_{false};  // session_ is set (the monitor's thread reads it)
  uint32_t exit_status_ = 0;

  std::mutex mu_;  // the state transfer
  std::condition_variable cv_;
  std::string state_bytes_;
  failover::TransferProgress progress_;  // the initial state being received
  std::string primary_node_;  // the accepted Hello's node
  std::optional<proto::InitialState> initial_;
  std::atomic<bool> have_state_{false};

  // Declared in the order they must outlive each other (destroyed bottom-up).
  EntryStream stream_;
  std::unique_ptr<replay::ReplaySession> session_;
  std::unique_ptr<ReplicationServer> server_;
  std::unique_ptr<failover::StatusMonitor> monitor_;
  std::unique_ptr<failover::Announcer> announcer_;
};

}  // namespace ftd::backup
