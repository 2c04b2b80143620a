// The primary role (docs/pair.md): a record session whose log goes to the backup over the
// replication client, an output-commit gate that holds every output until the backup
// acknowledged the entries behind it, and the promotion rule when the backup is lost (win
// the next generation and go on unprotected, or halt). The role owns all of them and frees
// them in the one safe order: the status monitor, the gate's releases, the machine, the
// gate's thread, the client.
//
// Use: Promotion::PrepareNewPrimary() (the arbiter's start rule; it takes nothing), then
// the role on that promotion: Boot(), Protect() (connect; once the backup accepted, win the
// generation; state transfer), then run machine() to its outcome (the cli drives it),
// Finish(outcome), Close().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "failover/promotion.h"
#include "failover/status_monitor.h"
#include "failover/transfer_progress.h"
#include "primary/output_commit_gate.h"
#include "primary/replication_client.h"
#include "primary/replication_sink.h"
#include "replay/record_session.h"

namespace ftd::primary {

enum class PrimaryState { kStarting, kTransferring, kProtected, kUnprotected, kHalted };
const char* PrimaryStateName(PrimaryState s);

struct PrimaryOptions {
  ReplicationClientOptions client;  // the backup; generation and on_peer_dead are the role's
  SinkLimits limits;
  std::string disk_mode = "replicated";  // replicated: the disk is transferred; shared: it is not
  std::string disk_path;                 // the guest's disk (empty: none)
  std::string log_path;                  // also keep the log here (empty: no)
  uint64_t epoch_interval_ns = replay::kDefaultEpochIntervalNs;
  std::chrono::seconds peer_wait{60};  // how long to wait for the backup to come up
  std::string status_path;
  std::function<bool()> stop_requested;  // a signal came: stop waiting for the backup
};

class PrimaryRole {
 public:
  // `promotion` has passed PrepareNewPrimary(): its generation() is the tentative one.
  PrimaryRole(PrimaryOptions options, std::unique_ptr<failover::Promotion> promotion);
  ~PrimaryRole();
  PrimaryRole(const PrimaryRole&) = delete;
  PrimaryRole& operator=(const PrimaryRole&) = delete;

  // Boots the guest in a record session behind the output-commit gate.
  absl::Status Boot(std::unique_ptr<vmm::Kvm> kvm, vmm::LoadedGuest guest,
                    std::vector<uint8_t> image, vmm::ConsoleOutput console);
  // Connects to the backup, wins the tentative generation once the backup accepted this
  // primary, and hands it the machine's state at this point (and the disk in replicated
  // mode); the log starts here. Returns once the backup holds it: protected.
  // PermissionDenied: the arbiter refused the generation (fenced: this host must not serve);
  // any other error before the backup's acceptance has taken nothing at the arbiter.
  absl::Status Protect();
  // The run ended at `outcome`: the log's end goes to the backup, and held outputs leave once
  // it acknowledged them (or the backup is lost and this host won the arbiter).
  absl::Status Finish(const vmm::RunOutcome& outcome);
  // Ends the stream cleanly when the backup is still there; writes the final status.
  void Close();
  // For the driver at a stop at a point it did not ask for: a backup that connected while this
  // primary ran unprotected joins here (the guest's one pause: its state, the disk, a new
  // log from this point; docs/pair.md "Joining a running primary"). True: the stop was the
  // join's (done or failed: the machine runs on either way).
  bool JoinAtStop();

  vmm::Machine& machine() { return session_->machine(); }
  PrimaryState state() const { return state_.load(); }
  bool fenced() const { return state_.load() == PrimaryState::kHalted; }
  uint64_t generation() const { return promotion_->generation(); }
  // Milliseconds the guest waited for the first state transfer.
  double first_transfer_pause_ms() const { return pause_ms_.load(); }

 private:
  // The client's peer-dead callback (its own threads): promote or halt, once.
  void OnBackupLost();
  // Waits for the backup's ack of the initial state, printing progress once a second; fails
  // when the backup is lost or no byte moved for 2 minutes.
  absl::Status WaitForStateTaken();
  // The gate's confirm(): after a silence longer than the peer timeout, may outputs leave?
  // Halts this host when the arbiter shows it was replaced.
  bool ConfirmGeneration();
  // Replicated disk: the machine's writes from now on count for the generation this host
  // holds (docs/pair.md "Incremental disk for a rejoin"). A map that cannot be kept costs
  // the next rejoin a full copy, so its failure is a warning.
  void TrackDiskWrites();
  // Fenced: drop the held outputs and stop the VM. decide_mu_ held.
  void HaltLocked(const std::string& why);
  void Fill(proto::StatusReport& r);
  absl::StatusOr<std::unique_ptr<ReplicationClient>> ConnectToBackup();
  // The machine's state at this point with a new log from here (the first transfer: the log's
  // start; a join: a restart of the log).
  absl::StatusOr<std::string> InitialState(bool restart);
  // Sends it and waits for the backup to hold it; then protected.
  absl::Status Transfer(const std::string& bytes, int64_t t0, const char* what);
  absl::Status AfterTransfer(const std::string& bytes, int64_t t0, const char* how);
  // While unprotected: connects to the peer once a second; when a backup accepts, asks the
  // machine to stop at a point for JoinAtStop. Ends when protected again or closing.
  void JoinLoop();
  void StopJoinLoop();

  const PrimaryOptions options_;
  std::unique_ptr<failover::Promotion> promotion_;
  std::atomic<PrimaryState> state_{PrimaryState::kStarting};
  std::atomic<double> pause_ms_{0};
  failover::TransferProgress progress_;  // the initial state being sent
  const int64_t started_ns_;

  std::mutex decide_mu_;  // OnBackupLost and the destructor
  bool decided_ = false;
  bool closing_ = false;
  bool joining_now_ = false;  // a join's transfer runs (a loss then decides as when protected)

  std::mutex join_mu_;
  std::condition_variable join_cv_;
  bool join_stop_ = false;
  std::unique_ptr<ReplicationClient> join_client_;  // accepted, waiting for the stop
  std::thread joiner_;
  std::atomic<double> join_pause_ms_{0};
  // Clients and sinks of earlier backups: the gate and the status may still read them.
  std::vector<std::unique_ptr<replay::LogSink>> retired_sinks_;
  std::vector<std::unique_ptr<ReplicationClient>> retired_clients_;

  // Declared in the order they must outlive each other (destroyed bottom-up).
  std::unique_ptr<ReplicationClient> client_;
  std::atomic<ReplicationClient*> client_ptr_{nullptr};  // read by the gate's thread
  std::atomic<ReplicationSink*> sink_{nullptr};          // owned by the session's recorder
  std::unique_ptr<OutputCommitGate> gate_;
  std::unique_ptr<replay::RecordSession> session_;
  std::unique_ptr<failover::StatusMonitor> monitor_;
};

}  // namespace ftd::primary
