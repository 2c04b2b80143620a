#include "tools/ftkv/checker.h"

#include <gtest/gtest.h>

namespace ftd::ftkv {
namespace {

constexpr int64_t kPending = -1;

// Builds histories by hand: times are small integers (ns), each request gets a fresh id.
class H {
 public:
  H& Set(std::string key, std::string v, int64_t s, int64_t r, Status st = Status::kOk) {
    return Add(Op::kSet, std::move(key), std::move(v), s, r, st, "");
  }
  H& Get(std::string key, int64_t s, int64_t r, std::string value) {  // "" means NOTFOUND
    Status st = value.empty() ? Status::kNotFound : Status::kOk;
    return Add(Op::kGet, std::move(key), "", s, r, st, std::move(value));
  }
  H& Del(std::string key, int64_t s, int64_t r, Status st = Status::kOk) {
    return Add(Op::kDel, std::move(key), "", s, r, st, "");
  }
  H& Incr(std::string key, int64_t s, int64_t r, std::string result) {
    return Add(Op::kIncr, std::move(key), "", s, r, Status::kOk, std::move(result));
  }
  CheckResult Check() const {
    auto r = CheckHistory(recs_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CheckResult{};
  }
  const std::vector<HistoryRecord>& records() const { return recs_; }

 private:
  H& Add(Op op, std::string key, std::string arg, int64_t s, int64_t r, Status st, std::string v) {
    HistoryRecord h;
    h.client = 1 + static_cast<uint32_t>(recs_.size() % 3);
    h.seq = recs_.size() + 1;
    h.op = op;
    h.key = std::move(key);
    h.arg = std::move(arg);
    h.send_ns = s;
    h.pending = r == kPending;
    h.reply_ns = h.pending ? 0 : r;
    h.status = st;
    h.value = std::move(v);
    h.line = static_cast<int>(recs_.size()) + 1;
    recs_.push_back(std::move(h));
    return *this;
  }
  std::vector<HistoryRecord> recs_;
};

void ExpectClean(const H& h) {
  CheckResult r = h.Check();
  EXPECT_TRUE(r.violations.empty()) << r.violations.front().message;
}

void ExpectViolation(const H& h, int rule, int line) {
  CheckResult r = h.Check();
  ASSERT_FALSE(r.violations.empty()) << "expected a rule " << rule << " violation";
  EXPECT_EQ(r.violations.front().rule, rule) << r.violations.front().message;
  EXPECT_EQ(r.violations.front().line, line) << r.violations.front().message;
  EXPECT_NE(r.violations.front().message.find("rule " + std::to_string(rule)), std::string::npos);
}

TEST(FtkvCheckerTest, SequentialRegisterHistoryPasses) {
  ExpectClean(H().Get("k", 0, 5, "")
                  .Set("k", "a", 10, 20)
                  .Get("k", 30, 40, "a")
                  .Set("k", "b", 50, 60)
                  .Get("k", 70, 80, "b")
                  .Del("k", 90, 100)
                  .Get("k", 110, 120, "")
                  .Del("k", 130, 140, Status::kNotFound));
}

TEST(FtkvCheckerTest, ConcurrentReadsMayReturnOldOrNew) {
  ExpectClean(H().Set("k", "a", 0, 10)
                  .Set("k", "b", 20, 40)
                  .Get("k", 25, 30, "a")    // during SET b: old
                  .Get("k", 26, 31, "b")    // during SET b: new
                  .Get("k", 15, 50, "a"));  // overlaps SET b
}

TEST(FtkvCheckerTest, PendingWritesMayOrMayNotHaveHappened) {
  ExpectClean(H().Set("k", "a", 0, 10)
                  .Set("k", "b", 20, kPending)
                  .Get("k", 30, 40, "a")
                  .Get("k", 50, 60, "b")
                  .Set("k2", "c", 0, 10)
                  .Del("k2", 20, kPending)
                  .Get("k2", 30, 40, ""));
}

TEST(FtkvCheckerTest, AConcurrentDelExplainsNotFound) {
  ExpectClean(H().Set("k", "a", 0, 10).Del("k", 15, 45).Get("k", 20, 30, ""));
}

TEST(FtkvCheckerTest, ErrRepliesHaveNoEffect) {
  ExpectClean(H().Set("k", "a", 0, 10).Set("k", "b", 20, 30, Status::kErr).Get("k", 40, 50, "a"));
}

TEST(FtkvCheckerTest, StaleReadFails) {
  ExpectViolation(H().Set("k", "a", 0, 10).Set("k", "b", 20, 30).Get("k", 40, 50, "a"), 1, 3);
}

TEST(FtkvCheckerTest, LostWriteFails) {
  ExpectViolation(H().Set("k", "a", 0, 10).Get("k", 20, 30, ""), 1, 2);
  // A DEL that finished before the SET started cannot explain NOTFOUND.
  ExpectViolation(H().Del("k", 0, 5).Set("k", "a", 10, 20).Get("k", 30, 40, ""), 1, 3);
  // Nor can a deletion that was answered NOTFOUND (it deleted nothing).
  ExpectViolation(H().Set("k", "a", 0, 10).Get("k", 20, 30, "").Del("k", 15, 45, Status::kNotFound),
                  1, 2);
}

TEST(FtkvCheckerTest, DelAnsweredNotFoundIsARead) {
  ExpectViolation(H().Set("k", "a", 0, 10).Del("k", 20, 30, Status::kNotFound), 1, 2);
}

TEST(FtkvCheckerTest, ValueGoneAfterAcknowledgedDelFails) {
  ExpectViolation(H().Set("k", "a", 0, 10).Del("k", 20, 30).Get("k", 40, 50, "a"), 1, 3);
}

TEST(FtkvCheckerTest, ObservedPendingWriteOrdersLaterReads) {
  // b was never acknowledged, but a read saw it; a read starting after that one must not see a.
  ExpectViolation(H().Set("k", "a", 0, 10)
                      .Set("k", "b", 20, kPending)
                      .Get("k", 30, 40, "b")
                      .Get("k", 50, 60, "a"),
                  1, 4);
}

TEST(FtkvCheckerTest, ValueNeverWrittenFails) {
  ExpectViolation(H().Set("k", "a", 0, 10).Get("k", 20, 30, "zz"), 2, 2);
  ExpectViolation(H().Set("other", "a", 0, 10).Get("k", 20, 30, "a"), 2, 2);
  ExpectViolation(H().Set("k", "a", 0, 10, Status::kErr).Get("k", 20, 30, "a"), 2, 2);
}

TEST(FtkvCheckerTest, ReadFromTheFutureFails) {
  ExpectViolation(H().Get("k", 0, 10, "a").Set("k", "a", 20, 30), 2, 1);
}

TEST(FtkvCheckerTest, CounterHistoryPasses) {
  ExpectClean(H().Get("c", 0, 5, "")
                  .Incr("c", 10, 20, "1")
                  .Incr("c", 15, 30, "3")  // concurrent with the pending one below
                  .Incr("c", 16, kPending, "")
                  .Get("c", 25, 26, "1")
                  .Get("c", 40, 50, "3")
                  .Incr("c", 60, 70, "4"));
}

TEST(FtkvCheckerTest, DuplicateIncrFails) {
  ExpectViolation(H().Incr("c", 0, 10, "1").Incr("c", 5, 20, "1"), 3, 2);
}

TEST(FtkvCheckerTest, GapInIncrResultsFails) {
  ExpectViolation(H().Incr("c", 0, 10, "1").Incr("c", 20, 30, "3"), 3, 2);
  // ... unless a pending INCR could have taken the missing value.
  ExpectClean(H().Incr("c", 0, 10, "1").Incr("c", 20, 30, "3").Incr("c", 5, kPending, ""));
}

TEST(FtkvCheckerTest, CounterGoingBackFails) {
  ExpectViolation(H().Incr("c", 0, 10, "1").Incr("c", 20, 30, "2").Get("c", 40, 50, "1"), 4, 3);
  ExpectViolation(H().Incr("c", 0, 10, "1").Get("c", 20, 30, ""), 4, 2);
  // An INCR that started after another was acknowledged returns more.
  ExpectViolation(H().Incr("c", 0, kPending, "").Incr("c", 5, 10, "2").Incr("c", 20, 30, "1"), 4,
                  3);
}

TEST(FtkvCheckerTest, CounterAheadOfItsIncrsFails) {
  ExpectViolation(H().Incr("c", 0, 10, "1").Get("c", 20, 30, "2"), 4, 2);
  ExpectViolation(H().Incr("c", 0, 10, "1").Get("c", 20, 30, "x1"), 4, 2);
}

TEST(FtkvCheckerTest, FirstViolationIsTheEarliestObserved) {
  H h;
  h.Set("k", "a", 0, 10).Set("k", "b", 20, 30).Get("k", 100, 110, "a");  // stale at 110
  h.Incr("c", 0, 10, "1").Incr("c", 20, 50, "1");                        // duplicate at 50
  CheckResult r = h.Check();
  ASSERT_EQ(r.violations.size(), 3u);  // the duplicate also went back (rule 4), at the same time
  EXPECT_EQ(r.violations[0].rule, 3);
  EXPECT_EQ(r.violations[1].rule, 4);
  EXPECT_EQ(r.violations[2].rule, 1);
  EXPECT_EQ(r.counter_keys, 1u);
  EXPECT_EQ(r.register_keys, 1u);
}

TEST(FtkvCheckerTest, KeyUsedAsRegisterAndCounterIsRefused) {
  H h;
  h.Set("k", "1", 0, 10).Incr("k", 20, 30, "2");
  EXPECT_FALSE(CheckHistory(h.records()).ok());
}

TEST(FtkvCheckerTest, SummaryCounts) {
  H h;
  h.Set("k", "a", 0, 10).Get("k", 20, 30, "").Incr("c", 0, kPending, "");
  CheckResult r = h.Check();
  EXPECT_EQ(r.requests, 3u);
  EXPECT_EQ(r.ok, 1u);
  EXPECT_EQ(r.notfound, 1u);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_NE(r.Summary().find("1 violations"), std::string::npos) << r.Summary();
}

}  // namespace
}  // namespace ftd::ftkv
