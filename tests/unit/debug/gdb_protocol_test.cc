// The gdb stub's protocol layer: packet framing, command parsing and the x86-64 register file,
// checked against the wire format gdb uses (checksums, escapes, register sizes of target.xml).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <regex>

#include "replay/debug/gdb_command.h"
#include "replay/debug/gdb_packet.h"
#include "replay/debug/x86_64_target.h"

namespace ftd::replay::debug {
namespace {

using Kind = PacketEvent::Kind;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<PacketEvent> FeedAll(std::string_view s) {
  PacketDecoder d;
  std::vector<PacketEvent> out;
  d.Feed(Bytes(s), &out);
  return out;
}

std::vector<PacketEvent> FeedByteByByte(std::string_view s) {
  PacketDecoder d;
  std::vector<PacketEvent> out;
  for (char c : s) d.Feed(Bytes(std::string_view(&c, 1)), &out);
  return out;
}

TEST(GdbPacketTest, EncodesWithChecksum) {
  EXPECT_EQ(EncodePacket("OK"), "$OK#9a");
  EXPECT_EQ(EncodePacket(""), "$#00");
}

TEST(GdbPacketTest, EncodeEscapesSpecialBytes) {
  // '#' ^ 0x20 = 0x03, '$' -> 0x04, '}' -> ']', '*' -> 0x0a; the checksum covers the escapes.
  std::string enc = EncodePacket("#$}*");
  EXPECT_EQ(enc.substr(0, 9), std::string("$}\x03}\x04}]}\x0a", 9));
  uint8_t sum = 0;
  for (char c : enc.substr(1, 8)) sum += static_cast<uint8_t>(c);
  EXPECT_EQ(enc.substr(9), "#" + ToHexLe(sum, 1));
}

TEST(GdbPacketTest, EveryByteValueRoundTrips) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  auto events = FeedAll(EncodePacket(payload));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, payload);
}

TEST(GdbPacketTest, DecodesAcksInterruptsAndPackets) {
  std::string stream = "+" + EncodePacket("qSupported:swbreak+") + "-\x03" + EncodePacket("g");
  for (auto events : {FeedAll(stream), FeedByteByByte(stream)}) {
    ASSERT_EQ(events.size(), 5u);
    EXPECT_EQ(events[0].kind, Kind::kAck);
    EXPECT_EQ(events[1].kind, Kind::kPacket);
    EXPECT_EQ(events[1].payload, "qSupported:swbreak+");
    EXPECT_EQ(events[2].kind, Kind::kNack);
    EXPECT_EQ(events[3].kind, Kind::kInterrupt);
    EXPECT_EQ(events[4].kind, Kind::kPacket);
    EXPECT_EQ(events[4].payload, "g");
  }
}

TEST(GdbPacketTest, SplitFeedsKeepState) {
  // Split inside the payload, right after the escape byte and between the checksum digits.
  std::string enc = EncodePacket("X1000,2:}#");
  PacketDecoder d;
  std::vector<PacketEvent> out;
  size_t esc = enc.find('}');
  d.Feed(Bytes(enc.substr(0, 3)), &out);
  d.Feed(Bytes(enc.substr(3, esc + 1 - 3)), &out);
  d.Feed(Bytes(enc.substr(esc + 1, enc.size() - 1 - (esc + 1))), &out);
  EXPECT_TRUE(out.empty());
  d.Feed(Bytes(enc.substr(enc.size() - 1)), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "X1000,2:}#");
}

TEST(GdbPacketTest, UppercaseChecksumAccepted) {
  auto events = FeedAll("$OK#9A");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
}

TEST(GdbPacketTest, BadChecksumReported) {
  for (std::string_view s : {"$OK#00", "$OK#9b", "$OK#zz", "$OK#9"}) {
    auto events = FeedAll(std::string(s) + "$" + "g#67");
    ASSERT_EQ(events.size(), 2u) << s;
    EXPECT_EQ(events[0].kind, Kind::kBadChecksum) << s;
    EXPECT_TRUE(events[0].payload.empty());
    EXPECT_EQ(events[1].kind, Kind::kPacket) << s;
    EXPECT_EQ(events[1].payload, "g");
  }
}

TEST(GdbPacketTest, NoiseBetweenPacketsIgnored) {
  auto events = FeedAll("hello\r\n\xff#9a" + EncodePacket("?") + "zz");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "?");
}

TEST(GdbPacketTest, InterruptByteInsidePacketIsData) {
  auto events = FeedAll(EncodePacket(std::string("a\x03+-b", 5)));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload, std::string("a\x03+-b", 5));
}

TEST(GdbPacketTest, DollarRestartsAPacket) {
  auto events = FeedAll("$abc" + EncodePacket("k"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "k");
}

TEST(GdbPacketTest, RunLengthStarIsTakenLiterally) {
  // "0* " would be run-length encoding in a reply; gdb never sends it, so it is plain data.
  std::string raw = "$0* ";
  uint8_t sum = '0' + '*' + ' ';
  raw += "#" + ToHexLe(sum, 1);
  auto events = FeedAll(raw);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "0* ");
}

TEST(GdbPacketTest, MaximalPacketAccepted) {
  std::string payload(kMaxPacket, 'a');
  auto events = FeedAll(EncodePacket(payload));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kPacket);
  EXPECT_EQ(events[0].payload.size(), kMaxPacket);
}

TEST(GdbPacketTest, OverlongPacketSkippedThenResyncs) {
  // The '+', '-' and 0x03 in the skipped rest are not events.
  std::string payload(kMaxPacket + 1, 'a');
  payload += "+-\x03";
  std::string stream = EncodePacket(payload) + "+" + EncodePacket("g");
  for (auto events : {FeedAll(stream), FeedByteByByte(stream)}) {
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].kind, Kind::kTooLong);
    EXPECT_EQ(events[1].kind, Kind::kAck);
    EXPECT_EQ(events[2].kind, Kind::kPacket);
    EXPECT_EQ(events[2].payload, "g");
  }
  // An endless packet yields one kTooLong, and a later '$' still resyncs.
  PacketDecoder d;
  std::vector<PacketEvent> out;
  std::string chunk(4096, 'x');
  d.Feed(Bytes("$"), &out);
  for (int i = 0; i < 100; ++i) d.Feed(Bytes(chunk), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kTooLong);
  d.Feed(Bytes(EncodePacket("?")), &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].payload, "?");
}

TEST(GdbPacketTest, HexHelpers) {
  const uint8_t bytes[] = {0x00, 0x1f, 0xab, 0xff};
  EXPECT_EQ(ToHex(bytes), "001fabff");
  EXPECT_EQ(ToHex(std::string_view("OK")), "4f4b");
  auto back = FromHex("001FabfF");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, std::vector<uint8_t>(std::begin(bytes), std::end(bytes)));
  EXPECT_EQ(FromHex(""), std::vector<uint8_t>{});
  EXPECT_FALSE(FromHex("abc"));
  EXPECT_FALSE(FromHex("0g"));
  EXPECT_FALSE(FromHex(" 0"));

  EXPECT_EQ(ParseHexU64("0"), 0u);
  EXPECT_EQ(ParseHexU64("FfffFFFFffffffff"), ~uint64_t{0});
  EXPECT_EQ(ParseHexU64("ffffffff81000000"), 0xffffffff81000000u);
  EXPECT_FALSE(ParseHexU64(""));
  EXPECT_FALSE(ParseHexU64("10000000000000000"));
  EXPECT_FALSE(ParseHexU64("12x"));
  EXPECT_FALSE(ParseHexU64("-1"));

  EXPECT_EQ(ToHexLe(0x1234, 4), "34120000");
  EXPECT_EQ(ToHexLe(0x0102030405060708, 8), "0807060504030201");
  EXPECT_EQ(FromHexLe("34120000", 4), 0x1234u);
  EXPECT_EQ(FromHexLe("0807060504030201", 8), 0x0102030405060708u);
  EXPECT_FALSE(FromHexLe("341200", 4));
  EXPECT_FALSE(FromHexLe("34120000zz", 5));
  EXPECT_FALSE(FromHexLe("", 0));
  EXPECT_FALSE(FromHexLe("000000000000000000", 9));
}

TEST(GdbPacketTest, XferChunks) {
  EXPECT_EQ(XferChunk("abcdef", 0, 4), "mabcd");
  EXPECT_EQ(XferChunk("abcdef", 4, 4), "lef");
  EXPECT_EQ(XferChunk("abcdef", 0, 6), "labcdef");
  EXPECT_EQ(XferChunk("abcdef", 6, 4), "l");
  EXPECT_EQ(XferChunk("abcdef", ~uint64_t{0}, 4), "l");
}

// ---- Commands ----

Command Parse(std::string_view payload) {
  auto cmd = ParseCommand(payload);
  EXPECT_TRUE(cmd.ok()) << payload << ": " << cmd.status();
  return cmd.ok() ? *cmd : Command{};
}

TEST(GdbCommandTest, SimpleKinds) {
  const std::map<std::string, Command::Kind> cases = {
      {"qSupported", Command::Kind::kQuerySupported},
      {"?", Command::Kind::kHaltReason},
      {"g", Command::Kind::kReadRegisters},
      {"bc", Command::Kind::kReverseContinue},
      {"bs", Command::Kind::kReverseStep},
      {"vCont?", Command::Kind::kVContQuery},
      {"D", Command::Kind::kDetach},
      {"D;1", Command::Kind::kDetach},
      {"k", Command::Kind::kKill},
      {"qC", Command::Kind::kCurrentThread},
      {"qAttached", Command::Kind::kAttached},
      {"qAttached:1", Command::Kind::kAttached},
      {"qfThreadInfo", Command::Kind::kThreadInfoFirst},
      {"qsThreadInfo", Command::Kind::kThreadInfoNext},
      {"QStartNoAckMode", Command::Kind::kStartNoAckMode},
      {"", Command::Kind::kUnknown},
      {"vMustReplyEmpty", Command::Kind::kUnknown},
      {"qTStatus", Command::Kind::kUnknown},
      {"qXfer:auxv:read::0,1000", Command::Kind::kUnknown},
      {"qCRC:0,10", Command::Kind::kUnknown},
      {"gg", Command::Kind::kUnknown},
      {"b9600", Command::Kind::kUnknown},
      {"!", Command::Kind::kUnknown},
  };
  for (const auto& [payload, kind] : cases) {
    EXPECT_EQ(Parse(payload).kind, kind) << payload;
  }
}

TEST(GdbCommandTest, QuerySupportedKeepsFeatures) {
  auto c = Parse("qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
  EXPECT_EQ(c.kind, Command::Kind::kQuerySupported);
  EXPECT_EQ(c.text, "multiprocess+;swbreak+;xmlRegisters=i386");
}

TEST(GdbCommandTest, Registers) {
  auto g = Parse("G00ff10");
  EXPECT_EQ(g.kind, Command::Kind::kWriteRegisters);
  EXPECT_EQ(g.data, (std::vector<uint8_t>{0x00, 0xff, 0x10}));
  auto p = Parse("p28");
  EXPECT_EQ(p.kind, Command::Kind::kReadRegister);
  EXPECT_EQ(p.regno, 0x28);
  auto w = Parse("P10=efbeadde00000000");
  EXPECT_EQ(w.kind, Command::Kind::kWriteRegister);
  EXPECT_EQ(w.regno, 16);
  EXPECT_EQ(w.value, (std::vector<uint8_t>{0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0}));
}

TEST(GdbCommandTest, Memory) {
  auto m = Parse("mffffffff81000000,40");
  EXPECT_EQ(m.kind, Command::Kind::kReadMemory);
  EXPECT_EQ(m.addr, 0xffffffff81000000u);
  EXPECT_EQ(m.length, 0x40u);
  EXPECT_EQ(Parse("m0,10000").length, kMaxMemoryTransfer);

  auto M = Parse("M1000,3:cc90C3");
  EXPECT_EQ(M.kind, Command::Kind::kWriteMemory);
  EXPECT_EQ(M.addr, 0x1000u);
  EXPECT_EQ(M.length, 3u);
  EXPECT_EQ(M.data, (std::vector<uint8_t>{0xcc, 0x90, 0xc3}));

  // X carries raw bytes (unescaped by the decoder), ':' and ',' among them.
  auto X = Parse(std::string("X2000,4:\x00:,#", 12));
  EXPECT_EQ(X.kind, Command::Kind::kWriteMemory);
  EXPECT_EQ(X.addr, 0x2000u);
  EXPECT_EQ(X.data, (std::vector<uint8_t>{0x00, ':', ',', '#'}));
  // gdb probes X support with a zero-length write.
  auto probe = Parse("X0,0:");
  EXPECT_EQ(probe.kind, Command::Kind::kWriteMemory);
  EXPECT_TRUE(probe.data.empty());
}

TEST(GdbCommandTest, Resume) {
  auto c = Parse("c");
  EXPECT_EQ(c.kind, Command::Kind::kContinue);
  EXPECT_FALSE(c.resume_addr);
  auto ca = Parse("c100000");
  EXPECT_EQ(ca.kind, Command::Kind::kContinue);
  EXPECT_EQ(ca.resume_addr, 0x100000u);
  auto s = Parse("s");
  EXPECT_EQ(s.kind, Command::Kind::kStep);
  EXPECT_FALSE(s.resume_addr);
  EXPECT_EQ(Parse("s1234").resume_addr, 0x1234u);
  EXPECT_EQ(Parse("C05").kind, Command::Kind::kContinue);
  auto sig = Parse("S05;4000");
  EXPECT_EQ(sig.kind, Command::Kind::kStep);
  EXPECT_EQ(sig.resume_addr, 0x4000u);
}

TEST(GdbCommandTest, Breakpoints) {
  for (int t = 0; t <= 4; ++t) {
    auto z = Parse("Z" + std::to_string(t) + ",ffffffff81000010,1");
    EXPECT_EQ(z.kind, Command::Kind::kInsertBreakpoint);
    EXPECT_EQ(z.bp_type, t);
    EXPECT_EQ(z.addr, 0xffffffff81000010u);
    EXPECT_EQ(z.bp_kind, 1u);
  }
  auto r = Parse("z2,1000,8");
  EXPECT_EQ(r.kind, Command::Kind::kRemoveBreakpoint);
  EXPECT_EQ(r.bp_type, Command::kWriteWatch);
  EXPECT_EQ(r.bp_kind, 8u);
  EXPECT_EQ(Parse("Z0,1000,1;X2,0a").addr, 0x1000u);
}

TEST(GdbCommandTest, VCont) {
  const std::map<std::string, bool> cases = {
      {"vCont;c", false},           {"vCont;s", true},
      {"vCont;s:1;c", true},        {"vCont;c:2;s", true},
      {"vCont;s:p1.1;c", true},     {"vCont;C05", false},
      {"vCont;S0b:1", true},        {"vCont;c:-1", false},
      {"vCont;t:2;c:p1.-1", false}, {"vCont;r1000,2000:1", true},
      {"vCont;s:p1.2;c:p1", false},
  };
  for (const auto& [payload, step] : cases) {
    auto c = Parse(payload);
    EXPECT_EQ(c.kind, Command::Kind::kVCont) << payload;
    EXPECT_EQ(c.step, step) << payload;
  }
}

TEST(GdbCommandTest, XferFeatures) {
  auto x = Parse("qXfer:features:read:target.xml:7f0,ffb");
  EXPECT_EQ(x.kind, Command::Kind::kXferFeatures);
  EXPECT_EQ(x.annex, "target.xml");
  EXPECT_EQ(x.offset, 0x7f0u);
  EXPECT_EQ(x.length, 0xffbu);
}

TEST(GdbCommandTest, Threads) {
  auto h = Parse("Hg0");
  EXPECT_EQ(h.kind, Command::Kind::kSetThread);
  EXPECT_EQ(h.thread_op, 'g');
  EXPECT_EQ(h.thread, "0");
  auto hc = Parse("Hc-1");
  EXPECT_EQ(hc.thread_op, 'c');
  EXPECT_EQ(hc.thread, "-1");
  EXPECT_EQ(Parse("Hgp1.1").thread, "p1.1");
  auto t = Parse("T1");
  EXPECT_EQ(t.kind, Command::Kind::kThreadAlive);
  EXPECT_EQ(t.thread, "1");
}

TEST(GdbCommandTest, Monitor) {
  auto m = Parse("qRcmd," + ToHex(std::string_view("reset halt")));
  EXPECT_EQ(m.kind, Command::Kind::kMonitor);
  EXPECT_EQ(m.text, "reset halt");
  EXPECT_EQ(Parse("qRcmd,").text, "");
}

TEST(GdbCommandTest, MalformedArgumentsAreErrors) {
  for (std::string_view payload : {
           "G",
           "G0",
           "Gzz",
           "p",
           "px",
           "p100000000",
           "P",
           "P1",
           "P1=",
           "P1=0",
           "Pz=00",
           "m",
           "m1000",
           "m1000,",
           "m,10",
           "mx,1",
           "m0,10001",
           "m0,10000000000000000",
           "M1000,2",
           "M1000,2:cc",
           "M1000,1:ccdd",
           "M1000,1:zz",
           "M0,10001:",
           "X1000,2:a",
           "X1000",
           "X0,10001:",
           "cx",
           "s1,2",
           "C",
           "Cxx",
           "C05;",
           "S100",
           "Z5,1000,1",
           "z9,0,0",
           "Z0",
           "Z0,1000",
           "Z0,x,1",
           "Zx,0,1",
           "Z0,1000,",
           "vCont",
           "vCont;",
           "vCont;x",
           "vCont;c:",
           "vCont;cq",
           "vCont;c:2",
           "vCont;t",
           "vCont;c:zz",
           "vCont;C",
           "vCont;r1000",
           "qXfer:features:read:target.xml:",
           "qXfer:features:read::0,1",
           "qXfer:features:read:target.xml:0",
           "qXfer:features:read:target.xml:x,1",
           "qRcmd,6",
           "qRcmd,zz",
           "D;",
           "D;x",
           "Dx",
           "H",
           "Hg",
           "Hx1",
           "Hgq",
           "T",
           "Tq",
           "Tp1.x",
       }) {
    auto c = ParseCommand(payload);
    EXPECT_FALSE(c.ok()) << payload << " parsed as kind " << static_cast<int>(c->kind);
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << payload;
    }
  }
}

// ---- x86-64 target ----

struct XmlReg {
  std::string name;
  int regnum;
  int bitsize;
};

// The <reg> elements of target.xml with the numbers gdb gives them: an explicit regnum, else
// one more than the previous register's.
std::vector<XmlReg> XmlRegisters() {
  std::string xml(TargetXml());
  std::vector<XmlReg> regs;
  std::regex reg_re("<reg ([^>]*)/>");
  std::regex attr_re("(\\w+)=\"([^\"]*)\"");
  int next = 0;
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), reg_re); it != std::sregex_iterator();
       ++it) {
    std::map<std::string, std::string> attrs;
    std::string body = (*it)[1];
    for (auto a = std::sregex_iterator(body.begin(), body.end(), attr_re);
         a != std::sregex_iterator(); ++a) {
      attrs[(*a)[1]] = (*a)[2];
    }
    int regnum = attrs.count("regnum") ? std::stoi(attrs["regnum"]) : next;
    regs.push_back({attrs["name"], regnum, std::stoi(attrs["bitsize"])});
    next = regnum + 1;
  }
  return regs;
}

TEST(X86TargetTest, XmlHasGdbsAmd64Numbering) {
  std::vector<std::string> expected = {
      "rax",   "rbx",   "rcx",   "rdx",   "rsi",   "rdi",   "rbp",   "rsp",     "r8",      "r9",
      "r10",   "r11",   "r12",   "r13",   "r14",   "r15",   "rip",   "eflags",  "cs",      "ss",
      "ds",    "es",    "fs",    "gs",    "st0",   "st1",   "st2",   "st3",     "st4",     "st5",
      "st6",   "st7",   "fctrl", "fstat", "ftag",  "fiseg", "fioff", "foseg",   "fooff",   "fop",
      "xmm0",  "xmm1",  "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",    "xmm8",    "xmm9",
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "mxcsr", "fs_base", "gs_base", "cr0",
      "cr2",   "cr3",   "cr4",   "efer"};
  auto regs = XmlRegisters();
  ASSERT_EQ(regs.size(), expected.size());
  ASSERT_EQ(regs.size(), static_cast<size_t>(kRegisterCount));
  for (size_t i = 0; i < regs.size(); ++i) {
    EXPECT_EQ(regs[i].name, expected[i]);
    EXPECT_EQ(regs[i].regnum, static_cast<int>(i)) << regs[i].name;
    EXPECT_EQ(regs[i].bitsize % 8, 0);
    EXPECT_EQ(RegisterSize(regs[i].regnum), static_cast<size_t>(regs[i].bitsize / 8))
        << regs[i].name;
  }
  std::string_view xml = TargetXml();
  for (std::string_view s :
       {"<architecture>i386:x86-64</architecture>", "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
        "org.gnu.gdb.i386.segments", "org.ftd.x86.system", "<flags id=\"i386_eflags\"",
        "<flags id=\"i386_mxcsr\"", "<union id=\"vec128\""}) {
    EXPECT_NE(xml.find(s), std::string_view::npos) << s;
  }
}

TEST(X86TargetTest, GReplyLengthMatchesXml) {
  size_t bits = 0;
  for (const auto& r : XmlRegisters()) bits += r.bitsize;
  EXPECT_EQ(RegisterFileSize(), bits / 8);
  EXPECT_EQ(RegisterFileSize(), 592u);
  EXPECT_EQ(EncodeAll(GdbRegisters{}).size(), bits / 4);
  EXPECT_EQ(RegisterSize(-1), 0u);
  EXPECT_EQ(RegisterSize(kRegisterCount), 0u);
}

// Every byte of the register file distinct, so a swapped or misplaced register shows.
GdbRegisters Patterned() {
  GdbRegisters r;
  auto* p = reinterpret_cast<uint8_t*>(&r);
  for (size_t i = 0; i < sizeof(r); ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
  return r;
}

TEST(X86TargetTest, EncodeDecodeAllRoundTrip) {
  GdbRegisters r = Patterned();
  std::string hex = EncodeAll(r);
  GdbRegisters back;
  ASSERT_TRUE(DecodeAll(hex, &back));
  EXPECT_EQ(back, r);
  // Raw bytes, as ParseCommand delivers 'G'.
  auto cmd = ParseCommand("G" + hex);
  ASSERT_TRUE(cmd.ok());
  GdbRegisters raw;
  ASSERT_TRUE(DecodeAll(std::span<const uint8_t>(cmd->data), &raw));
  EXPECT_EQ(raw, r);
}

TEST(X86TargetTest, GReplyLayout) {
  GdbRegisters r;
  r.gpr[0] = 0x1122334455667788;  // rax first
  r.rip = 0xffffffff81000000;
  r.eflags = 0x246;
  r.seg[0] = 0x10;
  r.mxcsr = 0x1f80;
  r.efer = 0xd01;
  std::string hex = EncodeAll(r);
  EXPECT_EQ(hex.substr(0, 16), "8877665544332211");
  EXPECT_EQ(hex.substr(16 * 16, 16), "00000081ffffffff");
  EXPECT_EQ(hex.substr(17 * 16, 8), "46020000");
  EXPECT_EQ(hex.substr(17 * 16 + 8, 8), "10000000");
  EXPECT_EQ(hex.substr(hex.size() - 16), "010d000000000000");
  EXPECT_EQ(EncodeOne(r, kMxcsr), "801f0000");
  EXPECT_EQ(EncodeOne(r, kEflags), "46020000");
}

TEST(X86TargetTest, DecodeAllRejectsBadInput) {
  GdbRegisters r = Patterned();
  std::string hex = EncodeAll(r);
  GdbRegisters target;
  EXPECT_FALSE(DecodeAll(hex.substr(0, hex.size() - 2), &target));
  EXPECT_FALSE(DecodeAll(hex + "00", &target));
  EXPECT_FALSE(DecodeAll(hex.substr(0, hex.size() - 1), &target));
  std::string bad = hex;
  bad[100] = 'x';  // gdb's "unavailable" marker is not a value to write
  EXPECT_FALSE(DecodeAll(bad, &target));
  EXPECT_FALSE(DecodeAll(std::span<const uint8_t>(), &target));
  EXPECT_EQ(target, GdbRegisters{});
}

TEST(X86TargetTest, EncodeDecodeOne) {
  GdbRegisters r = Patterned();
  std::string all = EncodeAll(r);
  size_t pos = 0;
  for (int n = 0; n < kRegisterCount; ++n) {
    auto one = EncodeOne(r, n);
    ASSERT_TRUE(one) << n;
    EXPECT_EQ(*one, all.substr(pos, one->size())) << n;
    pos += one->size();
    GdbRegisters w;
    ASSERT_TRUE(DecodeOne(n, *one, &w)) << n;
    EXPECT_EQ(EncodeOne(w, n), one) << n;
  }
  EXPECT_EQ(pos, all.size());
  EXPECT_FALSE(EncodeOne(r, -1));
  EXPECT_FALSE(EncodeOne(r, kRegisterCount));
  GdbRegisters w;
  EXPECT_FALSE(DecodeOne(-1, "00", &w));
  EXPECT_FALSE(DecodeOne(kRegisterCount, "0000000000000000", &w));
  EXPECT_FALSE(DecodeOne(kRip, "00000000", &w));  // 4 bytes for an 8-byte register
  EXPECT_FALSE(DecodeOne(kEflags, "0000000000000000", &w));
  EXPECT_FALSE(DecodeOne(kRip, "000000000000000g", &w));
  EXPECT_EQ(w, GdbRegisters{});
  ASSERT_TRUE(DecodeOne(kSt0 + 7, std::string(20, 'f'), &w));
  EXPECT_EQ(w.st[7][9], 0xff);
}

kvm_fpu SampleFpu() {
  kvm_fpu fpu{};
  for (int i = 0; i < 8; ++i) {
    for (int b = 0; b < 16; ++b) fpu.fpr[i][b] = static_cast<uint8_t>(0x40 + i * 16 + b);
  }
  fpu.fcw = 0x037f;
  fpu.fsw = 0x3800;  // top = 7
  fpu.ftwx = 0x80;   // physical register 7 (ST0) in use
  // ST0 = 1.0: integer bit set, biased exponent 0x3fff.
  const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
  std::memcpy(fpu.fpr[0], one, 10);
  fpu.last_opcode = 0x5d9;
  fpu.last_ip = 0x0000123487654321;
  fpu.last_dp = 0x00005678abcdef01;
  for (int i = 0; i < 16; ++i) {
    for (int b = 0; b < 16; ++b) fpu.xmm[i][b] = static_cast<uint8_t>(i << 4 | b);
  }
  fpu.mxcsr = 0x1fa0;
  return fpu;
}

TEST(X86TargetTest, FromKvmMapsEveryField) {
  kvm_regs regs{};
  regs.rax = 1, regs.rbx = 2, regs.rcx = 3, regs.rdx = 4, regs.rsi = 5, regs.rdi = 6;
  regs.rsp = 7, regs.rbp = 8;
  regs.r8 = 9, regs.r15 = 16;
  regs.rip = 0x100000;
  regs.rflags = 0x202;
  kvm_sregs sregs{};
  sregs.cs.selector = 0x08, sregs.ss.selector = 0x10, sregs.ds.selector = 0x18;
  sregs.es.selector = 0x20, sregs.fs.selector = 0x28, sregs.gs.selector = 0x30;
  sregs.fs.base = 0x7f0000001000, sregs.gs.base = 0xffff888000000000;
  sregs.cr0 = 0x80050033, sregs.cr2 = 0xdead000, sregs.cr3 = 0x1000, sregs.cr4 = 0x6b0;
  sregs.efer = 0xd01;
  kvm_fpu fpu = SampleFpu();

  GdbRegisters g = FromKvm(regs, sregs, fpu);
  EXPECT_EQ(g.gpr[0], 1u);
  EXPECT_EQ(g.gpr[5], 6u);
  EXPECT_EQ(g.gpr[6], 8u);  // rbp
  EXPECT_EQ(g.gpr[7], 7u);  // rsp
  EXPECT_EQ(g.gpr[8], 9u);
  EXPECT_EQ(g.gpr[15], 16u);
  EXPECT_EQ(g.rip, 0x100000u);
  EXPECT_EQ(g.eflags, 0x202u);
  EXPECT_EQ(g.seg[0], 0x08u);
  EXPECT_EQ(g.seg[5], 0x30u);
  EXPECT_EQ(g.fs_base, 0x7f0000001000u);
  EXPECT_EQ(g.gs_base, 0xffff888000000000u);
  EXPECT_EQ(g.cr0, 0x80050033u);
  EXPECT_EQ(g.cr2, 0xdead000u);
  EXPECT_EQ(g.cr3, 0x1000u);
  EXPECT_EQ(g.cr4, 0x6b0u);
  EXPECT_EQ(g.efer, 0xd01u);
  EXPECT_EQ(0, std::memcmp(g.st[0], fpu.fpr[0], 10));
  EXPECT_EQ(0, std::memcmp(g.st[7], fpu.fpr[7], 10));
  EXPECT_EQ(g.fpu_ctrl[0], 0x037fu);
  EXPECT_EQ(g.fpu_ctrl[1], 0x3800u);
  EXPECT_EQ(g.fpu_ctrl[2], 0x3fffu);  // physical 7 valid, the rest empty
  EXPECT_EQ(g.fpu_ctrl[3], 0x1234u);
  EXPECT_EQ(g.fpu_ctrl[4], 0x87654321u);
  EXPECT_EQ(g.fpu_ctrl[5], 0x5678u);
  EXPECT_EQ(g.fpu_ctrl[6], 0xabcdef01u);
  EXPECT_EQ(g.fpu_ctrl[7], 0x5d9u);
  EXPECT_EQ(0, std::memcmp(g.xmm, fpu.xmm, sizeof(g.xmm)));
  EXPECT_EQ(g.mxcsr, 0x1fa0u);
}

TEST(X86TargetTest, TagWordClassifiesRegisters) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_fpu fpu{};
  fpu.fsw = 0;      // top = 0: stack slot i is physical register i
  fpu.ftwx = 0x0f;  // 0..3 in use
  // slot 0: zero; slot 1: 1.0 (valid); slot 2: infinity (special); slot 3: unnormal (special).
  const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
  const uint8_t inf[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f};
  const uint8_t unnormal[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x3f};
  std::memcpy(fpu.fpr[1], one, 10);
  std::memcpy(fpu.fpr[2], inf, 10);
  std::memcpy(fpu.fpr[3], unnormal, 10);
  GdbRegisters g = FromKvm(regs, sregs, fpu);
  EXPECT_EQ(g.fpu_ctrl[2], 0xff00u | 2u << 6 | 2u << 4 | 0u << 2 | 1u);
  // Back to KVM, only "empty or not" survives.
  fpu.ftwx = 0;
  ToKvm(g, &regs, &sregs, &fpu);
  EXPECT_EQ(fpu.ftwx, 0x0f);
}

TEST(X86TargetTest, ToKvmRoundTripKeepsWhatGdbCannotSee) {
  kvm_regs regs{};
  regs.rflags = 0x202;
  kvm_sregs sregs{};
  sregs.cs.base = 0x1234, sregs.cs.limit = 0xfffff, sregs.cs.l = 1;
  sregs.cr8 = 0xf, sregs.apic_base = 0xfee00900;
  kvm_fpu fpu = SampleFpu();
  for (int i = 0; i < 8; ++i) fpu.fpr[i][12] = 0xaa;  // FXSAVE padding gdb never sees

  GdbRegisters g = Patterned();
  g.fpu_ctrl[2] = 0x3fff;  // a tag word the abridged one can hold exactly
  ToKvm(g, &regs, &sregs, &fpu);
  EXPECT_EQ(regs.rbp, g.gpr[6]);
  EXPECT_EQ(regs.rsp, g.gpr[7]);
  EXPECT_EQ(regs.rflags, g.eflags);
  EXPECT_EQ(sregs.cs.selector, static_cast<uint16_t>(g.seg[0]));
  EXPECT_EQ(sregs.cs.base, 0x1234u);
  EXPECT_EQ(sregs.cs.limit, 0xfffffu);
  EXPECT_EQ(sregs.cs.l, 1);
  EXPECT_EQ(sregs.cr8, 0xfu);
  EXPECT_EQ(sregs.apic_base, 0xfee00900u);
  EXPECT_EQ(sregs.fs.base, g.fs_base);
  EXPECT_EQ(sregs.efer, g.efer);
  EXPECT_EQ(fpu.fpr[3][12], 0xaa);
  EXPECT_EQ(fpu.ftwx, 0x80);
  EXPECT_EQ(fpu.mxcsr, g.mxcsr);

  // Back again: what KVM holds comes out unchanged, except what it stores narrower (16-bit
  // selectors and FPU control words).
  GdbRegisters back = FromKvm(regs, sregs, fpu);
  GdbRegisters want = g;
  for (auto& s : want.seg) s &= 0xffff;
  want.fpu_ctrl[0] &= 0xffff;
  want.fpu_ctrl[1] &= 0xffff;
  want.fpu_ctrl[7] &= 0xffff;
  back.fpu_ctrl[2] = want.fpu_ctrl[2];  // recomputed from contents; covered above
  EXPECT_EQ(back, want);
}

}  // namespace
}  // namespace ftd::replay::debug
