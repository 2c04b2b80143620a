#include "vmm/devices/pic8259.h"

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"

namespace ftd::vmm {
namespace {

using testing::In8;
using testing::Out8;

class PicTest : public ::testing::Test {
 protected:
  // The Linux/BIOS-style remap: master at 0x20, slave at 0x28, cascade on IRQ 2.
  void Init(uint8_t icw4 = 0x01) {
    Out8(*pic_.master(), 0, 0x11);
    Out8(*pic_.slave(), 0, 0x11);
    Out8(*pic_.master(), 1, 0x20);
    Out8(*pic_.slave(), 1, 0x28);
    Out8(*pic_.master(), 1, 0x04);
    Out8(*pic_.slave(), 1, 0x02);
    Out8(*pic_.master(), 1, icw4);
    Out8(*pic_.slave(), 1, icw4);
    Out8(*pic_.master(), 1, 0x00);
    Out8(*pic_.slave(), 1, 0x00);
  }
  void Pulse(unsigned irq) {
    pic_.SetIrq(irq, true);
    pic_.SetIrq(irq, false);
  }
  uint8_t Isr(Device* chip) {
    Out8(*chip, 0, 0x0b);
    uint8_t v = In8(*chip, 0);
    Out8(*chip, 0, 0x0a);
    return v;
  }
  uint8_t Irr(Device* chip) {
    Out8(*chip, 0, 0x0a);
    return In8(*chip, 0);
  }
  void Eoi(Device* chip) { Out8(*chip, 0, 0x20); }

  Pic8259Pair pic_;
};

TEST_F(PicTest, InitRemapsIrq0ToVector0x20) {
  Init();
  EXPECT_EQ(In8(*pic_.master(), 1), 0x00);
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  Pulse(0);
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x20);
  EXPECT_EQ(Isr(pic_.master()), 0x01);
  EXPECT_EQ(Irr(pic_.master()), 0x00);
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  Eoi(pic_.master());
  EXPECT_EQ(Isr(pic_.master()), 0x00);
  EXPECT_EQ(pic_.Save().master().irq_base(), 0x20u);
  EXPECT_EQ(pic_.Save().slave().irq_base(), 0x28u);
}

TEST_F(PicTest, EdgeTriggeredLatchesOnRisingEdgeOnly) {
  Init();
  pic_.SetIrq(4, true);
  EXPECT_EQ(pic_.Acknowledge(), 0x24);
  Eoi(pic_.master());
  pic_.SetIrq(4, true);  // still high: no new edge
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  pic_.SetIrq(4, false);
  pic_.SetIrq(4, true);
  EXPECT_TRUE(pic_.HasPendingInterrupt());
  // The request stays latched after the line drops.
  pic_.SetIrq(4, false);
  EXPECT_EQ(pic_.Acknowledge(), 0x24);
}

TEST_F(PicTest, MaskingHoldsRequestUntilUnmasked) {
  Init();
  Out8(*pic_.master(), 1, 0x01);
  EXPECT_EQ(In8(*pic_.master(), 1), 0x01);
  Pulse(0);
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  EXPECT_EQ(Irr(pic_.master()), 0x01);
  Out8(*pic_.master(), 1, 0x00);
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x20);
}

TEST_F(PicTest, PriorityAndNesting) {
  Init();
  Pulse(3);
  Pulse(1);
  EXPECT_EQ(pic_.Acknowledge(), 0x21) << "IRQ 1 outranks IRQ 3";
  EXPECT_FALSE(pic_.HasPendingInterrupt()) << "IRQ 3 waits while IRQ 1 is in service";
  Pulse(0);
  ASSERT_TRUE(pic_.HasPendingInterrupt()) << "IRQ 0 nests over IRQ 1";
  EXPECT_EQ(pic_.Acknowledge(), 0x20);
  EXPECT_EQ(Isr(pic_.master()), 0x03);
  Eoi(pic_.master());  // non-specific: clears the highest, IRQ 0
  EXPECT_EQ(Isr(pic_.master()), 0x02);
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  Out8(*pic_.master(), 0, 0x61);  // specific EOI for IRQ 1
  EXPECT_EQ(Isr(pic_.master()), 0x00);
  EXPECT_EQ(pic_.Acknowledge(), 0x23);
}

TEST_F(PicTest, CascadeIrq10ThroughIrq2) {
  Init();
  pic_.SetIrq(10, true);
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x2a);
  EXPECT_EQ(Isr(pic_.master()), 0x04);
  EXPECT_EQ(Isr(pic_.slave()), 0x04);
  pic_.SetIrq(10, false);
  Pulse(11);
  EXPECT_FALSE(pic_.HasPendingInterrupt()) << "IRQ 11 waits behind IRQ 10 in service";
  Eoi(pic_.slave());
  Eoi(pic_.master());
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x2b);
  // A master line above the cascade still nests over a slave interrupt.
  Pulse(1);
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x21);
}

TEST_F(PicTest, SpuriousVectors) {
  Init();
  EXPECT_EQ(pic_.Acknowledge(), 0x27) << "nothing pending: spurious IRQ 7";
  EXPECT_EQ(Isr(pic_.master()), 0x00);
  // The slave withdraws its request after the master latched the cascade edge.
  Pulse(10);
  Out8(*pic_.slave(), 1, 0x04);
  ASSERT_TRUE(pic_.HasPendingInterrupt());
  EXPECT_EQ(pic_.Acknowledge(), 0x2f) << "cascade with nothing on the slave: spurious IRQ 15";
}

TEST_F(PicTest, AutoEoiLeavesIsrClear) {
  Init(0x03);
  Pulse(5);
  EXPECT_EQ(pic_.Acknowledge(), 0x25);
  EXPECT_EQ(Isr(pic_.master()), 0x00);
  Pulse(6);
  EXPECT_TRUE(pic_.HasPendingInterrupt());
}

TEST_F(PicTest, RotateOnNonSpecificEoi) {
  Init();
  Pulse(0);
  EXPECT_EQ(pic_.Acknowledge(), 0x20);
  Out8(*pic_.master(), 0, 0xa0);  // rotate on non-specific EOI: IRQ 0 becomes lowest
  Pulse(0);
  Pulse(5);
  EXPECT_EQ(pic_.Acknowledge(), 0x25);
}

TEST_F(PicTest, PollCommand) {
  Init();
  Pulse(6);
  Out8(*pic_.master(), 0, 0x0c);  // OCW3 poll
  EXPECT_EQ(In8(*pic_.master(), 0), 0x86);
  EXPECT_EQ(Isr(pic_.master()), 0x40);
  Out8(*pic_.master(), 0, 0x0c);
  EXPECT_EQ(In8(*pic_.master(), 0), 0x00);
}

TEST_F(PicTest, ElcrLevelTriggeredLine) {
  Init();
  Out8(*pic_.elcr(), 1, 0x02);  // IRQ 9 level triggered
  EXPECT_EQ(In8(*pic_.elcr(), 1), 0x02);
  Out8(*pic_.elcr(), 0, 0xff);
  EXPECT_EQ(In8(*pic_.elcr(), 0), 0xf8) << "IRQ 0-2 are edge only";
  Out8(*pic_.elcr(), 0, 0x00);
  pic_.SetIrq(9, true);
  EXPECT_EQ(pic_.Acknowledge(), 0x29);
  Eoi(pic_.slave());
  Eoi(pic_.master());
  ASSERT_TRUE(pic_.HasPendingInterrupt()) << "a level line still high requests again";
  EXPECT_EQ(pic_.Acknowledge(), 0x29);
  // The handler quiets the device before the EOIs, as drivers of level-triggered
  // devices must (otherwise the cascade edge is already latched: spurious IRQ 15).
  pic_.SetIrq(9, false);
  Eoi(pic_.slave());
  Eoi(pic_.master());
  EXPECT_FALSE(pic_.HasPendingInterrupt());
}

TEST_F(PicTest, Icw1KeepsLineLevels) {
  Init();
  pic_.SetIrq(3, true);
  Init();  // reinitialise while IRQ 3 is high
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  pic_.SetIrq(3, true);
  EXPECT_FALSE(pic_.HasPendingInterrupt()) << "no low-to-high transition since ICW1";
  pic_.SetIrq(3, false);
  pic_.SetIrq(3, true);
  EXPECT_TRUE(pic_.HasPendingInterrupt());
}

TEST_F(PicTest, BadLinesAndAccessesAreIgnored) {
  Init();
  pic_.SetIrq(2, true);
  pic_.SetIrq(16, true);
  EXPECT_FALSE(pic_.HasPendingInterrupt());
  uint8_t two[2] = {0x11, 0x11};
  pic_.master()->Write(0, two);
  EXPECT_EQ(In8(*pic_.master(), 1), 0x00) << "a 2-byte write must not start ICW1";
  EXPECT_EQ(In8(*pic_.master(), 2), 0xff);
}

}  // namespace
}  // namespace ftd::vmm
