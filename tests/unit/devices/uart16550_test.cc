#include "vmm/devices/uart16550.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/unit/devices/test_util.h"

namespace ftd::vmm {
namespace {

using testing::FakeIrq;
using testing::In16;
using testing::In8;
using testing::Out8;

constexpr uint64_t kRbr = 0, kIer = 1, kIir = 2, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class UartTest : public ::testing::Test {
 protected:
  FakeIrq irq_;
  std::string out_;
  Uart16550 uart_{&irq_, 4,
                  [this](std::span<const uint8_t> b) { out_.append(b.begin(), b.end()); }};
};

TEST_F(UartTest, ResetValues) {
  EXPECT_EQ(In8(uart_, kIir), 0x01);
  EXPECT_EQ(In8(uart_, kLsr), 0x60);
  EXPECT_EQ(In8(uart_, kLcr), 0x00);
  EXPECT_EQ(In8(uart_, kIer), 0x00);
  EXPECT_FALSE(uart_.irq_level());
  EXPECT_TRUE(irq_.events.empty());
}

TEST_F(UartTest, DlabSelectsDivisorLatch) {
  Out8(uart_, kLcr, 0x83);  // DLAB, 8N1
  Out8(uart_, 0, 0x01);     // DLL: 115200 baud
  Out8(uart_, 1, 0x00);     // DLM
  EXPECT_EQ(In8(uart_, 0), 0x01);
  EXPECT_EQ(In8(uart_, 1), 0x00);
  EXPECT_TRUE(out_.empty()) << "a DLL write must not transmit";
  Out8(uart_, kLcr, 0x03);
  EXPECT_EQ(In8(uart_, kIer), 0x00) << "IER is distinct from DLM";
  Out8(uart_, 0, 'A');
  EXPECT_EQ(out_, "A");
  Out8(uart_, kLcr, 0x83);
  EXPECT_EQ(In8(uart_, 0), 0x01) << "THR write must not change DLL";
  EXPECT_EQ(uart_.Save().dll(), 1u);
}

TEST_F(UartTest, ThrOutputReachesFunction) {
  for (char c : std::string("hello\n")) Out8(uart_, 0, static_cast<uint8_t>(c));
  EXPECT_EQ(out_, "hello\n");
  EXPECT_EQ(In8(uart_, kLsr) & 0x60, 0x60) << "THR empties at once";
}

TEST_F(UartTest, ThreInterruptArmedByIerClearedByIirReadRearmedByThr) {
  Out8(uart_, kIer, 0x02);
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(irq_.rising[4], 1);
  EXPECT_EQ(In8(uart_, kIir), 0x02);
  EXPECT_FALSE(uart_.irq_level()) << "the IIR read reporting THRE clears it";
  EXPECT_EQ(In8(uart_, kIir), 0x01);
  Out8(uart_, 0, 'x');
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(irq_.rising[4], 2);
  // A second write while the interrupt is pending pulses the line: a new edge.
  Out8(uart_, 0, 'y');
  EXPECT_EQ(irq_.rising[4], 3);
  // Re-enabling THRI re-arms it even after an IIR read cleared it.
  EXPECT_EQ(In8(uart_, kIir), 0x02);
  Out8(uart_, kIer, 0x00);
  EXPECT_FALSE(uart_.irq_level());
  Out8(uart_, kIer, 0x02);
  EXPECT_TRUE(uart_.irq_level());
}

TEST_F(UartTest, RxWithoutFifoHoldsOneByte) {
  EXPECT_EQ(uart_.ReceiveInput(Bytes("abc")), 1u);
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0x01);
  EXPECT_EQ(uart_.ReceiveInput(Bytes("bc")), 0u);
  EXPECT_EQ(In8(uart_, kRbr), 'a');
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0x00);
  EXPECT_EQ(uart_.ReceiveInput(Bytes("bc")), 1u);
  EXPECT_EQ(In8(uart_, kRbr), 'b');
}

TEST_F(UartTest, RxFifoDataReadyAndInterrupt) {
  Out8(uart_, kFcr, 0x07);  // enable + clear both, trigger level 1
  EXPECT_EQ(In8(uart_, kIir), 0xc1);
  Out8(uart_, kIer, 0x01);
  EXPECT_FALSE(uart_.irq_level());
  std::string input = "0123456789abcdefXYZ";
  EXPECT_EQ(uart_.ReceiveInput(Bytes(input)), 16u) << "the FIFO holds 16 bytes";
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kIir), 0xc4);
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0x01);
  std::string got;
  while (In8(uart_, kLsr) & 0x01) got.push_back(static_cast<char>(In8(uart_, kRbr)));
  EXPECT_EQ(got, input.substr(0, 16));
  EXPECT_FALSE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kIir), 0xc1);
  EXPECT_EQ(uart_.ReceiveInput(Bytes(input.substr(16))), 3u);
}

TEST_F(UartTest, RxBelowTriggerLevelReportsCharacterTimeout) {
  Out8(uart_, kFcr, 0xc1);  // trigger level 14
  Out8(uart_, kIer, 0x01);
  uart_.ReceiveInput(Bytes("abc"));
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kIir), 0xcc);
  uart_.ReceiveInput(Bytes("0123456789a"));
  EXPECT_EQ(In8(uart_, kIir), 0xc4);
}

TEST_F(UartTest, IirPriorityReceiveBeforeThre) {
  Out8(uart_, kFcr, 0x01);
  Out8(uart_, kIer, 0x03);
  uart_.ReceiveInput(Bytes("z"));
  EXPECT_EQ(In8(uart_, kIir), 0xc4) << "received data outranks THR empty";
  EXPECT_EQ(In8(uart_, kRbr), 'z');
  EXPECT_EQ(In8(uart_, kIir), 0xc2);
  EXPECT_EQ(In8(uart_, kIir), 0xc1);
}

TEST_F(UartTest, FcrClearsRxFifo) {
  Out8(uart_, kFcr, 0x01);
  uart_.ReceiveInput(Bytes("abc"));
  Out8(uart_, kFcr, 0x03);
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0);
  // Disabling the FIFOs also flushes them.
  uart_.ReceiveInput(Bytes("abc"));
  Out8(uart_, kFcr, 0x00);
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0);
  EXPECT_EQ(In8(uart_, kIir), 0x01);
}

TEST_F(UartTest, LoopbackEchoesAndMirrorsModemLines) {
  Out8(uart_, kFcr, 0x01);
  Out8(uart_, kMcr, 0x10);  // loopback, all outputs off
  In8(uart_, kMsr);         // clear the deltas of entering loopback
  EXPECT_EQ(In8(uart_, kMsr), 0x00);
  Out8(uart_, 0, 'q');
  EXPECT_TRUE(out_.empty()) << "loopback must not transmit";
  EXPECT_EQ(In8(uart_, kLsr) & 0x01, 0x01);
  EXPECT_EQ(In8(uart_, kRbr), 'q');
  EXPECT_EQ(uart_.ReceiveInput(Bytes("x")), 0u) << "line input is disconnected in loopback";
  Out8(uart_, kMcr, 0x1f);  // DTR RTS OUT1 OUT2 -> DSR CTS RI DCD
  EXPECT_EQ(In8(uart_, kMsr), 0xfb) << "lines high, DCTS DDSR DDCD set";
  EXPECT_EQ(In8(uart_, kMsr), 0xf0) << "an MSR read clears the deltas";
  Out8(uart_, kMcr, 0x1b);  // OUT1 off: RI trailing edge
  EXPECT_EQ(In8(uart_, kMsr), 0xb4);
  Out8(uart_, kMcr, 0x00);
  EXPECT_EQ(In8(uart_, kMsr) & 0xf0, 0xb0);
  Out8(uart_, 0, '!');
  EXPECT_EQ(out_, "!");
}

TEST_F(UartTest, ModemStatusInterrupt) {
  Out8(uart_, kIer, 0x08);
  Out8(uart_, kMcr, 0x10);
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kIir), 0x00);
  In8(uart_, kMsr);
  EXPECT_FALSE(uart_.irq_level());
}

TEST_F(UartTest, LoopbackOverrunSetsLineStatusInterrupt) {
  Out8(uart_, kIer, 0x04);
  Out8(uart_, kMcr, 0x10);
  Out8(uart_, 0, '1');
  Out8(uart_, 0, '2');  // no FIFO: the second byte overruns
  EXPECT_TRUE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kIir), 0x06);
  EXPECT_EQ(In8(uart_, kLsr), 0x63);  // THRE TEMT OE DR
  EXPECT_EQ(In8(uart_, kLsr), 0x61) << "an LSR read clears OE";
  EXPECT_FALSE(uart_.irq_level());
  EXPECT_EQ(In8(uart_, kRbr), '1');
}

TEST_F(UartTest, ScratchAndBadAccesses) {
  Out8(uart_, kScr, 0x5a);
  EXPECT_EQ(In8(uart_, kScr), 0x5a);
  EXPECT_EQ(In16(uart_, 0), 0xffff) << "a 2-byte read is open bus";
  uint8_t w[2] = {'a', 'b'};
  uart_.Write(0, w);
  EXPECT_TRUE(out_.empty()) << "a 2-byte write is ignored";
  EXPECT_EQ(In8(uart_, 8), 0xff);
}

}  // namespace
}  // namespace ftd::vmm
