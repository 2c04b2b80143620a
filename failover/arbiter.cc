#include "failover/arbiter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ftd::failover {
namespace {

constexpr absl::string_view kSpecPrefix = "file:";
constexpr absl::string_view kGenerationPrefix = "generation-";
constexpr size_t kGenerationDigits = 20;
constexpr size_t kMaxRecordBytes = 4096;
absl::Status ErrnoError(int err, absl::string_view what) { return absl::ErrnoToStatus(err, what); }

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

template <typename T>
bool ParseNumber(absl::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A valid record value: non-empty, one line.
bool IsSingleLine(const std::string& s) {
  return !s.empty() && s.find_first_of("\n\r") == std::string::npos &&
         s.find('\0') == std::string::npos;
}

std::string FormatRecord(const GenerationRecord& r) {
  std::string out = absl::StrCat("generation=", r.generation, "\nnode=", r.node, "\nrole=", r.role,
                                 "\npid=", r.pid, "\nunix_ns=", r.unix_ns, "\n");
  if (IsSingleLine(r.machine_id)) absl::StrAppend(&out, "machine_id=", r.machine_id, "\n");
  if (IsSingleLine(r.boot_id)) absl::StrAppend(&out, "boot_id=", r.boot_id, "\n");
  absl::StrAppend(&out, "start_time=", r.start_time, "\n");
  return out;
}

// The first line of a small file, without surrounding white space; "" when unreadable.
std::string FirstLineOf(const char* path) {
  Fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  char buf[256];
  ssize_t n;
  do {
    n = read(fd.get(), buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return "";
  absl::string_view s(buf, static_cast<size_t>(n));
  s = s.substr(0, s.find('\n'));
  return std::string(absl::StripAsciiWhitespace(s));
}

// /proc/PID/stat: the state letter (field 3) and the start time (field 22).
struct ProcStat {
  char state = '?';
  uint64_t start_time = 0;
};
std::optional<ProcStat> ReadProcStat(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd.get(), buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  absl::string_view s(buf, static_cast<size_t>(n));
  // The command name (field 2) is in parentheses and may hold anything, ')' too.
  const size_t close_paren = s.rfind(')');
  if (close_paren == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(s.substr(close_paren + 1), ' ', absl::SkipEmpty());
  ProcStat st;
  if (fields.size() < 20 || fields[0].size() != 1 ||
      !ParseNumber(absl::StripAsciiWhitespace(fields[19]), &st.start_time)) {
    return std::nullopt;
  }
  st.state = fields[0][0];
  return st;
}

std::string Describe(const GenerationRecord& r) {
  return absl::StrCat(r.node, " (role ", r.role, ", pid ", r.pid, ", since ",
                      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                       absl::FromUnixNanos(static_cast<int64_t>(r.unix_ns)),
                                       absl::UTCTimeZone()),
                      ")");
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, absl::StrCat("open ", dir));
  if (fsync(fd.get()) != 0) return ErrnoError(errno, absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

}  // namespace

ProcessIdentity SelfIdentity() {
  static const std::string machine_id = FirstLineOf("/etc/machine-id");
  static const std::string boot_id = FirstLineOf("/proc/sys/kernel/random/boot_id");
  ProcessIdentity id;
  id.machine_id = machine_id;
  id.boot_id = boot_id;
  id.pid = static_cast<int64_t>(getpid());
  if (auto st = ReadProcStat(id.pid)) id.start_time = st->start_time;
  return id;
}

Liveness LivenessOf(const GenerationRecord& record) {
  if (record.boot_id.empty() || record.start_time == 0) return Liveness::kUnknown;
  const ProcessIdentity self = SelfIdentity();
  const bool machines_known = !record.machine_id.empty() && !self.machine_id.empty();
  if (machines_known && record.machine_id != self.machine_id) return Liveness::kOtherMachine;
  if (self.boot_id.empty()) return Liveness::kUnknown;
  if (record.boot_id != self.boot_id) {
    // Another boot of this machine: everything that ran then is gone. Without machine ids
    // another boot id may as well be another machine.
    return machines_known ? Liveness::kDead : Liveness::kUnknown;
  }
  std::optional<ProcStat> st = ReadProcStat(record.pid);
  if (!st || st->state == 'Z' || st->state == 'X' || st->start_time != record.start_time) {
    return Liveness::kDead;
  }
  return Liveness::kAlive;
}

absl::StatusOr<std::unique_ptr<Arbiter>> Arbiter::Open(const std::string& spec) {
  if (!absl::StartsWith(spec, kSpecPrefix) || spec.size() == kSpecPrefix.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arbiter \"", spec, "\": expected file:DIR (a directory on storage both hosts share)"));
  }
  std::string dir = spec.substr(kSpecPrefix.size());
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError(errno, absl::StrCat("arbiter: mkdir ", dir));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError(errno, absl::StrCat("arbiter: ", dir));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("arbiter: ", dir, " is not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoError(errno, absl::StrCat("arbiter: ", dir, " is not writable"));
  }
  return std::unique_ptr<Arbiter>(new Arbiter(std::move(dir)));
}

std::string Arbiter::GenerationPath(uint64_t gen) const {
  char name[64];
  std::snprintf(name, sizeof(name), "generation-%020llu", static_cast<unsigned long long>(gen));
  return absl::StrCat(dir_, "/", name);
}

absl::StatusOr<uint64_t> Arbiter::CurrentGeneration() {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return ErrnoError(errno, absl::StrCat("arbiter: opendir ", dir_));
  uint64_t current = 0;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    absl::string_view name(e->d_name);
    if (!absl::StartsWith(name, kGenerationPrefix)) continue;
    name.remove_prefix(kGenerationPrefix.size());
    uint64_t gen = 0;
    if (name.size() != kGenerationDigits ||
        name.find_first_not_of("0123456789") != absl::string_view::npos ||
        !ParseNumber(name, &gen)) {
      continue;
    }
    if (gen > current) current = gen;
  }
  int err = errno;
  closedir(d);
  if (err != 0) return ErrnoError(err, absl::StrCat("arbiter: readdir ", dir_));
  return current;
}

absl::StatusOr<GenerationRecord> Arbiter::Read(uint64_t gen) {
  if (gen == 0) return absl::InvalidArgumentError("arbiter: generation 0 is never held");
  const std::string path = GenerationPath(gen);
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, absl::StrCat("arbiter: open ", path));
  std::string text;
  char buf[1024];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("arbiter: read ", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxRecordBytes) {
      return absl::DataLossError(absl::StrCat("arbiter: ", path, " is over ", kMaxRecordBytes,
                                              " bytes: not a generation record"));
    }
  }
  auto bad = [&path](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("arbiter: malformed generation record ", path, ": ", why));
  };
  if (text.empty()) return bad("empty");
  if (text.back() != '\n') return bad("truncated (no final newline)");
  text.pop_back();

  GenerationRecord r;
  bool have_gen = false, have_node = false, have_role = false, have_pid = false, have_ns = false;
  bool have_machine = false, have_boot = false, have_start = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) return bad(absl::StrCat("line \"", line, "\" has no '='"));
    absl::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    auto once = [&](bool* seen) {
      if (*seen) return false;
      *seen = true;
      return true;
    };
    auto text = [&](bool* seen, std::string* out) {
      *out = std::string(value);
      return once(seen) && !value.empty();
    };
    bool ok;
    if (key == "generation") {
      ok = once(&have_gen) && ParseNumber(value, &r.generation);
    } else if (key == "node") {
      ok = text(&have_node, &r.node);
    } else if (key == "role") {
      ok = text(&have_role, &r.role);
    } else if (key == "pid") {
      ok = once(&have_pid) && ParseNumber(value, &r.pid);
    } else if (key == "unix_ns") {
      ok = once(&have_ns) && ParseNumber(value, &r.unix_ns);
    } else if (key == "machine_id") {
      ok = text(&have_machine, &r.machine_id);
    } else if (key == "boot_id") {
      ok = text(&have_boot, &r.boot_id);
    } else if (key == "start_time") {
      ok = once(&have_start) && ParseNumber(value, &r.start_time);
    } else {
      return bad(absl::StrCat("unknown key \"", key, "\""));
    }
    if (!ok) return bad(absl::StrCat("bad or repeated \"", key, "\""));
  }
  if (!(have_gen && have_node && have_role && have_pid && have_ns)) {
    return bad("missing keys (needs generation, node, role, pid, unix_ns)");
  }
  if (r.generation != gen) {
    return bad(absl::StrCat("says generation ", r.generation, ", its name ", gen));
  }
  return r;
}

absl::StatusOr<bool> Arbiter::TryAcquire(uint64_t gen, const std::string& node,
                                         const std::string& role) {
  if (gen == 0) return absl::InvalidArgumentError("arbiter: generations start at 1");
  if (!IsSingleLine(node) || !IsSingleLine(role)) {
    return absl::InvalidArgumentError("arbiter: node and role must be non-empty single lines");
  }
  const ProcessIdentity self = SelfIdentity();
  GenerationRecord r{gen,          node,
                     role,         self.pid,
                     static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())),
                     self.machine_id, self.boot_id,
                     self.start_time};
  const std::string record = FormatRecord(r);
  const std::string target = GenerationPath(gen);

  std::string tmp = absl::StrCat(dir_, "/.tmp-XXXXXX");
  Fd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, absl::StrCat("arbiter: mkstemp in ", dir_));
  // The temporary name goes whatever happens; the generation name, once linked, stays.
  struct Unlinker {
    const std::string& path;
    bool armed = true;
    ~Unlinker() {
      if (armed) unlink(path.c_str());
    }
  } unlinker{tmp};

  if (fchmod(fd.get(), 0644) != 0) return ErrnoError(errno, absl::StrCat("fchmod ", tmp));
  if (auto s = WriteAll(fd.get(), record, tmp); !s.ok()) return s;
  if (fsync(fd.get()) != 0) return ErrnoError(errno, absl::StrCat("arbiter: fsync ", tmp));

  // On NFS link's reply can be lost and the retried call fail although the first one
  // worked, so the temporary file's link count decides (2: it is the generation file too).
  int link_err = link(tmp.c_str(), target.c_str()) == 0 ? 0 : errno;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, absl::StrCat("arbiter: fstat ", tmp));
  if (st.st_nlink != 2) {
    if (link_err == EEXIST) return false;
    return ErrnoError(link_err != 0 ? link_err : EIO,
                      absl::StrCat("arbiter: link ", tmp, " to ", target));
  }
  unlinker.armed = false;
  if (unlink(tmp.c_str()) != 0) return ErrnoError(errno, absl::StrCat("arbiter: unlink ", tmp));
  // Make the new name (and the temporary's removal) durable before anyone acts on the win.
  if (auto s = FsyncDir(dir_); !s.ok()) return s;
  return true;
}

absl::Status Arbiter::CheckStartRule(uint64_t current, const std::string& node) {
  absl::StatusOr<GenerationRecord> holder = Read(current);
  if (!holder.ok()) return holder.status();
  if (holder->node != node) {
    return absl::FailedPreconditionError(absl::StrCat(
        "generation ", current, " of this VM is held by ", Describe(*holder),
        ": refusing to become a second live primary; if ", holder->node,
        " is gone for good, start a new pair with a fresh arbiter directory"));
  }
  switch (LivenessOf(*holder)) {
    case Liveness::kAlive:
      return absl::FailedPreconditionError(absl::StrCat(
          "generation ", current, " of this VM is held by a live ftd on this node: ",
          Describe(*holder),
          " still runs and serves the VM; refusing to start a second primary for it (stop "
          "that process first; nothing was taken at the arbiter)"));
    case Liveness::kOtherMachine:
      return absl::FailedPreconditionError(absl::StrCat(
          "generation ", current, " of this VM is held by ", Describe(*holder),
          " on another machine (machine id ", holder->machine_id, ", this one ",
          SelfIdentity().machine_id, "): two machines use the node name '", node,
          "' and this one cannot tell whether that ftd is alive; give each host its own --node"));
    case Liveness::kDead:
    case Liveness::kUnknown:
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Arbiter::NextPrimaryGeneration(const std::string& node) {
  absl::StatusOr<uint64_t> current = CurrentGeneration();
  if (!current.ok()) return current.status();
  if (*current > 0) {
    if (auto s = CheckStartRule(*current, node); !s.ok()) return s;
  }
  return *current + 1;
}

absl::Status Arbiter::ClaimPrimaryGeneration(uint64_t gen, const std::string& node) {
  if (gen == 0) return absl::InvalidArgumentError("arbiter: generations start at 1");
  absl::StatusOr<uint64_t> current = CurrentGeneration();
  if (!current.ok()) return current.status();
  if (*current != gen - 1) {
    std::string holder;
    if (*current > 0) {
      auto r = Read(*current);
      holder = r.ok() ? absl::StrCat(" (held by ", Describe(*r), ")")
                      : absl::StrCat(" (", r.status().message(), ")");
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "generation ", gen, " was to be this primary's, but the arbiter is at generation ",
        *current, holder, " now: another host took over while this primary was starting"));
  }
  if (*current > 0) {
    if (auto s = CheckStartRule(*current, node); !s.ok()) return s;
  }
  absl::StatusOr<bool> won = TryAcquire(gen, node, "primary");
  if (!won.ok()) return won.status();
  if (!*won) {
    auto r = Read(gen);
    return absl::FailedPreconditionError(absl::StrCat(
        "lost the arbiter for generation ", gen, " to ",
        r.ok() ? Describe(*r) : std::string(r.status().message()),
        " while this primary was starting"));
  }
  return absl::OkStatus();
}

}  // namespace ftd::failover
