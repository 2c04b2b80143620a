// One typed suite run on every device model (crosvm's suspendable_tests!, STYLE.md):
//  - save -> restore -> save gives an equal message, from a driven, non-trivial state;
//  - a restored device behaves exactly like the original under the same accesses and
//    the same clock (the record/replay and failover property);
//  - malformed states are refused with an error;
//  - random garbage accesses at every offset and size never crash and leave a state
//    that still saves and restores.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/unit/devices/test_util.h"
#include "vmm/clock.h"
#include "vmm/devices/cmos_rtc.h"
#include "vmm/devices/debug_exit.h"
#include "vmm/devices/mono_clock.h"
#include "vmm/devices/pic8259.h"
#include "vmm/devices/pit8254.h"
#include "vmm/devices/uart16550.h"

namespace ftd::vmm {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::FakeIrq;
using testing::In8;
using testing::Out8;

constexpr int64_t kRealtimeOrigin = 1'709'214'356'000'000'000;  // 2024-02-29

// Everything a device is connected to. Two Envs with the same clock value are
// interchangeable from the device's point of view.
struct Env {
  explicit Env(uint64_t now_ns = 3'000'000'000) : clock(now_ns, kRealtimeOrigin) {}
  Uart16550::Output OutputFn() {
    return [this](std::span<const uint8_t> b) { output.append(b.begin(), b.end()); };
  }
  ManualClock clock;
  FakeIrq irq;
  std::string output;
};

struct Range {
  Device* device;
  uint64_t size;
};

// Adds a field number no build knows: what a state from a newer ftd looks like.
template <typename State>
State WithUnknownField(State s) {
  s.GetReflection()->MutableUnknownFields(&s)->AddVarint(999, 1);
  return s;
}

template <typename T>
struct Traits;

template <>
struct Traits<Uart16550> {
  static std::unique_ptr<Uart16550> Make(Env& e) {
    return std::make_unique<Uart16550>(&e.irq, 4, e.OutputFn());
  }
  static absl::StatusOr<std::unique_ptr<Uart16550>> Restore(Env& e, const Uart16550::State& s) {
    return Uart16550::Restore(&e.irq, 4, e.OutputFn(), s);
  }
  static std::vector<Range> Ranges(Uart16550& d) { return {{&d, Uart16550::kSize}}; }
  static void Drive(Uart16550& d, Env&) {
    Out8(d, 3, 0x83);
    Out8(d, 0, 0x01);
    Out8(d, 3, 0x03);
    Out8(d, 2, 0x87);  // FIFO, trigger 8
    Out8(d, 1, 0x0f);
    Out8(d, 4, 0x0b);
    Out8(d, 7, 0x55);
    const uint8_t input[] = {'h', 'e', 'l', 'l', 'o'};
    d.ReceiveInput(input);
    In8(d, 0);
    Out8(d, 0, 'x');
  }
  // A non-I/O event the machine may cause between accesses.
  static uint64_t Event(Uart16550& d, Env&, std::mt19937& rng) {
    uint8_t bytes[3] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), 0};
    return d.ReceiveInput(std::span<const uint8_t>(bytes, rng() % 4));
  }
  static std::vector<Uart16550::State> Malformed(const Uart16550::State& good) {
    std::vector<Uart16550::State> bad(9, good);
    bad[0].set_ier(0x10);
    bad[1].set_lsr(0x01);  // THRE/TEMT clear
    bad[2].set_rx_fifo(std::string(17, 'a'));
    bad[3].set_rx_fifo("");
    bad[3].set_lsr(0x61);  // DR without data
    bad[4].set_fcr(0x02);
    bad[5].set_ier(0);
    bad[5].set_thr_ipending(true);
    bad[6].set_scr(0x100);
    bad[7].set_mcr(0x20);
    bad[8] = WithUnknownField(good);
    return bad;
  }
};

template <>
struct Traits<Pic8259Pair> {
  static std::unique_ptr<Pic8259Pair> Make(Env&) { return std::make_unique<Pic8259Pair>(); }
  static absl::StatusOr<std::unique_ptr<Pic8259Pair>> Restore(Env&, const Pic8259Pair::State& s) {
    return Pic8259Pair::Restore(s);
  }
  static std::vector<Range> Ranges(Pic8259Pair& d) {
    return {{d.master(), 2}, {d.slave(), 2}, {d.elcr(), 2}};
  }
  static void Drive(Pic8259Pair& d, Env&) {
    for (auto [chip, base] : {std::pair{d.master(), 0x20}, std::pair{d.slave(), 0x28}}) {
      Out8(*chip, 0, 0x11);
      Out8(*chip, 1, static_cast<uint8_t>(base));
      Out8(*chip, 1, base == 0x20 ? 0x04 : 0x02);
      Out8(*chip, 1, 0x01);
    }
    Out8(*d.master(), 1, 0x08);
    Out8(*d.elcr(), 1, 0x02);
    d.SetIrq(1, true);
    d.SetIrq(10, true);
    d.SetIrq(9, true);
    d.Acknowledge();
    d.SetIrq(5, true);
    Out8(*d.slave(), 0, 0x0b);
  }
  static uint64_t Event(Pic8259Pair& d, Env&, std::mt19937& rng) {
    if (rng() % 3 == 0) return d.HasPendingInterrupt() ? 0x100u | d.Acknowledge() : 0;
    d.SetIrq(rng() % 17, rng() % 2);
    return d.HasPendingInterrupt();
  }
  static std::vector<Pic8259Pair::State> Malformed(const Pic8259Pair::State& good) {
    std::vector<Pic8259Pair::State> bad(8, good);
    bad[0].clear_slave();
    bad[1].mutable_master()->set_priority_add(8);
    bad[2].mutable_master()->set_irq_base(0x21);
    bad[3].mutable_slave()->set_init_state(4);
    bad[4].mutable_master()->set_elcr(0x01);
    bad[5].mutable_slave()->set_imr(0x100);
    // Master line 2 high while the slave has nothing to signal.
    bad[6].mutable_slave()->set_irr(0);
    bad[6].mutable_slave()->set_imr(0xff);
    bad[6].mutable_master()->set_last_irr(0x04);
    bad[7] = good;
    bad[7]
        .mutable_slave()
        ->GetReflection()
        ->MutableUnknownFields(bad[7].mutable_slave())
        ->AddVarint(99, 1);
    return bad;
  }
};

template <>
struct Traits<Pit8254> {
  static std::unique_ptr<Pit8254> Make(Env& e) {
    return std::make_unique<Pit8254>(&e.clock, &e.irq);
  }
  static absl::StatusOr<std::unique_ptr<Pit8254>> Restore(Env& e, const Pit8254::State& s) {
    return Pit8254::Restore(&e.clock, &e.irq, s);
  }
  static std::vector<Range> Ranges(Pit8254& d) { return {{&d, Pit8254::kSize}}; }
  static void Drive(Pit8254& d, Env& e) {
    Out8(d, 3, 0x34);
    Out8(d, 0, 0x9c);
    Out8(d, 0, 0x2e);  // 100 Hz
    Out8(d, 3, 0x76);  // channel 1 mode 3
    Out8(d, 1, 0x00);
    Out8(d, 1, 0x10);
    Out8(d, 3, 0xb1);  // channel 2 mode 0 BCD
    Out8(d, 2, 0x34);  // half a word written
    e.clock.Advance(25'000'000);
    d.Advance(e.clock.MonotonicNs());
    Out8(d, 3, 0x40);  // latch channel 1
    In8(d, 1);         // and read half of it
    Out8(d, 3, 0xc8);  // read-back: count and status of channel 2
  }
  static uint64_t Event(Pit8254& d, Env& e, std::mt19937&) {
    d.Advance(e.clock.MonotonicNs());
    return d.NextDeadlineNs().value_or(0);
  }
  static std::vector<Pit8254::State> Malformed(const Pit8254::State& good) {
    std::vector<Pit8254::State> bad(9, good);
    bad[0].mutable_channels()->RemoveLast();
    bad[1].mutable_channels(0)->set_reload(0);
    bad[2].mutable_channels(1)->set_reload(0x10001);
    bad[3].mutable_channels(2)->set_mode(8);
    bad[4].mutable_channels(0)->set_rw_mode(0);
    bad[5].mutable_channels(0)->set_rw_mode(1);  // sequencer states are for lo/hi
    bad[6].mutable_channels(1)->set_latched_count(0x10000);
    bad[7].mutable_channels(0)->set_mode(0);
    bad[7].mutable_channels(0)->set_irqs_delivered(2);
    bad[8] = WithUnknownField(good);
    return bad;
  }
};

template <>
struct Traits<CmosRtc> {
  static std::unique_ptr<CmosRtc> Make(Env& e) { return std::make_unique<CmosRtc>(&e.clock); }
  static absl::StatusOr<std::unique_ptr<CmosRtc>> Restore(Env& e, const CmosRtc::State& s) {
    return CmosRtc::Restore(&e.clock, s);
  }
  static std::vector<Range> Ranges(CmosRtc& d) { return {{&d, CmosRtc::kSize}}; }
  static void Drive(CmosRtc& d, Env& e) {
    auto set = [&d](uint8_t i, uint8_t v) {
      Out8(d, 0, i);
      Out8(d, 1, v);
    };
    set(0x40, 0x5a);
    set(0x0b, 0x86);  // SET, binary
    set(0x09, 31);
    set(0x0b, 0x04);  // run, 12h binary
    e.clock.Advance(1'500'000'000);
    Out8(d, 0, 0x0c);
    In8(d, 1);
    Out8(d, 0, 0x04);
  }
  static uint64_t Event(CmosRtc&, Env&, std::mt19937&) { return 0; }
  static std::vector<CmosRtc::State> Malformed(const CmosRtc::State& good) {
    std::vector<CmosRtc::State> bad(6, good);
    bad[0].set_index(128);
    bad[1].set_cmos(std::string(127, '\0'));
    std::string cmos = good.cmos();
    cmos[0x0a] = static_cast<char>(0xa6);
    bad[2].set_cmos(cmos);
    cmos = good.cmos();
    cmos[0x0d] = 0;
    bad[3].set_cmos(cmos);
    cmos = good.cmos();
    cmos[0x0c] = 0x10;
    bad[4].set_cmos(cmos);
    bad[5] = WithUnknownField(good);
    return bad;
  }
};

template <>
struct Traits<MonoClock> {
  static std::unique_ptr<MonoClock> Make(Env& e) { return std::make_unique<MonoClock>(&e.clock); }
  static absl::StatusOr<std::unique_ptr<MonoClock>> Restore(Env& e, const MonoClock::State& s) {
    return MonoClock::Restore(&e.clock, s);
  }
  static std::vector<Range> Ranges(MonoClock& d) { return {{&d, MonoClock::kSize}}; }
  static void Drive(MonoClock& d, Env& e) {
    e.clock.Set(0x0000'0005'8000'0000);
    testing::In32(d, 0);
    e.clock.Advance(1'000'000);
  }
  static uint64_t Event(MonoClock&, Env&, std::mt19937&) { return 0; }
  static std::vector<MonoClock::State> Malformed(const MonoClock::State& good) {
    return {WithUnknownField(good)};  // every latch value is valid
  }
};

template <>
struct Traits<DebugExit> {
  static std::unique_ptr<DebugExit> Make(Env&) { return std::make_unique<DebugExit>(); }
  static absl::StatusOr<std::unique_ptr<DebugExit>> Restore(Env&, const DebugExit::State& s) {
    return DebugExit::Restore(s);
  }
  static std::vector<Range> Ranges(DebugExit& d) { return {{&d, DebugExit::kSize}}; }
  static void Drive(DebugExit& d, Env&) { testing::Out32(d, 0, 0x1234); }
  static uint64_t Event(DebugExit& d, Env&, std::mt19937&) {
    return d.exit_status().value_or(0xffff'ffff'0000'0000);
  }
  static std::vector<DebugExit::State> Malformed(const DebugExit::State& good) {
    return {WithUnknownField(good)};  // every status value is valid
  }
};

// Drives one random access (or machine event) and returns what the guest or machine
// observed, so two devices can be compared step by step.
template <typename T>
uint64_t RandomStep(T& dev, Env& env, std::mt19937& rng) {
  switch (rng() % 8) {
    case 0:
      env.clock.Advance(rng() % 3'000'000);
      return 0;
    case 1:
      return Traits<T>::Event(dev, env, rng);
    default:
      break;
  }
  std::vector<Range> ranges = Traits<T>::Ranges(dev);
  const Range& r = ranges[rng() % ranges.size()];
  static constexpr size_t kSizes[] = {1, 1, 1, 2, 4, 8};
  size_t size = kSizes[rng() % 6];
  uint64_t offset = rng() % (r.size + 2);
  uint8_t buf[8];
  for (uint8_t& b : buf) b = static_cast<uint8_t>(rng());
  if (rng() % 2) {
    r.device->Write(offset, std::span<const uint8_t>(buf, size));
    return 0;
  }
  r.device->Read(offset, std::span<uint8_t>(buf, size));
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= static_cast<uint64_t>(buf[i]) << (8 * i);
  return v;
}

template <typename T>
class DeviceConformanceTest : public ::testing::Test {
 protected:
  using State = typename T::State;

  // Random accesses are bad accesses by the thousand; their reports are not news here.
  void SetUp() override { spdlog::set_level(spdlog::level::err); }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }

  static void ExpectEqual(const State& a, const State& b) {
    std::string diff;
    MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(a, b)) << diff;
  }
};

using AllDevices = ::testing::Types<Uart16550, Pic8259Pair, Pit8254, CmosRtc, MonoClock, DebugExit>;

class DeviceNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    Env env;
    std::string name(Traits<T>::Ranges(*Traits<T>::Make(env))[0].device->Name());
    return name.substr(0, name.find('-'));  // pic8259-master -> pic8259
  }
};

TYPED_TEST_SUITE(DeviceConformanceTest, AllDevices, DeviceNames);

TYPED_TEST(DeviceConformanceTest, FreshDeviceRoundTrips) {
  Env env;
  auto dev = Traits<TypeParam>::Make(env);
  auto restored = Traits<TypeParam>::Restore(env, dev->Save());
  ASSERT_TRUE(restored.ok()) << restored.status();
  this->ExpectEqual(dev->Save(), (*restored)->Save());
}

TYPED_TEST(DeviceConformanceTest, SaveRestoreSaveIsEqualAfterDriving) {
  Env env;
  auto dev = Traits<TypeParam>::Make(env);
  Traits<TypeParam>::Drive(*dev, env);
  auto first = dev->Save();
  EXPECT_FALSE(MessageDifferencer::Equals(first, Traits<TypeParam>::Make(env)->Save()))
      << "Drive() must leave a non-trivial state";
  auto restored = Traits<TypeParam>::Restore(env, first);
  ASSERT_TRUE(restored.ok()) << restored.status();
  this->ExpectEqual(first, (*restored)->Save());
  SCOPED_TRACE("Save() must not change the device");
  this->ExpectEqual(first, dev->Save());
}

TYPED_TEST(DeviceConformanceTest, RestoredDeviceBehavesIdentically) {
  Env env_a;
  auto a = Traits<TypeParam>::Make(env_a);
  Traits<TypeParam>::Drive(*a, env_a);
  // The restored device runs on another machine whose clock continues from the saved
  // guest time.
  Env env_b(env_a.clock.MonotonicNs());
  auto restored = Traits<TypeParam>::Restore(env_b, a->Save());
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto& b = *restored;
  env_a.irq.events.clear();
  env_a.output.clear();
  std::mt19937 rng_a(1234), rng_b(1234);
  for (int step = 0; step < 3000; ++step) {
    uint64_t va = RandomStep(*a, env_a, rng_a);
    uint64_t vb = RandomStep(*b, env_b, rng_b);
    ASSERT_EQ(va, vb) << "step " << step;
  }
  EXPECT_EQ(env_a.irq.events, env_b.irq.events);
  EXPECT_EQ(env_a.output, env_b.output);
  this->ExpectEqual(a->Save(), b->Save());
}

TYPED_TEST(DeviceConformanceTest, MalformedStateIsRefused) {
  Env env;
  auto dev = Traits<TypeParam>::Make(env);
  Traits<TypeParam>::Drive(*dev, env);
  auto malformed = Traits<TypeParam>::Malformed(dev->Save());
  ASSERT_FALSE(malformed.empty());
  for (size_t i = 0; i < malformed.size(); ++i) {
    auto restored = Traits<TypeParam>::Restore(env, malformed[i]);
    EXPECT_FALSE(restored.ok()) << "malformed state #" << i << " was accepted:\n"
                                << malformed[i].DebugString();
    if (!restored.ok()) {
      EXPECT_EQ(restored.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_FALSE(restored.status().message().empty());
    }
  }
}

TYPED_TEST(DeviceConformanceTest, GarbageAccessesNeverCrash) {
  Env env;
  auto dev = Traits<TypeParam>::Make(env);
  std::mt19937 rng(42);
  for (int round = 0; round < 8; ++round) {
    for (const Range& r : Traits<TypeParam>::Ranges(*dev)) {
      for (uint64_t offset = 0; offset < r.size + 4; ++offset) {
        for (size_t size : {1, 2, 4, 8}) {
          uint8_t buf[8];
          for (uint8_t& b : buf) b = static_cast<uint8_t>(rng());
          r.device->Write(offset, std::span<const uint8_t>(buf, size));
          r.device->Read(offset, std::span<uint8_t>(buf, size));
          if (size == 8) {
            EXPECT_EQ(buf[7], 0xff) << "8-byte accesses are never valid here";
          }
        }
      }
    }
    for (int i = 0; i < 2000; ++i) RandomStep(*dev, env, rng);
    // Whatever the guest did, the state still satisfies its own invariants.
    auto restored = Traits<TypeParam>::Restore(env, dev->Save());
    ASSERT_TRUE(restored.ok()) << "round " << round << ": " << restored.status();
    this->ExpectEqual(dev->Save(), (*restored)->Save());
  }
}

}  // namespace
}  // namespace ftd::vmm
