// The pair's roles in one process: a PrimaryRole and a BackupRole over a loopback gRPC stream
// (plaintext on 127.0.0.1), each with a real machine running the ticks guest, and a file
// arbiter in a temporary directory. The primary's stream is killed mid-run (its role is
// destroyed without closing the stream, as a crash would leave it); the backup must go live
// at generation 2 with every received entry replayed, and the console lines the clients saw
// (the primary's released outputs, then the new primary's) must be in order and never
// contradict each other.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "backup/backup_role.h"
#include "failover/arbiter.h"
#include "gtest/gtest.h"
#include "primary/primary_role.h"
#include "tests/support/process.h"
#include "vmm/envelope.h"

namespace ftd {
namespace {

constexpr uint64_t kTicks = 80;

struct Console {
  std::mutex mu;
  std::string text;
  vmm::ConsoleOutput Output() {
    return [this](std::span<const uint8_t> b) {
      std::lock_guard lock(mu);
      text.append(reinterpret_cast<const char*>(b.data()), b.size());
    };
  }
  std::string Get() {
    std::lock_guard lock(mu);
    return text;
  }
};

// The tick numbers of the "tick I clock_ns=T" lines in `text`, in order.
std::vector<uint64_t> Ticks(const std::string& text) {
  std::vector<uint64_t> out;
  static const std::regex line("tick ([0-9]+) clock_ns=");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stoull((*it)[1]));
  }
  return out;
}

absl::StatusOr<vmm::LoadedGuest> Ticks80(std::vector<uint8_t>* image) {
  auto bytes =
      vmm::ReadWholeFile(std::string(FTD_GUEST_DIR) + "/ticks.elf", vmm::kMaxGuestImageSize);
  if (!bytes.ok()) return bytes.status();
  *image = *bytes;
  vmm::MachineConfig config;
  config.cmdline = "ticks=80 hz=100";
  return vmm::LoadGuest(config, *image);
}

TEST(PairRolesKvmTest, BackupGoesLiveWithEveryEntryReplayedAndOutputsInOrder) {
  FTD_REQUIRE_KVM();
  char tmpl[] = "/tmp/ftd-roles-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string arbiter = "file:" + dir + "/arbiter";

  // The backup, on a port the kernel picks.
  Console backup_console;
  auto bkvm = vmm::Kvm::Open("/dev/kvm");
  ASSERT_TRUE(bkvm.ok()) << bkvm.status();
  auto bpromo = failover::Promotion::Open(arbiter, "node-b", "backup");
  ASSERT_TRUE(bpromo.ok()) << bpromo.status();
  backup::BackupOptions bo;
  bo.server.listen_address = "127.0.0.1:0";
  bo.server.insecure = true;
  bo.server.vm_id = "vm";
  bo.server.heartbeat_interval = std::chrono::milliseconds(100);
  bo.server.peer_timeout = std::chrono::milliseconds(3000);
  bo.status_path = dir + "/backup.status";
  auto backup = std::make_unique<backup::BackupRole>(bo, *std::move(bpromo),
                                                     std::make_unique<vmm::Kvm>(*std::move(bkvm)),
                                                     backup_console.Output());
  ASSERT_TRUE(backup->Listen().ok());
  ASSERT_GT(backup->port(), 0);

  absl::Status backup_error;
  std::optional<backup::ReplayEnd> backup_end;
  std::optional<vmm::RunOutcome> live_outcome;
  uint64_t replayed_at_live = 0, received_at_live = 0;
  std::thread backup_thread([&] {
    if (!backup->WaitForPrimary()) return void(backup_error = absl::AbortedError("no primary"));
    if (auto s = backup->StartReplay(); !s.ok()) return void(backup_error = s);
    auto end = backup->Replay();
    if (!end.ok()) return void(backup_error = end.status());
    backup_end = *end;
    if (*end != backup::ReplayEnd::kPrimaryLost) return;
    received_at_live = backup->stream().received();
    replayed_at_live = backup->replayed_seq();
    if (auto s = backup->GoLive(); !s.ok()) return void(backup_error = s);
    auto o = backup->machine().Run();
    if (!o.ok()) return void(backup_error = o.status());
    live_outcome = *o;
  });

  // An early ASSERT must not leave the thread joinable (std::terminate): stop and join it.
  struct Joiner {
    std::thread& t;
    backup::BackupRole& b;
    ~Joiner() {
      if (t.joinable()) {
        b.RequestStop();
        t.join();
      }
    }
  } joiner{backup_thread, *backup};

  // The primary: protected, then runs about a third of the guest and its stream dies.
  Console primary_console;
  uint64_t primary_sent = 0;
  {
    auto pkvm = vmm::Kvm::Open("/dev/kvm");
    ASSERT_TRUE(pkvm.ok()) << pkvm.status();
    auto ppromo = failover::Promotion::Open(arbiter, "node-a", "primary");
    ASSERT_TRUE(ppromo.ok()) << ppromo.status();
    ASSERT_TRUE((*ppromo)->PrepareNewPrimary().ok());  // the start rule: nothing taken yet
    EXPECT_EQ((*ppromo)->generation(), 1u);
    EXPECT_FALSE((*ppromo)->claimed());
    primary::PrimaryOptions po;
    po.client.target = "127.0.0.1:" + std::to_string(backup->port());
    po.client.insecure = true;
    po.client.vm_id = "vm";
    po.client.heartbeat_interval = std::chrono::milliseconds(100);
    po.client.peer_timeout = std::chrono::milliseconds(3000);
    po.peer_wait = std::chrono::seconds(20);
    po.status_path = dir + "/primary.status";
    primary::PrimaryRole primary(po, *std::move(ppromo));
    std::vector<uint8_t> image;
    auto guest = Ticks80(&image);
    ASSERT_TRUE(guest.ok()) << guest.status();
    ASSERT_TRUE(primary
                    .Boot(std::make_unique<vmm::Kvm>(*std::move(pkvm)), *std::move(guest), image,
                          primary_console.Output())
                    .ok());
    auto protect = primary.Protect();
    ASSERT_TRUE(protect.ok()) << protect;
    EXPECT_EQ(primary.state(), primary::PrimaryState::kProtected);
    EXPECT_EQ(primary.generation(), 1u);  // won once the backup accepted it
    // Run until about tick 30 has been printed (each tick is a few points), bounded.
    for (int i = 0; i < 400 && Ticks(primary_console.Get()).size() < 25; ++i) {
      vmm::RunLimits limits;
      limits.stop_at_exit_index = primary.machine().exit_index() + 20;
      auto o = primary.machine().Run(limits);
      ASSERT_TRUE(o.ok()) << o.status();
      ASSERT_EQ(o->kind, vmm::RunOutcome::Kind::kStoppedAtPoint);
    }
    primary_sent = primary.machine().exit_index();
    // Destroyed without Close(): the stream ends as a crash would end it.
  }
  backup_thread.join();
  ASSERT_TRUE(backup_error.ok()) << backup_error;
  ASSERT_TRUE(backup_end.has_value());
  EXPECT_EQ(*backup_end, backup::ReplayEnd::kPrimaryLost);
  EXPECT_GT(received_at_live, 0u);
  EXPECT_EQ(replayed_at_live, received_at_live)
      << "the backup went live before replaying every entry";
  EXPECT_EQ(backup->generation(), 2u);
  ASSERT_TRUE(live_outcome.has_value());
  EXPECT_EQ(live_outcome->kind, vmm::RunOutcome::Kind::kGuestExit);
  EXPECT_EQ(live_outcome->status, 0u);
  EXPECT_GT(backup->machine().exit_index(), primary_sent);

  // The arbiter: generation 2 is the backup's.
  auto arb = failover::Arbiter::Open(arbiter);
  ASSERT_TRUE(arb.ok());
  auto rec = (*arb)->Read(2);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->node, "node-b");

  // What the clients saw: the primary's released lines from tick 1 on, consecutive; then the
  // new primary's, consecutive, up to the end. At the seam (docs/pair.md "What the clients
  // see"), the new primary may repeat the last lines the old one released (it goes live at the
  // last logged point, and the old primary ran on from there without logging), and lines the
  // old primary still held when it died are lost when the backup had replayed past them (both
  // seen in the nested VM); what each printed is never contradicted (the same numbered lines).
  const std::vector<uint64_t> before = Ticks(primary_console.Get());
  const std::vector<uint64_t> after = Ticks(backup_console.Get());
  ASSERT_FALSE(before.empty()) << "the primary released no output";
  ASSERT_FALSE(after.empty()) << "the new primary printed nothing";
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i], i + 1) << "primary line " << i;
  for (size_t i = 1; i < after.size(); ++i)
    EXPECT_EQ(after[i], after[i - 1] + 1) << "backup line " << i;
  EXPECT_EQ(after.back(), kTicks);
  EXPECT_NE(backup_console.Get().find("ticks 80 checksum"), std::string::npos);
  backup.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ftd
