#include "tools/ftkv/checker.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>

#include "fmt/format.h"

namespace ftd::ftkv {
namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max();
constexpr int64_t kNegInf = std::numeric_limits<int64_t>::min();

int64_t ReplyOrInf(const HistoryRecord& r) { return r.pending ? kInf : r.reply_ns; }

// Times in messages are relative to the history's first send, so they can be compared by eye.
class Describer {
 public:
  explicit Describer(int64_t t0) : t0_(t0) {}
  std::string Time(int64_t t) const {
    if (t == kInf) return "never";
    if (t == kNegInf) return "-inf";
    return fmt::format("t+{:.6f}s", static_cast<double>(t - t0_) / 1e9);
  }
  std::string operator()(const HistoryRecord& r) const {
    std::string what = fmt::format("{} {}", OpName(r.op), r.key);
    if (r.op == Op::kSet) what += " " + r.arg;
    std::string outcome =
        r.pending ? std::string("PENDING")
                  : std::string(StatusName(r.status)) + (r.value.empty() ? "" : " " + r.value);
    return fmt::format("line {} (client {} request {}: {} [{}, {}] -> {})", r.line, r.client, r.seq,
                       what, Time(r.send_ns), Time(ReplyOrInf(r)), outcome);
  }

 private:
  int64_t t0_;
};

// Answers "the largest value among the items whose time is < t" after one sort.
class PrefixMax {
 public:
  void Add(int64_t time, int64_t value, const HistoryRecord* who) {
    items_.push_back({time, value, who});
  }
  void Build() {
    std::sort(items_.begin(), items_.end(),
              [](const Item& a, const Item& b) { return a.time < b.time; });
    for (size_t i = 0; i < items_.size(); ++i) {
      if (i > 0 && items_[i - 1].value >= items_[i].value) {
        items_[i].value = items_[i - 1].value;
        items_[i].who = items_[i - 1].who;
      }
    }
  }
  // {kNegInf, nullptr} when no item is before t.
  std::pair<int64_t, const HistoryRecord*> Before(int64_t t) const {
    auto it = std::lower_bound(items_.begin(), items_.end(), t,
                               [](const Item& a, int64_t t) { return a.time < t; });
    if (it == items_.begin()) return {kNegInf, nullptr};
    --it;
    return {it->value, it->who};
  }

 private:
  struct Item {
    int64_t time;
    int64_t value;
    const HistoryRecord* who;
  };
  std::vector<Item> items_;
};

using Records = std::vector<const HistoryRecord*>;

class Checker {
 public:
  Checker(int64_t t0, std::vector<Violation>* out) : d_(t0), out_(out) {}

  void Add(int rule, const HistoryRecord& r, int64_t at, std::string msg) {
    out_->push_back(Violation{rule, std::move(msg), at, r.line});
  }

  // Rules 1 and 2 on one register key.
  void Register(const std::string& key, const Records& ops,
                const std::unordered_map<std::string, Records>& sets_anywhere) {
    std::unordered_map<std::string, Records> sets;  // value -> SETs of it on this key (not ERR)
    for (const HistoryRecord* r : ops) {
      if (r->op == Op::kSet && (r->pending || r->status == Status::kOk)) sets[r->arg].push_back(r);
    }
    // When a SET is known to have taken effect: its acknowledgement, or earlier the end of a
    // read that returned its (unique) value.
    std::unordered_map<const HistoryRecord*, int64_t> effective;
    for (const auto& [v, list] : sets) {
      for (const HistoryRecord* s : list) effective[s] = ReplyOrInf(*s);
    }
    for (const HistoryRecord* g : ops) {
      if (g->op != Op::kGet || !g->acked() || g->status != Status::kOk) continue;
      auto it = sets.find(g->value);
      if (it == sets.end() || it->second.size() != 1) continue;
      const HistoryRecord* s = it->second.front();
      if (s->send_ns < g->reply_ns) effective[s] = std::min(effective[s], g->reply_ns);
    }
    PrefixMax writes;      // SETs and acknowledged DELs, by effective time, max of send time
    PrefixMax set_writes;  // the same for SETs only
    PrefixMax dels;        // DELs that may have deleted (OK or pending), by send, max of reply
    for (const auto& [s, eff] : effective) {
      if (eff == kInf) continue;
      writes.Add(eff, s->send_ns, s);
      set_writes.Add(eff, s->send_ns, s);
    }
    for (const HistoryRecord* r : ops) {
      if (r->op != Op::kDel) continue;
      if (r->pending || r->status == Status::kOk) dels.Add(r->send_ns, ReplyOrInf(*r), r);
      if (r->acked() && r->status == Status::kOk) writes.Add(r->reply_ns, r->send_ns, r);
    }
    writes.Build();
    set_writes.Build();
    dels.Build();

    for (const HistoryRecord* g : ops) {
      if (!g->acked()) continue;
      bool reads_absence =
          (g->op == Op::kGet || g->op == Op::kDel) && g->status == Status::kNotFound;
      bool reads_value = g->op == Op::kGet && g->status == Status::kOk;
      if (reads_value) {
        auto it = sets.find(g->value);
        if (it == sets.end()) {
          std::string where;
          if (auto a = sets_anywhere.find(g->value); a != sets_anywhere.end()) {
            where = fmt::format(" (it was written by {})", d_(*a->second.front()));
          }
          Add(2, *g, g->reply_ns,
              fmt::format("rule 2 (value never written): {} returned a value no SET on key {} "
                          "wrote{}",
                          d_(*g), key, where));
          continue;
        }
        int64_t latest_end = kNegInf;  // the latest end of a SET of this value that could be it
        const HistoryRecord* writer = nullptr;
        for (const HistoryRecord* s : it->second) {
          if (s->send_ns < g->reply_ns && ReplyOrInf(*s) >= latest_end) {
            latest_end = ReplyOrInf(*s);
            writer = s;
          }
        }
        if (writer == nullptr) {
          Add(2, *g, g->reply_ns,
              fmt::format("rule 2 (read from the future): {} returned the value of {}, which "
                          "started only after the read completed",
                          d_(*g), d_(*it->second.front())));
          continue;
        }
        auto [w_start, w] = writes.Before(g->send_ns);
        if (w != nullptr && w_start > latest_end) {
          Add(1, *g, g->reply_ns,
              fmt::format("rule 1 (stale read): {} returned the value of {}, but {} started after "
                          "that write was acknowledged and had taken effect by {}, before the read "
                          "started",
                          d_(*g), d_(*writer), d_(*w),
                          d_.Time(effective.count(w) ? effective[w] : w->reply_ns)));
        }
      } else if (reads_absence) {
        auto [last_del_end, del] = dels.Before(g->reply_ns);
        auto [w_start, w] = set_writes.Before(g->send_ns);
        if (w != nullptr && w_start > last_del_end) {
          std::string dels_note = del == nullptr
                                      ? "no DEL of the key started before the read completed"
                                      : fmt::format(
                                            "the last DEL that could explain it, {}, finished "
                                            "before that SET started",
                                            d_(*del));
          Add(1, *g, g->reply_ns,
              fmt::format(
                  "rule 1 (lost write): {} returned NOTFOUND, but {} had taken effect by {}, "
                  "before the read started, and {}",
                  d_(*g), d_(*w), d_.Time(effective[w]), dels_note));
        }
      }
    }
  }

  // Rules 3 and 4 on one counter key.
  void Counter(const std::string& key, const Records& ops) {
    uint64_t pending = 0;
    std::map<uint64_t, const HistoryRecord*> results;
    int64_t last_ack = kNegInf;
    const HistoryRecord* last_acked = nullptr;
    std::vector<int64_t> incr_starts;  // INCRs that may have applied: acknowledged or pending
    for (const HistoryRecord* r : ops) {
      if (r->op != Op::kIncr) continue;
      if (r->pending) {
        ++pending;
        incr_starts.push_back(r->send_ns);
        continue;
      }
      if (r->status != Status::kOk) continue;
      incr_starts.push_back(r->send_ns);
      uint64_t n = ParseDecimalU64(r->value).value_or(0);
      if (r->reply_ns >= last_ack) {
        last_ack = r->reply_ns;
        last_acked = r;
      }
      if (n == 0) {
        Add(3, *r, r->reply_ns,
            fmt::format("rule 3 (impossible INCR result): {} returned 0", d_(*r)));
        continue;
      }
      auto [it, fresh] = results.emplace(n, r);
      if (!fresh) {
        const HistoryRecord* later = it->second->reply_ns > r->reply_ns ? it->second : r;
        Add(3, *later, later->reply_ns,
            fmt::format("rule 3 (duplicate INCR): {} and {} both returned {}", d_(*it->second),
                        d_(*r), n));
      }
    }
    if (!results.empty()) {
      uint64_t max = results.rbegin()->first;
      uint64_t missing = max - results.size();
      if (missing > pending) {
        std::string list;
        int shown = 0;
        for (uint64_t v = 1; v < max && shown < 8; ++v) {
          if (results.count(v) == 0) {
            list += fmt::format("{}{}", shown ? ", " : "", v);
            ++shown;
          }
        }
        Add(3, *last_acked, last_ack,
            fmt::format(
                "rule 3 (gap in INCR results): on key {} the acknowledged INCRs returned {} "
                "distinct values up to {}: {} values are missing (first: {}), but only {} "
                "INCRs were left pending",
                key, results.size(), max, missing, list, pending));
      }
    }

    // Rule 4: observations are acknowledged INCRs (their result) and GETs (value, 0 if absent).
    std::sort(incr_starts.begin(), incr_starts.end());
    struct Seen {
      const HistoryRecord* r;
      uint64_t n;
    };
    std::vector<Seen> seen;
    PrefixMax before;
    for (const HistoryRecord* r : ops) {
      if (!r->acked()) continue;
      uint64_t n = 0;
      if (r->op == Op::kIncr || r->status == Status::kOk) {
        auto v = ParseDecimalU64(r->value);
        if (!v || *v > static_cast<uint64_t>(INT64_MAX)) {
          Add(4, *r, r->reply_ns,
              fmt::format("rule 4 (not a counter value): {} returned a value no INCR can produce",
                          d_(*r)));
          continue;
        }
        n = *v;
      }
      seen.push_back({r, n});
      before.Add(r->reply_ns, static_cast<int64_t>(n), r);
    }
    before.Build();
    for (const Seen& s : seen) {
      const HistoryRecord& r = *s.r;
      auto [m, who] = before.Before(r.send_ns);
      int64_t n = static_cast<int64_t>(s.n);
      bool is_incr = r.op == Op::kIncr;
      if (who != nullptr && (is_incr ? n <= m : n < m)) {
        Add(4, r, r.reply_ns,
            fmt::format("rule 4 (counter went back): {} saw {}, but {} saw {} and finished before "
                        "it started",
                        d_(r), n, d_(*who), m));
        continue;
      }
      uint64_t possible = static_cast<uint64_t>(
          std::lower_bound(incr_starts.begin(), incr_starts.end(), r.reply_ns) -
          incr_starts.begin());
      if (s.n > possible) {
        Add(4, r, r.reply_ns,
            fmt::format("rule 4 (counter ahead of its INCRs): {} saw {}, but only {} INCRs on {} "
                        "started before it finished",
                        d_(r), s.n, possible, key));
      }
    }
  }

 private:
  Describer d_;
  std::vector<Violation>* out_;
};

}  // namespace

std::string CheckResult::Summary() const {
  return fmt::format(
      "{} requests ({} OK, {} NOTFOUND, {} ERR, {} pending) on {} register keys and {} counter "
      "keys: {}",
      requests, ok, notfound, err, pending, register_keys, counter_keys,
      violations.empty() ? std::string("no violations")
                         : fmt::format("{} violations", violations.size()));
}

absl::StatusOr<CheckResult> CheckHistory(const std::vector<HistoryRecord>& history) {
  CheckResult res;
  int64_t t0 = kInf;
  std::map<std::string, Records> by_key;
  std::unordered_map<std::string, Records> sets_anywhere;
  for (const HistoryRecord& r : history) {
    ++res.requests;
    if (r.pending) {
      ++res.pending;
    } else if (r.status == Status::kOk) {
      ++res.ok;
    } else if (r.status == Status::kNotFound) {
      ++res.notfound;
    } else {
      ++res.err;
    }
    t0 = std::min(t0, r.send_ns);
    by_key[r.key].push_back(&r);
    if (r.op == Op::kSet) sets_anywhere[r.arg].push_back(&r);
  }
  Checker checker(t0 == kInf ? 0 : t0, &res.violations);
  for (const auto& [key, ops] : by_key) {
    const HistoryRecord* incr = nullptr;
    const HistoryRecord* write = nullptr;
    for (const HistoryRecord* r : ops) {
      if (r->op == Op::kIncr && incr == nullptr) incr = r;
      if ((r->op == Op::kSet || r->op == Op::kDel) && write == nullptr) write = r;
    }
    if (incr != nullptr && write != nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "key {} sees both INCR (line {}) and {} (line {}): ftkv check models a key either as a "
          "register (SET/GET/DEL) or as a counter (INCR/GET)",
          key, incr->line, OpName(write->op), write->line));
    }
    if (incr != nullptr) {
      ++res.counter_keys;
      checker.Counter(key, ops);
    } else {
      ++res.register_keys;
      checker.Register(key, ops, sets_anywhere);
    }
  }
  std::stable_sort(res.violations.begin(), res.violations.end(),
                   [](const Violation& a, const Violation& b) {
                     return std::tie(a.at_ns, a.line, a.rule) < std::tie(b.at_ns, b.line, b.rule);
                   });
  return res;
}

}  // namespace ftd::ftkv
