// OutputCommitGate against a fake ack source: outputs leave only once their tag is
// acknowledged, in the order held; Unprotect() lets everything go (and later outputs leave at
// once); Halt() and destruction drop what is held. Negative checks ("still held") are made
// after the release thread has observably been told "not acked" by the source, not after a
// sleep.
#include "primary/output_commit_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/pair/wait_util.h"

namespace ftd::primary {
namespace {

using namespace std::chrono_literals;
using pair_test::WaitUntil;

// The replication side as the gate sees it: the current log seq (the tag of a new output),
// the acknowledged seq, and a blocking wait for an ack that counts its refusals.
class FakeAcks {
 public:
  OutputCommitGate::Source source() {
    return {
        [this] { return current_.load(); },
        [this] {
          std::lock_guard lock(mu_);
          return acked_;
        },
        [this](uint64_t seq, std::chrono::milliseconds timeout) {
          std::unique_lock lock(mu_);
          ++waits_;
          cv_.wait_for(lock, timeout, [&] { return acked_ >= seq; });
          if (acked_ >= seq) return true;
          ++refusals_[seq];
          return false;
        },
    };
  }
  void set_current(uint64_t seq) { current_.store(seq); }
  void Ack(uint64_t seq) {
    std::lock_guard lock(mu_);
    acked_ = seq;
    cv_.notify_all();
  }
  // How often wait_for_ack(seq) returned false.
  int refusals(uint64_t seq) {
    std::lock_guard lock(mu_);
    return refusals_[seq];
  }
  int waits() {
    std::lock_guard lock(mu_);
    return waits_;
  }
  // Waits until wait_for_ack(seq) has said "not acked" `more` more times than now: the release
  // thread has looked at that tag and must still be holding it.
  bool WaitForRefusals(uint64_t seq, int more = 2) {
    const int target = refusals(seq) + more;
    return WaitUntil([&] { return refusals(seq) >= target; });
  }

 private:
  std::atomic<uint64_t> current_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t acked_ = 0;
  int waits_ = 0;
  std::map<uint64_t, int> refusals_;
};

// Releases as they run: which output, and on which thread.
class Released {
 public:
  std::function<void()> Make(int id) {
    return [this, id] {
      std::lock_guard lock(mu_);
      order_.push_back(id);
      threads_.push_back(std::this_thread::get_id());
    };
  }
  std::vector<int> order() {
    std::lock_guard lock(mu_);
    return order_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return order_.size();
  }
  std::thread::id thread_of(size_t i) {
    std::lock_guard lock(mu_);
    return threads_.at(i);
  }
  bool WaitFor(size_t n) {
    return WaitUntil([&] { return size() >= n; });
  }

 private:
  std::mutex mu_;
  std::vector<int> order_;
  std::vector<std::thread::id> threads_;
};

TEST(OutputCommitGateTest, AckedOutputsAreReleasedInHoldOrder) {
  FakeAcks acks;
  Released released;
  acks.set_current(3);
  acks.Ack(3);
  OutputCommitGate gate(acks.source());
  for (int i = 0; i < 5; ++i) gate.Hold(10, released.Make(i));
  ASSERT_TRUE(released.WaitFor(5));
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_TRUE(WaitUntil([&] { return gate.released_count() == 5; }));
  EXPECT_EQ(gate.held_count(), 0u);
  EXPECT_EQ(gate.held_bytes(), 0u);
}

TEST(OutputCommitGateTest, OutputTaggedZeroLeavesWithoutWaitingForAnAck) {
  // Nothing logged yet (seq 0): there is nothing the backup could lack.
  FakeAcks acks;
  Released released;
  OutputCommitGate gate(acks.source());
  gate.Hold(1, released.Make(7));
  ASSERT_TRUE(released.WaitFor(1));
  EXPECT_EQ(acks.waits(), 0);
}

TEST(OutputCommitGateTest, OutputAboveAckedWaitsUntilAckAdvances) {
  FakeAcks acks;
  Released released;
  acks.set_current(5);
  acks.Ack(4);
  OutputCommitGate gate(acks.source());
  gate.Hold(100, released.Make(1));
  EXPECT_EQ(gate.held_count(), 1u);
  EXPECT_EQ(gate.held_bytes(), 100u);
  // The release thread asked for seq 5 and was told no, twice: it must still hold it.
  ASSERT_TRUE(acks.WaitForRefusals(5));
  EXPECT_EQ(released.size(), 0u);
  EXPECT_EQ(gate.held_count(), 1u);
  EXPECT_EQ(gate.released_count(), 0u);

  acks.Ack(5);
  ASSERT_TRUE(released.WaitFor(1));
  EXPECT_EQ(released.order(), (std::vector<int>{1}));
  ASSERT_TRUE(WaitUntil([&] { return gate.released_count() == 1; }));
  EXPECT_EQ(gate.held_count(), 0u);
  EXPECT_EQ(gate.held_bytes(), 0u);
}

TEST(OutputCommitGateTest, DifferentTagsReleaseInOrderAsAcksAdvanceAndJump) {
  FakeAcks acks;
  Released released;
  OutputCommitGate gate(acks.source());
  // Tags 1, 2, 3, 3, 10.
  acks.set_current(1);
  gate.Hold(1, released.Make(0));
  acks.set_current(2);
  gate.Hold(2, released.Make(1));
  acks.set_current(3);
  gate.Hold(4, released.Make(2));
  gate.Hold(8, released.Make(3));
  acks.set_current(10);
  gate.Hold(16, released.Make(4));
  EXPECT_EQ(gate.held_count(), 5u);
  EXPECT_EQ(gate.held_bytes(), 31u);
  ASSERT_TRUE(acks.WaitForRefusals(1));
  EXPECT_EQ(released.size(), 0u);

  acks.Ack(2);  // releases tags 1 and 2 only
  ASSERT_TRUE(released.WaitFor(2));
  ASSERT_TRUE(acks.WaitForRefusals(3));
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1}));
  EXPECT_EQ(gate.held_count(), 3u);
  EXPECT_EQ(gate.held_bytes(), 28u);

  acks.Ack(10);  // a jump past every tag: all the rest, still in order
  ASSERT_TRUE(released.WaitFor(5));
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_TRUE(WaitUntil([&] { return gate.released_count() == 5; }));
  EXPECT_EQ(gate.held_count(), 0u);
  EXPECT_EQ(gate.held_bytes(), 0u);
}

TEST(OutputCommitGateTest, AckJumpOverManyTagsKeepsHoldOrder) {
  FakeAcks acks;
  Released released;
  OutputCommitGate gate(acks.source());
  for (int i = 0; i < 100; ++i) {
    acks.set_current(static_cast<uint64_t>(i / 3 + 1));
    gate.Hold(1, released.Make(i));
  }
  ASSERT_TRUE(acks.WaitForRefusals(1));
  acks.Ack(1000);
  ASSERT_TRUE(released.WaitFor(100));
  std::vector<int> want;
  for (int i = 0; i < 100; ++i) want.push_back(i);
  EXPECT_EQ(released.order(), want);
}

TEST(OutputCommitGateTest, UnprotectReleasesEverythingHeldAndLaterOutputsLeaveAtOnce) {
  FakeAcks acks;
  Released released;
  acks.set_current(5);
  OutputCommitGate gate(acks.source());
  gate.Hold(10, released.Make(0));
  gate.Hold(20, released.Make(1));
  ASSERT_TRUE(acks.WaitForRefusals(5));
  EXPECT_EQ(released.size(), 0u);

  gate.Unprotect();                 // no ack ever comes
  gate.Hold(30, released.Make(2));  // behind the held ones, or at once: in order either way
  ASSERT_TRUE(released.WaitFor(3));
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(WaitUntil([&] { return gate.released_count() == 3; }));
  EXPECT_EQ(gate.held_count(), 0u);
  EXPECT_EQ(gate.held_bytes(), 0u);

  // Nothing held any more: the next output leaves inside Hold(), on the caller's thread.
  gate.Hold(40, released.Make(3));
  ASSERT_EQ(released.size(), 4u);
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(released.thread_of(3), std::this_thread::get_id());
  EXPECT_EQ(gate.released_count(), 4u);
  EXPECT_EQ(gate.held_count(), 0u);
}

// A backup joined: outputs wait for acks again, tagged in the new log's numbering. Refused
// while protected or halted.
TEST(OutputCommitGateTest, ReprotectHoldsAgainAfterUnprotect) {
  FakeAcks acks;
  Released released;
  acks.set_current(7);
  OutputCommitGate gate(acks.source());
  EXPECT_FALSE(gate.Reprotect(10ms));  // protected already
  gate.Unprotect();
  gate.Hold(1, released.Make(0));  // leaves at once
  ASSERT_EQ(released.size(), 1u);
  ASSERT_TRUE(gate.Reprotect(1s));
  acks.set_current(3);  // the new log's seq
  gate.Hold(1, released.Make(1));
  ASSERT_TRUE(acks.WaitForRefusals(3));
  EXPECT_EQ(released.size(), 1u);  // held for the new backup's ack
  acks.Ack(3);
  ASSERT_TRUE(released.WaitFor(2));
  EXPECT_EQ(released.order(), (std::vector<int>{0, 1}));
  gate.Halt();
  EXPECT_FALSE(gate.Reprotect(10ms));  // a halted gate never holds again
}

TEST(OutputCommitGateTest, UnprotectWhileManyAreHeldKeepsOrderWithNewOutputs) {
  FakeAcks acks;
  Released released;
  acks.set_current(9);
  OutputCommitGate gate(acks.source());
  for (int i = 0; i < 50; ++i) gate.Hold(1, released.Make(i));
  ASSERT_TRUE(acks.WaitForRefusals(9));
  gate.Unprotect();
  for (int i = 50; i < 100; ++i) gate.Hold(1, released.Make(i));
  ASSERT_TRUE(released.WaitFor(100));
  std::vector<int> want;
  for (int i = 0; i < 100; ++i) want.push_back(i);
  EXPECT_EQ(released.order(), want);
}

TEST(OutputCommitGateTest, HaltDropsHeldOutputsAndNothingRunsAfterwards) {
  FakeAcks acks;
  Released released;
  acks.set_current(5);
  {
    OutputCommitGate gate(acks.source());
    gate.Hold(10, released.Make(0));
    gate.Hold(20, released.Make(1));
    gate.Hold(30, released.Make(2));
    EXPECT_EQ(gate.held_bytes(), 60u);
    ASSERT_TRUE(acks.WaitForRefusals(5));
    EXPECT_EQ(gate.Halt(), 3u);
    EXPECT_EQ(gate.held_count(), 0u);
    EXPECT_EQ(gate.held_bytes(), 0u);
    acks.Ack(100);
    gate.Hold(40, released.Make(3));  // after Halt: dropped at once
    EXPECT_EQ(gate.held_count(), 0u);
    gate.Unprotect();
    gate.Hold(50, released.Make(4));  // not even unprotected outputs leave
    EXPECT_EQ(gate.Halt(), 0u);
  }  // the release thread has been joined: anything it would run has run by now
  EXPECT_EQ(released.size(), 0u);
}

TEST(OutputCommitGateTest, HaltWaitsForAReleaseInProgress) {
  // "After it returns no release runs": a release already running finishes before Halt()
  // returns.
  FakeAcks acks;
  acks.set_current(1);
  acks.Ack(1);
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, open = false;
  std::atomic<bool> finished{false};
  OutputCommitGate gate(acks.source());
  gate.Hold(1, [&] {
    std::unique_lock lock(mu);
    started = true;
    cv.notify_all();
    cv.wait_for(lock, 5s, [&] { return open; });
    finished.store(true);
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return started; }));
  }
  std::atomic<bool> finished_when_halt_returned{false};
  std::thread halter([&] {
    gate.Halt();
    finished_when_halt_returned.store(finished.load());
  });
  std::this_thread::sleep_for(20ms);  // coverage only: let Halt() start while it runs
  {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
  halter.join();
  EXPECT_TRUE(finished_when_halt_returned.load());
}

TEST(OutputCommitGateTest, HeldBytesFollowHoldsAndReleases) {
  FakeAcks acks;
  Released released;
  OutputCommitGate gate(acks.source());
  EXPECT_EQ(gate.held_bytes(), 0u);
  acks.set_current(1);
  gate.Hold(100, released.Make(0));
  acks.set_current(2);
  gate.Hold(200, released.Make(1));
  gate.Hold(0, released.Make(2));  // a zero-byte output is still an output
  EXPECT_EQ(gate.held_count(), 3u);
  EXPECT_EQ(gate.held_bytes(), 300u);

  acks.Ack(1);
  ASSERT_TRUE(released.WaitFor(1));
  ASSERT_TRUE(acks.WaitForRefusals(2));
  EXPECT_EQ(gate.held_count(), 2u);
  EXPECT_EQ(gate.held_bytes(), 200u);

  acks.Ack(2);
  ASSERT_TRUE(released.WaitFor(3));
  ASSERT_TRUE(WaitUntil([&] { return gate.released_count() == 3; }));
  EXPECT_EQ(gate.held_count(), 0u);
  EXPECT_EQ(gate.held_bytes(), 0u);
}

TEST(OutputCommitGateTest, DestructionDropsHeldOutputsWithoutRunningThem) {
  FakeAcks acks;
  Released released;
  acks.set_current(5);
  auto token = std::make_shared<int>(0);  // owned by the held closures
  {
    OutputCommitGate gate(acks.source());
    for (int i = 0; i < 3; ++i) {
      gate.Hold(8, [&released, token, i] { released.Make(i)(); });
    }
    EXPECT_EQ(token.use_count(), 4);
    ASSERT_TRUE(acks.WaitForRefusals(5));
  }
  acks.Ack(5);
  EXPECT_EQ(released.size(), 0u);
  EXPECT_EQ(token.use_count(), 1);  // the dropped closures were destroyed, not leaked
}

// The contact rule: an acknowledged output leaves only while the backup is in contact, or
// once confirm() says this host still holds its generation; a confirm() that halts drops it.
class Contact {
 public:
  OutputCommitGate::Source Wrap(OutputCommitGate::Source s) {
    s.in_contact = [this] { return in_contact_.load(); };
    s.confirm = [this] {
      confirms_.fetch_add(1);
      if (on_confirm_) return on_confirm_();
      return confirm_result_.load();
    };
    return s;
  }
  std::atomic<bool> in_contact_{true};
  std::atomic<bool> confirm_result_{false};
  std::atomic<int> confirms_{0};
  std::function<bool()> on_confirm_;
};

TEST(OutputCommitGateTest, AckedOutputWaitsWhileOutOfContactUntilConfirmed) {
  FakeAcks acks;
  Released released;
  Contact contact;
  contact.in_contact_.store(false);
  acks.set_current(3);
  acks.Ack(3);
  OutputCommitGate gate(contact.Wrap(acks.source()));
  gate.Hold(10, released.Make(0));
  // Acked, but the gate asked confirm() and was told no, more than once: still held.
  ASSERT_TRUE(WaitUntil([&] { return contact.confirms_.load() >= 3; }));
  EXPECT_EQ(released.size(), 0u);
  EXPECT_EQ(gate.held_count(), 1u);

  contact.confirm_result_.store(true);
  ASSERT_TRUE(released.WaitFor(1));
  EXPECT_TRUE(gate.WaitUntilDrained(5s));
  EXPECT_EQ(gate.held_count(), 0u);
}

TEST(OutputCommitGateTest, InContactReleasesWithoutConfirming) {
  FakeAcks acks;
  Released released;
  Contact contact;
  acks.set_current(2);
  acks.Ack(2);
  OutputCommitGate gate(contact.Wrap(acks.source()));
  gate.Hold(1, released.Make(0));
  ASSERT_TRUE(released.WaitFor(1));
  EXPECT_EQ(contact.confirms_.load(), 0);
}

TEST(OutputCommitGateTest, ConfirmThatHaltsDropsTheHeldOutputs) {
  // The arbiter shows this host was replaced: confirm() halts the gate (on its own thread).
  FakeAcks acks;
  Released released;
  Contact contact;
  contact.in_contact_.store(false);
  acks.set_current(4);
  acks.Ack(4);
  std::atomic<size_t> dropped{0};
  std::unique_ptr<OutputCommitGate> gate;
  std::atomic<bool> ready{false};
  contact.on_confirm_ = [&] {
    if (ready.load()) dropped.store(gate->Halt());
    return false;
  };
  gate = std::make_unique<OutputCommitGate>(contact.Wrap(acks.source()));
  gate->Hold(5, released.Make(0));
  gate->Hold(6, released.Make(1));
  ready.store(true);
  ASSERT_TRUE(WaitUntil([&] { return dropped.load() > 0; }));
  EXPECT_EQ(dropped.load(), 2u);
  EXPECT_EQ(gate->held_count(), 0u);
  gate.reset();
  EXPECT_EQ(released.size(), 0u);
}

TEST(OutputCommitGateTest, UnprotectedOutputsIgnoreContact) {
  FakeAcks acks;
  Released released;
  Contact contact;
  contact.in_contact_.store(false);
  acks.set_current(9);
  OutputCommitGate gate(contact.Wrap(acks.source()));
  gate.Hold(1, released.Make(0));
  ASSERT_TRUE(acks.WaitForRefusals(9));
  gate.Unprotect();  // this host won the arbiter: nobody else serves
  ASSERT_TRUE(released.WaitFor(1));
  EXPECT_EQ(contact.confirms_.load(), 0);
}

TEST(OutputCommitGateTest, WaitUntilDrainedWaitsForTheLastRelease) {
  FakeAcks acks;
  Released released;
  acks.set_current(1);
  OutputCommitGate gate(acks.source());
  gate.Hold(1, released.Make(0));
  EXPECT_FALSE(gate.WaitUntilDrained(30ms));  // not acked: still held
  acks.Ack(1);
  EXPECT_TRUE(gate.WaitUntilDrained(5s));
  EXPECT_EQ(released.size(), 1u);
}

}  // namespace
}  // namespace ftd::primary
