#include "replay/replayer.h"

#include <linux/kvm.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "replay/recorder.h"

namespace ftd::replay {
namespace {

std::string EntryName(const proto::LogEntry& e) {
  switch (e.event_case()) {
    case proto::LogEntry::kClock:
      if (e.clock().timer()) return "a timer deadline check";
      return e.clock().realtime() ? "a wall-clock read" : "a clock read";
    case proto::LogEntry::kSerial:
      return "serial input";
    case proto::LogEntry::kBlock:
      return "a disk completion";
    case proto::LogEntry::kNet:
      return "a received frame";
    case proto::LogEntry::kEpoch:
      return "an epoch hash";
    case proto::LogEntry::kEnd:
      return "the end of the recording";
    default:
      return "an unknown entry";
  }
}

bool IsHostEvent(const proto::LogEntry& e) {
  return e.has_serial() || e.has_block() || e.has_net();
}

void DiffRegs(const std::string& a, const std::string& b, std::vector<std::string>* out) {
  if (a.size() != sizeof(kvm_regs) + sizeof(kvm_sregs) || b.size() != a.size()) {
    if (a != b) out->push_back("registers (unreadable record)");
    return;
  }
  kvm_regs ra, rb;
  kvm_sregs sa, sb;
  std::memcpy(&ra, a.data(), sizeof ra);
  std::memcpy(&rb, b.data(), sizeof rb);
  std::memcpy(&sa, a.data() + sizeof ra, sizeof sa);
  std::memcpy(&sb, b.data() + sizeof rb, sizeof sb);
#define FTD_REG(name, x, y) \
  if ((x) != (y)) out->push_back(absl::StrFormat("%s recorded %#x replayed %#x", name, (x), (y)))
  FTD_REG("rax", ra.rax, rb.rax);
  FTD_REG("rbx", ra.rbx, rb.rbx);
  FTD_REG("rcx", ra.rcx, rb.rcx);
  FTD_REG("rdx", ra.rdx, rb.rdx);
  FTD_REG("rsi", ra.rsi, rb.rsi);
  FTD_REG("rdi", ra.rdi, rb.rdi);
  FTD_REG("rsp", ra.rsp, rb.rsp);
  FTD_REG("rbp", ra.rbp, rb.rbp);
  FTD_REG("r8", ra.r8, rb.r8);
  FTD_REG("r9", ra.r9, rb.r9);
  FTD_REG("r10", ra.r10, rb.r10);
  FTD_REG("r11", ra.r11, rb.r11);
  FTD_REG("r12", ra.r12, rb.r12);
  FTD_REG("r13", ra.r13, rb.r13);
  FTD_REG("r14", ra.r14, rb.r14);
  FTD_REG("r15", ra.r15, rb.r15);
  FTD_REG("rip", ra.rip, rb.rip);
  FTD_REG("rflags", ra.rflags, rb.rflags);
  FTD_REG("cr0", sa.cr0, sb.cr0);
  FTD_REG("cr2", sa.cr2, sb.cr2);
  FTD_REG("cr3", sa.cr3, sb.cr3);
  FTD_REG("cr4", sa.cr4, sb.cr4);
  FTD_REG("efer", sa.efer, sb.efer);
  FTD_REG("cs", sa.cs.selector, sb.cs.selector);
  FTD_REG("ss", sa.ss.selector, sb.ss.selector);
#undef FTD_REG
}

}  // namespace

std::string FormatRegs(const std::string& bytes) {
  if (bytes.size() != sizeof(kvm_regs) + sizeof(kvm_sregs)) return "(no registers)\n";
  kvm_regs r;
  kvm_sregs s;
  std::memcpy(&r, bytes.data(), sizeof r);
  std::memcpy(&s, bytes.data() + sizeof r, sizeof s);
  return absl::StrFormat(
      "rax=%#x rbx=%#x rcx=%#x rdx=%#x\nrsi=%#x rdi=%#x rsp=%#x rbp=%#x\n"
      "r8=%#x r9=%#x r10=%#x r11=%#x\nr12=%#x r13=%#x r14=%#x r15=%#x\n"
      "rip=%#x rflags=%#x\ncs=%#x ss=%#x cr0=%#x cr3=%#x cr4=%#x efer=%#x\n",
      r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12,
      r.r13, r.r14, r.r15, r.rip, r.rflags, s.cs.selector, s.ss.selector, s.cr0, s.cr3, s.cr4,
      s.efer);
}

std::string DiffEpoch(const proto::EpochHash& rec, const proto::EpochHash& rep) {
  std::vector<std::string> parts;
  std::vector<std::string> regs;
  DiffRegs(rec.regs(), rep.regs(), &regs);
  if (!regs.empty()) parts.push_back("registers: " + absl::StrJoin(regs, ", "));
  std::string devs;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&devs);
  if (!d.Compare(rec.devices(), rep.devices())) parts.push_back("devices:\n" + devs);
  if (rec.has_interrupts()) {  // logs of older versions have none
    std::string irq;
    google::protobuf::util::MessageDifferencer di;
    di.ReportDifferencesToString(&irq);
    if (!di.Compare(rec.interrupts(), rep.interrupts())) parts.push_back("interrupts:\n" + irq);
  }
  // Pages: every page the recording saw written, hashed as it is now in the replay.
  std::vector<std::string> pages;
  size_t differing = 0;
  for (int i = 0; i < rec.page_numbers_size() && i < rep.page_numbers_size(); ++i) {
    if (rec.page_hashes(i) != rep.page_hashes(i)) {
      if (++differing <= 16) pages.push_back(absl::StrFormat("%#x", rec.page_numbers(i) * 4096));
    }
  }
  if (differing > 0) {
    parts.push_back(absl::StrFormat("memory: %u page(s) differ, at %s%s", differing,
                                    absl::StrJoin(pages, " "), differing > 16 ? " ..." : ""));
  }
  return absl::StrJoin(parts, "\n  ");
}

Replayer::Replayer(LogReader reader) : header_(reader.header()) {
  source_ = std::make_unique<LogReader>(std::move(reader));
  exit_index_ = header_.start_exit_index();
}

Replayer::Replayer(proto::LogHeader header, std::unique_ptr<EntrySource> source)
    : header_(std::move(header)), source_(std::move(source)) {
  exit_index_ = header_.start_exit_index();
}

std::unique_ptr<Replayer> Replayer::Clone() const {
  auto source = source_->Clone();
  if (source == nullptr) return nullptr;
  auto r = std::make_unique<Replayer>(header_, std::move(source));
  r->head_ = head_;
  r->exhausted_ = exhausted_;
  r->tail_error_ = tail_error_;
  r->end_ = end_;
  r->exit_index_ = exit_index_;
  r->last_guest_ns_ = last_guest_ns_;
  r->last_realtime_ns_ = last_realtime_ns_;
  r->entries_ = entries_;
  r->last_seq_.store(last_seq_.load());
  r->live_after_end_ = live_after_end_;
  r->epochs_ = epochs_;
  r->status_ = status_;
  return r;
}

uint64_t Replayer::next_seq() const {
  const proto::LogEntry* h = Head();
  return h != nullptr ? h->seq() : last_seq_.load(std::memory_order_acquire) + 1;
}

absl::Status Replayer::ResumeAt(const proto::Snapshot& snap) {
  const uint64_t want = snap.log_next_seq();
  if (want == 0) return absl::InvalidArgumentError("the snapshot is not a replay checkpoint");
  for (const proto::LogEntry* h = Head(); h != nullptr && h->seq() < want; h = Head()) {
    if (h->exit_index() > snap.exit_index()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the checkpoint at exit %u expects entry %u next, but the log has entry %u at exit %u "
          "before it: the checkpoint is of another log",
          snap.exit_index(), want, h->seq(), h->exit_index()));
    }
    last_seq_.store(h->seq(), std::memory_order_release);
    head_.reset();
  }
  const proto::LogEntry* h = Head();
  if (h == nullptr ? last_seq_.load() + 1 != want : h->seq() != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the checkpoint expects log entry %u next; the log %s", want,
        h == nullptr ? absl::StrFormat("ends after entry %u", last_seq_.load())
                     : absl::StrFormat("has entry %u there", h->seq())));
  }
  if (h != nullptr && h->exit_index() < snap.exit_index()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the checkpoint is at exit %u, but the log's entry %u is at exit %u before it",
        snap.exit_index(), want, h->exit_index()));
  }
  exit_index_ = snap.exit_index();
  last_guest_ns_ = snap.guest_time_ns();
  last_realtime_ns_ = snap.log_realtime_ns();
  entries_ = snap.log_entries();
  return absl::OkStatus();
}

const proto::LogEntry* Replayer::Head() const {
  if (head_) return &*head_;
  if (exhausted_) return nullptr;
  auto e = source_->Next();
  if (!e.ok()) {
    tail_error_ = e.status();  // a torn tail: replay what came before it
    exhausted_ = true;
    return nullptr;
  }
  if (!e->has_value()) {
    exhausted_ = true;
    return nullptr;
  }
  head_ = std::move(**e);
  if (head_->has_end()) end_ = head_->end();
  return &*head_;
}

void Replayer::Pop() {
  const uint64_t seq = head_->seq();
  last_seq_.store(seq, std::memory_order_release);
  head_.reset();
  ++entries_;
  if (on_replayed_) on_replayed_(seq);
}

std::string Replayer::DescribeHead() const {
  const proto::LogEntry* h = Head();
  if (h == nullptr) return "the log has no more entries";
  return absl::StrFormat("the log's next entry is %s at exit %u", EntryName(*h), h->exit_index());
}

void Replayer::Diverge(const std::string& what) {
  if (!status_.ok()) return;
  status_ = absl::AbortedError(absl::StrFormat("divergence at exit %u: %s", exit_index_, what));
}

bool Replayer::AtEnd() const {
  const proto::LogEntry* h = Head();
  // The final state's epoch and the end come after the last point's inputs: nothing is left
  // to replay once the replay reaches their point. A recording stopped between points logs
  // no final epoch, and its last points may have logged nothing: the end's exit index says
  // how far it ran (the replay runs on to it; only inputs could have changed that course).
  return h == nullptr ||
         ((h->has_end() || (h->has_epoch() && h->epoch().final_state())) &&
          h->exit_index() <= exit_index_);
}

absl::Status Replayer::AtPoint(uint64_t exit_index) {
  exit_index_ = exit_index;
  const proto::LogEntry* h = Head();
  if (h != nullptr && h->exit_index() < exit_index_) {
    Diverge(absl::StrFormat("the log still has %s for exit %u, which the replay has passed",
                            EntryName(*h), h->exit_index()));
  }
  return status_;
}

uint64_t Replayer::ReplayClock::MonotonicNs() {
  const proto::LogEntry* h = r_->Head();
  if (h == nullptr && r_->live_after_end_ && r_->status_.ok()) {
    if (!r_->tail_clock_) r_->tail_clock_.emplace(r_->last_guest_ns_);
    r_->last_guest_ns_ = std::max(r_->last_guest_ns_, r_->tail_clock_->MonotonicNs());
    return r_->last_guest_ns_;
  }
  if (h == nullptr || h->exit_index() != r_->exit_index_ || !h->has_clock() ||
      h->clock().realtime() || h->clock().timer()) {
    r_->Diverge("the guest read the clock; " + r_->DescribeHead());
    return r_->last_guest_ns_;
  }
  r_->last_guest_ns_ = h->clock().monotonic_ns();
  r_->Pop();
  return r_->last_guest_ns_;
}

int64_t Replayer::ReplayClock::RealtimeNs() {
  const proto::LogEntry* h = r_->Head();
  if (h == nullptr && r_->live_after_end_ && r_->status_.ok()) {
    if (!r_->tail_clock_) r_->tail_clock_.emplace(r_->last_guest_ns_);
    r_->last_realtime_ns_ = std::max(r_->last_realtime_ns_, r_->tail_clock_->RealtimeNs());
    return r_->last_realtime_ns_;
  }
  if (h == nullptr || h->exit_index() != r_->exit_index_ || !h->has_clock() ||
      !h->clock().realtime()) {
    r_->Diverge("the guest read the wall clock; " + r_->DescribeHead());
    return r_->last_realtime_ns_;
  }
  r_->last_realtime_ns_ = h->clock().realtime_ns();
  r_->Pop();
  return r_->last_realtime_ns_;
}

absl::StatusOr<std::vector<vmm::HostEvent>> Replayer::Events(std::vector<vmm::HostEvent>) {
  std::vector<vmm::HostEvent> out;
  for (const proto::LogEntry* h = Head();
       h != nullptr && h->exit_index() == exit_index_ && IsHostEvent(*h); h = Head()) {
    if (h->has_serial()) {
      out.push_back(vmm::SerialInputEvent{{h->serial().data().begin(), h->serial().data().end()}});
    } else if (h->has_block()) {
      vmm::BlockCompletionEvent c;
      c.request_id = h->block().request_id();
      c.status = static_cast<uint8_t>(h->block().status());
      c.data.assign(h->block().data().begin(), h->block().data().end());
      out.push_back(std::move(c));
    } else {
      out.push_back(vmm::FrameReceivedEvent{{h->net().frame().begin(), h->net().frame().end()}});
    }
    Pop();
  }
  return out;
}

absl::Status Replayer::WaitForHost(std::optional<uint64_t>, int) {
  // Recording, the guest slept here and then the host gave it something at this same
  // point; a log that moves on to a later point instead has nothing to wake it.
  const proto::LogEntry* h = Head();
  if (h != nullptr && h->exit_index() != exit_index_) {
    Diverge("the guest is halted and nothing will wake it; " + DescribeHead());
  }
  return status_;
}

std::optional<uint64_t> Replayer::TimerDue(uint64_t deadline_ns) {
  const proto::LogEntry* h = Head();
  if (h == nullptr && live_after_end_ && status_.ok()) {  // beyond a log that stopped mid-point
    if (!tail_clock_) tail_clock_.emplace(last_guest_ns_);
    const uint64_t now = std::max(last_guest_ns_, tail_clock_->MonotonicNs());
    if (now < deadline_ns) return std::nullopt;
    last_guest_ns_ = now;
    return now;
  }
  // Recording found the deadline reached here exactly when the log's next entry is that
  // decision; anything else means "not yet" (and is consumed by whoever it belongs to).
  if (!status_.ok() || h == nullptr || h->exit_index() != exit_index_ || !h->has_clock() ||
      !h->clock().timer()) {
    return std::nullopt;
  }
  const uint64_t v = h->clock().monotonic_ns();
  if (v < deadline_ns) {
    Diverge(absl::StrFormat("the log's timer deadline check at guest time %u is before the "
                            "replayed deadline %u",
                            v, deadline_ns));
    return std::nullopt;
  }
  last_guest_ns_ = v;
  Pop();
  return v;
}

bool Replayer::EpochDue() {
  const proto::LogEntry* h = Head();
  return status_.ok() && h != nullptr && h->exit_index() == exit_index_ && h->has_epoch() &&
         !h->epoch().final_state();
}

bool Replayer::FinalEpochDue() const {
  const proto::LogEntry* h = Head();
  // Only where the recording ended: a replay stopped earlier (--until) may find the final
  // epoch next in the log when nothing was logged in between (timer checks not yet due log
  // nothing), and that state is not this one.
  return status_.ok() && h != nullptr && h->has_epoch() && h->epoch().final_state() &&
         h->exit_index() == exit_index_;
}

std::vector<uint64_t> Replayer::EpochPages() {
  const proto::LogEntry* h = Head();
  if (h == nullptr || !h->has_epoch()) return {};
  return {h->epoch().page_numbers().begin(), h->epoch().page_numbers().end()};
}

absl::Status Replayer::Epoch(const vmm::EpochState& state) {
  proto::EpochHash recorded = Head()->epoch();
  Pop();
  ++epochs_;
  // A guest that never reads the clock still has guest time: the epochs carry it.
  last_guest_ns_ = std::max(last_guest_ns_, recorded.guest_ns());
  // The replayed state, with the recorded pages hashed as they are now (the machine
  // hashed them on request, whatever this run's dirty log says).
  proto::EpochHash replayed;
  FillEpoch(state, last_guest_ns_, &replayed);
  replayed.clear_page_numbers();
  replayed.clear_page_hashes();
  std::map<uint64_t, uint64_t> now(state.pages.begin(), state.pages.end());
  for (uint64_t page : recorded.page_numbers()) {
    replayed.add_page_numbers(page);
    auto it = now.find(page);
    replayed.add_page_hashes(it == now.end() ? 0 : it->second);
  }
  std::string diff = DiffEpoch(recorded, replayed);
  if (!diff.empty()) {
    Diverge(absl::StrFormat("epoch %u (guest time %u ns) differs from the recording:\n  %s",
                            epochs_, recorded.guest_ns(), diff));
  }
  return status_;
}

}  // namespace ftd::replay
