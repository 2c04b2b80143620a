// "Durable before issued": a write to a tracked image reaches the kernel only after the map
// file holds its block's bit and was fdatasync'ed, and a later write to the same block costs
// no map I/O at all. The writes are watched where they happen: in a child process whose
// threads trap every pwrite64 and fdatasync to a supervisor thread (seccomp user
// notification), which names each call's file, checks the map file on disk at each write to
// the image, and only then lets the call go on. Both back ends that write images (RawImage,
// on its I/O thread; DeferredBlockBackend, a replay's copy) are checked, and a write the map
// refuses (beyond the image) must not reach the image at all.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/unit/failover/temp_dir.h"
#include "vmm/block/deferred_backend.h"
#include "vmm/block/dirty_map.h"
#include "vmm/block/raw_image.h"

namespace ftd::vmm {
namespace {

constexpr uint64_t kImageSize = 1ull << 20;
constexpr uint64_t kGeneration = 7;
constexpr int kSkip = 77;

// What the supervisor saw, in order: M/S a pwrite/fdatasync of the map, I/F of the image,
// '!' an image write whose blocks the map file did not hold yet.
class Supervisor {
 public:
  explicit Supervisor(std::string image) : image_(std::move(image)) {}
  void Run(int listener) {
    for (;;) {
      seccomp_notif req{};
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
        if (errno == EINTR) continue;
        return;
      }
      Note(req);
      seccomp_notif_resp resp{};
      resp.id = req.id;
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
  }
  std::string trace() {
    std::lock_guard l(mu_);
    return trace_;
  }

 private:
  void Note(const seccomp_notif& req) {
    char link[64], target[4096] = {};
    snprintf(link, sizeof link, "/proc/self/fd/%d", static_cast<int>(req.data.args[0]));
    if (readlink(link, target, sizeof target - 1) < 0) return;
    const std::string path = target;
    const bool sync = req.data.nr == __NR_fdatasync;
    char c = 0;
    if (path == DirtyBlockMap::PathFor(image_)) c = sync ? 'S' : 'M';
    if (path == image_) c = sync ? 'F' : (OnDisk(req.data.args[3], req.data.args[2]) ? 'I' : '!');
    if (c == 0) return;
    std::lock_guard l(mu_);
    trace_ += c;
  }
  // Whether the map file, read afresh as a later process would, names every block.
  bool OnDisk(uint64_t offset, uint64_t len) {
    auto map = DirtyBlockMap::Open(image_, kImageSize);
    if (!map.ok()) return false;
    auto blocks = (*map)->BlocksOf(kGeneration);
    if (!blocks.ok()) return false;
    for (uint64_t b = offset / DirtyBlockMap::kBlockSize;
         b <= (offset + len - 1) / DirtyBlockMap::kBlockSize; ++b) {
      if (std::find(blocks->begin(), blocks->end(), b) == blocks->end()) return false;
    }
    return true;
  }

  const std::string image_;
  std::mutex mu_;
  std::string trace_;
};

// Installs the trap on the calling thread (and so on every thread it starts from now on).
int TrapWrites() {
  sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pwrite64, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fdatasync, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return static_cast<int>(
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
}

// Runs `writes` (which returns an error or "") in a child process under the trap, after the
// map of `image` began kGeneration; returns the child's "trace" or "error: ...".
std::string Traced(const std::string& image,
                   const std::function<std::string(DirtyBlockMap*)>& writes) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "error: pipe";
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    auto reply = [&](const std::string& s, int code) {
      (void)!write(pipefd[1], s.data(), s.size());
      _exit(code);
    };
    auto map = DirtyBlockMap::OpenOrCreate(image, kImageSize);
    if (!map.ok() || !(*map)->BeginGeneration(kGeneration).ok()) reply("error: map", 1);
    Supervisor supervisor(image);
    int listener = -1;
    std::mutex mu;
    std::thread watcher;  // started before the trap: its own calls are not trapped
    {
      std::unique_lock l(mu);
      watcher = std::thread([&] {
        int fd;
        {
          std::lock_guard wl(mu);
          fd = listener;
        }
        if (fd >= 0) supervisor.Run(fd);
      });
      listener = TrapWrites();
    }
    if (listener < 0) reply("seccomp user notification is not available here", kSkip);
    std::string error = writes(map->get());
    if (!error.empty()) reply("error: " + error, 1);
    reply(supervisor.trace(), 0);  // the watcher dies with the process
  }
  close(pipefd[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == kSkip) return "skip: " + out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "error: child failed: " + out;
  return out;
}

BlockRequest WriteOf(uint64_t id, uint64_t offset, size_t len) {
  BlockRequest r;
  r.id = id;
  r.kind = BlockRequest::Kind::kWrite;
  r.offset = offset;
  r.data.assign(len, static_cast<uint8_t>(id));
  return r;
}

// Block 2; block 2 again; blocks 9 and 10 in one request.
std::vector<BlockRequest> ThreeWrites() {
  std::vector<BlockRequest> w;
  w.push_back(WriteOf(1, 2 * 4096, 4096));
  w.push_back(WriteOf(2, 2 * 4096 + 512, 512));
  w.push_back(WriteOf(3, 10 * 4096 - 512, 1024));
  return w;
}
// Per new bit: the map page, its fdatasync, then the data; an old bit: the data alone.
constexpr const char* kExpected = "MSIIMSI";

class TrackedWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::err);
    image_ = tmp_.Sub("disk.img");
    const int fd = open(image_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kImageSize), 0);
    close(fd);
  }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }
  void Expect(const std::string& trace) {
    if (trace.rfind("skip: ", 0) == 0) GTEST_SKIP() << trace;
    EXPECT_EQ(trace, kExpected);
  }
  failover::TempDir tmp_;
  std::string image_;
};

TEST_F(TrackedWriteTest, RawImageIssuesAWriteOnlyAfterItsBitIsDurable) {
  Expect(Traced(image_, [this](DirtyBlockMap* map) -> std::string {
    HostEventQueue events;
    auto img = RawImage::Open(image_, false, &events);
    if (!img.ok()) return std::string(img.status().message());
    (*img)->set_dirty_map(map);
    for (BlockRequest& r : ThreeWrites()) (*img)->Submit(std::move(r));
    size_t done = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (done < 3 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{events.fd(), POLLIN, 0};
      poll(&p, 1, 100);
      events.ClearWake();
      for (HostEvent& e : events.TakeAll()) {
        if (std::get<BlockCompletionEvent>(e).status != kVirtioBlkSOk) return "a write failed";
        ++done;
      }
    }
    return done == 3 ? "" : "the writes did not complete";
  }));
}

TEST_F(TrackedWriteTest, AReplaysDiskCopyIssuesAWriteOnlyAfterItsBitIsDurable) {
  Expect(Traced(image_, [this](DirtyBlockMap* map) -> std::string {
    auto copy = DeferredBlockBackend::Open(image_);
    if (!copy.ok()) return std::string(copy.status().message());
    (*copy)->set_dirty_map(map);
    for (BlockRequest& r : ThreeWrites()) (*copy)->Submit(std::move(r));
    return "";
  }));
}

// The check itself can fail: an untracked write (no map given) reaches the image with no bit.
TEST_F(TrackedWriteTest, TheWatchSeesAnUntrackedWrite) {
  const std::string trace = Traced(image_, [this](DirtyBlockMap*) -> std::string {
    auto copy = DeferredBlockBackend::Open(image_);
    if (!copy.ok()) return std::string(copy.status().message());
    (*copy)->Submit(WriteOf(1, 0, 4096));
    return "";
  });
  if (trace.rfind("skip: ", 0) == 0) GTEST_SKIP() << trace;
  EXPECT_EQ(trace, "!");
}

// A write the map refuses (beyond the image) is never issued: the image does not grow, the
// guest gets an I/O error, and the map names nothing.
TEST_F(TrackedWriteTest, AWriteTheMapRefusesNeverReachesTheImage) {
  auto map = DirtyBlockMap::OpenOrCreate(image_, kImageSize);
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_TRUE((*map)->BeginGeneration(1).ok());
  HostEventQueue events;
  {
    auto img = RawImage::Open(image_, false, &events);
    ASSERT_TRUE(img.ok()) << img.status();
    (*img)->set_dirty_map(map->get());
    (*img)->Submit(WriteOf(1, kImageSize - 512, 1024));
  }  // the destructor finishes the queued request
  auto taken = events.TakeAll();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(std::get<BlockCompletionEvent>(taken[0]).status, kVirtioBlkSIoErr);
  {
    auto copy = DeferredBlockBackend::Open(image_);
    ASSERT_TRUE(copy.ok()) << copy.status();
    (*copy)->set_dirty_map(map->get());
    (*copy)->Submit(WriteOf(2, kImageSize, 4096));
  }
  struct stat st {};
  ASSERT_EQ(stat(image_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kImageSize);
  auto blocks = (*map)->BlocksOf(1);
  ASSERT_TRUE(blocks.ok());
  EXPECT_TRUE(blocks->empty());
}

}  // namespace
}  // namespace ftd::vmm
