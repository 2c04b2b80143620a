// Host tests of the guest kit's TCP (guest/net/tcp*.c): a scripted peer sends segments
// straight into tcp_input() and reads what the stack sends through net.c's frames.  The
// stack's clock is the test's, so timers are exact.  (The same code against Linux's stack:
// tests/integration/tcp_linux_test.sh.)
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "guest_c.h"
extern "C" {
#include "tcp.h"
}

namespace {

constexpr uint32_t kOurIp = 0xc612000a;   // 198.18.0.10
constexpr uint32_t kPeerIp = 0xc6120064;  // 198.18.0.100
constexpr uint16_t kPort = 7;
const uint8_t kOurMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t kPeerMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x64};

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;

struct Seg {
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t wnd = 65535;
  uint16_t mss = 0;  // option, 0: none
  std::string data;
};

class Rig {
 public:
  Rig() : st_(std::make_unique<tcp_stack>()) {
    net_init(&nif_, kOurMac, kOurIp, 0xfffe0000, 0, &Rig::Capture, this);
    tcp_init(st_.get(), &nif_, 0x12345678, now_);
    // the peer announces itself, so the stack's first segment is not held for ARP
    std::vector<uint8_t> f(42, 0);
    memset(f.data(), 0xff, 6);
    memcpy(f.data() + 6, kPeerMac, 6);
    ftd_wr16be(f.data() + 12, 0x0806);
    uint8_t* a = f.data() + 14;
    ftd_wr16be(a, 1);
    ftd_wr16be(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    ftd_wr16be(a + 6, 1);
    memcpy(a + 8, kPeerMac, 6);
    ftd_wr32be(a + 14, kPeerIp);
    ftd_wr32be(a + 24, kOurIp);
    net_input(&nif_, f.data(), static_cast<uint32_t>(f.size()));
    out_.clear();
  }
  tcp_stack* st() { return st_.get(); }
  uint64_t now() const { return now_; }

  // The peer sends s (checksum filled in).
  void Send(const Seg& s) {
    std::vector<uint8_t> t = Encode(s);
    tcp_set_now(st_.get(), now_);
    tcp_input(st_.get(), kPeerIp, kOurIp, t.data(), static_cast<uint32_t>(t.size()));
  }
  static std::vector<uint8_t> Encode(const Seg& s) {
    uint32_t hl = s.mss ? 24 : 20;
    std::vector<uint8_t> t(hl + s.data.size(), 0);
    ftd_wr16be(&t[0], s.sport);
    ftd_wr16be(&t[2], s.dport);
    ftd_wr32be(&t[4], s.seq);
    ftd_wr32be(&t[8], s.ack);
    t[12] = static_cast<uint8_t>((hl / 4) << 4);
    t[13] = s.flags;
    ftd_wr16be(&t[14], s.wnd);
    if (s.mss) {
      t[20] = 2;
      t[21] = 4;
      ftd_wr16be(&t[22], s.mss);
    }
    memcpy(t.data() + hl, s.data.data(), s.data.size());
    uint32_t len = static_cast<uint32_t>(t.size());
    ftd_wr16be(&t[16], static_cast<uint16_t>(~net_csum(t.data(), len, net_pseudo_sum(kPeerIp, kOurIp, 6, len))));
    return t;
  }
  // Advance the clock by ms, run tcp_poll, return everything sent since the last call.
  std::vector<Seg> Poll(uint64_t ms = 0) {
    now_ += ms;
    tcp_poll(st_.get(), now_);
    return Take();
  }
  std::vector<Seg> Take() {
    std::vector<Seg> r;
    r.swap(out_);
    return r;
  }

 private:
  static void Capture(void* ctx, const uint8_t* f, uint32_t len) {
    auto* rig = static_cast<Rig*>(ctx);
    if (ftd_rd16be(f + 12) != 0x0800) return;  // the ARP reply to the peer's request
    EXPECT_GE(len, 14u + 20u + 20u);
    const uint8_t* ip = f + 14;
    EXPECT_EQ(ip[9], 6);
    uint32_t total = ftd_rd16be(ip + 2);
    const uint8_t* t = ip + 20;
    uint32_t tl = total - 20;
    EXPECT_EQ(net_csum(t, tl, net_pseudo_sum(kOurIp, kPeerIp, 6, tl)), 0xffff) << "bad checksum";
    Seg s;
    s.sport = ftd_rd16be(t);
    s.dport = ftd_rd16be(t + 2);
    s.seq = ftd_rd32be(t + 4);
    s.ack = ftd_rd32be(t + 8);
    uint32_t hl = (t[12] >> 4) * 4u;
    s.flags = t[13];
    s.wnd = ftd_rd16be(t + 14);
    if (hl >= 24 && t[20] == 2) s.mss = ftd_rd16be(t + 22);
    s.data.assign(reinterpret_cast<const char*>(t + hl), tl - hl);
    rig->out_.push_back(s);
  }

  netif nif_{};
  std::unique_ptr<tcp_stack> st_;
  uint64_t now_ = 1000;
  std::vector<Seg> out_;
};

// A connection from the peer's side.
struct Conn {
  Rig& rig;
  uint16_t sport;
  uint32_t snd_nxt;  // the peer's next sequence number
  uint32_t rcv_nxt = 0;
  int handle = -1;

  Conn(Rig& r, uint16_t port, uint32_t isn = 1000) : rig(r), sport(port), snd_nxt(isn) {}

  Seg Make(uint8_t flags, const std::string& data = "") const {
    Seg s;
    s.sport = sport;
    s.dport = kPort;
    s.seq = snd_nxt;
    s.ack = rcv_nxt;
    s.flags = flags;
    s.data = data;
    return s;
  }
  // Three-way handshake and accept; returns the SYN-ACK.
  Seg Open(uint16_t mss = 1000, bool accept = true) {
    Seg syn = Make(SYN);
    syn.ack = 0;
    syn.mss = mss;
    rig.Send(syn);
    std::vector<Seg> out = rig.Take();
    EXPECT_EQ(out.size(), 1u);
    if (out.empty()) return {};
    Seg sa = out[0];
    EXPECT_EQ(sa.flags, SYN | ACK);
    EXPECT_EQ(sa.ack, snd_nxt + 1);
    snd_nxt++;
    rcv_nxt = sa.seq + 1;
    rig.Send(Make(ACK));
    if (accept) {
      handle = tcp_accept(rig.st(), kPort);
      EXPECT_GE(handle, 0);
    }
    return sa;
  }
  void Data(const std::string& d, uint8_t extra = 0) {
    rig.Send(Make(ACK | extra, d));
    snd_nxt += static_cast<uint32_t>(d.size()) + ((extra & FIN) ? 1 : 0);
  }
  void Ack(uint32_t ack, uint16_t wnd = 65535) {
    Seg s = Make(ACK);
    s.ack = ack;
    s.wnd = wnd;
    rig.Send(s);
  }
  std::string Read() {
    uint32_t n = tcp_readable(rig.st(), handle);
    std::string r(n, '\0');
    EXPECT_EQ(tcp_peek(rig.st(), handle, reinterpret_cast<uint8_t*>(r.data()), n), n);
    tcp_consume(rig.st(), handle, n);
    return r;
  }
  uint32_t Write(const std::string& d) {
    return tcp_send(rig.st(), handle, reinterpret_cast<const uint8_t*>(d.data()),
                    static_cast<uint32_t>(d.size()));
  }
};

std::string Pattern(size_t n, int salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + salt) % 26);
  return s;
}

class TcpTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(tcp_listen(rig.st(), kPort, 16), 0); }
  Rig rig;
};

TEST_F(TcpTest, HandshakeAnnouncesMssAndDeliversData) {
  Conn c(rig, 40000);
  Seg sa = c.Open(1000);
  EXPECT_EQ(sa.mss, TCP_MSS);
  EXPECT_EQ(sa.wnd, TCP_RCV_BUF);
  EXPECT_EQ(tcp_get_state(rig.st(), c.handle), TCP_ESTABLISHED);
  EXPECT_EQ(tcp_accept(rig.st(), kPort), -1) << "one connection, accepted once";
  c.Data("hello");
  EXPECT_EQ(c.Read(), "hello");
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, ACK);
  EXPECT_EQ(out[0].ack, c.snd_nxt);
}

TEST_F(TcpTest, RetransmittedSynGetsTheSameSynAck) {
  Conn c(rig, 40001);
  Seg syn = c.Make(SYN);
  rig.Send(syn);
  Seg first = rig.Take().at(0);
  rig.Send(syn);
  std::vector<Seg> again = rig.Take();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, first.seq);
  EXPECT_EQ(again[0].flags, SYN | ACK);
  // unanswered, the SYN-ACK is retransmitted by the timer, then the block is given up
  std::vector<Seg> t = rig.Poll(TCP_RTO_INIT_MS);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].flags, SYN | ACK);
  for (int i = 0; i < 10; i++) rig.Poll(TCP_RTO_MAX_MS);
  EXPECT_EQ(tcp_active(rig.st()), 0u);
}

TEST_F(TcpTest, SendsWithinCwndAndMssThenMoreAsAcksArrive) {
  Conn c(rig, 40002);
  c.Open(1000);
  std::string d = Pattern(10000);
  EXPECT_EQ(c.Write(d), 10000u);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 4u) << "initial window: 4 segments of the peer's MSS";
  std::string got;
  for (auto& s : out) {
    EXPECT_EQ(s.data.size(), 1000u);
    EXPECT_EQ(s.seq, c.rcv_nxt + got.size());
    got += s.data;
  }
  c.Ack(c.rcv_nxt + 4000);
  out = rig.Poll();
  EXPECT_GE(out.size(), 5u) << "slow start grows the window";
  for (auto& s : out) got += s.data;
  c.Ack(c.rcv_nxt + static_cast<uint32_t>(got.size()));
  out = rig.Poll();
  for (auto& s : out) got += s.data;
  EXPECT_EQ(got, d);
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.back().flags & 0x08, 0) << "PSH on the last segment";
}

TEST_F(TcpTest, RetransmitsOnTimeoutWithBackoff) {
  Conn c(rig, 40003);
  c.Open();
  c.Write("abc");
  ASSERT_EQ(rig.Poll().size(), 1u);
  EXPECT_TRUE(rig.Poll(TCP_RTO_INIT_MS - 1).empty());
  std::vector<Seg> r = rig.Poll(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].data, "abc");
  EXPECT_EQ(r[0].seq, c.rcv_nxt);
  EXPECT_TRUE(rig.Poll(2 * TCP_RTO_INIT_MS - 1).empty()) << "the timer doubles";
  EXPECT_EQ(rig.Poll(1).size(), 1u);
  EXPECT_EQ(rig.st()->stats.timeouts, 2u);
  c.Ack(c.rcv_nxt + 3);
  EXPECT_TRUE(tcp_all_acked(rig.st(), c.handle));
  EXPECT_TRUE(rig.Poll(TCP_RTO_MAX_MS).empty());
}

TEST_F(TcpTest, GivesUpAfterTooManyTimeoutsWithRst) {
  Conn c(rig, 40004);
  c.Open();
  c.Write("x");
  rig.Poll();
  bool rst = false;
  for (int i = 0; i < TCP_MAX_RETRIES + 2; i++)
    for (auto& s : rig.Poll(TCP_RTO_MAX_MS)) rst |= (s.flags & RST) != 0;
  EXPECT_TRUE(rst);
  EXPECT_TRUE(tcp_was_reset(rig.st(), c.handle));
  EXPECT_EQ(tcp_send_space(rig.st(), c.handle), 0u);
  tcp_close(rig.st(), c.handle);
  EXPECT_EQ(tcp_active(rig.st()), 0u);
}

TEST_F(TcpTest, FastRetransmitOnThreeDuplicateAcks) {
  Conn c(rig, 40005);
  c.Open(1000);
  c.Write(Pattern(4000));
  ASSERT_EQ(rig.Poll().size(), 4u);
  uint32_t base = c.rcv_nxt;
  c.Ack(base + 1000);  // the second segment was lost
  rig.Poll();
  c.Ack(base + 1000);
  c.Ack(base + 1000);
  EXPECT_TRUE(rig.Poll().empty()) << "two duplicates are not enough";
  c.Ack(base + 1000);
  std::vector<Seg> r = rig.Poll();
  ASSERT_GE(r.size(), 1u);
  EXPECT_EQ(r[0].seq, base + 1000);
  EXPECT_EQ(r[0].data, Pattern(4000).substr(1000, 1000));
  EXPECT_EQ(rig.st()->stats.fast_retransmits, 1u);
  // a partial ACK retransmits the next hole at once (NewReno)
  c.Ack(base + 2000);
  r = rig.Poll();
  ASSERT_GE(r.size(), 1u);
  EXPECT_EQ(r[0].seq, base + 2000);
}

TEST_F(TcpTest, ReassemblesOutOfOrderSegments) {
  Conn c(rig, 40006);
  c.Open();
  uint32_t s0 = c.snd_nxt;
  Seg a = c.Make(ACK, "AAAA"), b = c.Make(ACK, "BBBB"), d = c.Make(ACK, "CCCC");
  b.seq = s0 + 4;
  d.seq = s0 + 8;
  rig.Send(d);
  rig.Send(b);
  EXPECT_EQ(tcp_readable(rig.st(), c.handle), 0u);
  std::vector<Seg> dup = rig.Take();
  ASSERT_EQ(dup.size(), 2u) << "one duplicate ACK per out-of-order segment, at once";
  EXPECT_EQ(dup[0].ack, s0) << "a duplicate ACK asks for the hole";
  EXPECT_EQ(dup[1].ack, s0);
  rig.Send(a);
  c.snd_nxt = s0 + 12;
  EXPECT_EQ(c.Read(), "AAAABBBBCCCC");
  std::vector<Seg> filled = rig.Take();
  ASSERT_EQ(filled.size(), 1u) << "filling the gap is acknowledged at once";
  EXPECT_EQ(filled[0].ack, s0 + 12);
  // an overlapping retransmission adds nothing
  Seg old = c.Make(ACK, "CCCCDD");
  old.seq = s0 + 8;
  rig.Send(old);
  EXPECT_EQ(c.Read(), "DD");
}

TEST_F(TcpTest, SequenceNumbersWrapAround) {
  Conn c(rig, 40007, 0xfffffff0u);
  c.Open();
  std::string d = Pattern(3000, 3);
  Seg second = c.Make(ACK, d.substr(1000));
  second.seq = c.snd_nxt + 1000;  // crosses 2^32
  rig.Send(second);
  c.Data(d.substr(0, 1000));
  EXPECT_EQ(c.Read(), d);
  std::vector<Seg> acks = rig.Take();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].ack, 0xfffffff1u);
  EXPECT_EQ(acks[1].ack, 0xfffffff1u + 3000u);
}

TEST_F(TcpTest, ReceiveWindowClosesAndReopens) {
  Conn c(rig, 40008);
  c.Open();
  std::string d = Pattern(TCP_RCV_BUF);
  for (uint32_t i = 0; i < TCP_RCV_BUF; i += 1000) c.Data(d.substr(i, 1000));
  EXPECT_EQ(tcp_readable(rig.st(), c.handle), TCP_RCV_BUF);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].wnd, 0);
  c.Data("beyond");  // outside the window: dropped, answered with an ACK
  c.snd_nxt -= 6;
  EXPECT_EQ(tcp_readable(rig.st(), c.handle), TCP_RCV_BUF);
  rig.Poll();
  EXPECT_EQ(c.Read(), d);
  out = rig.Poll();
  ASSERT_EQ(out.size(), 1u) << "a window update when the application reads";
  EXPECT_EQ(out[0].wnd, TCP_RCV_BUF);
}

TEST_F(TcpTest, ProbesAZeroWindow) {
  Conn c(rig, 40009);
  c.Open();
  c.Ack(c.rcv_nxt, 0);
  c.Write("data");
  EXPECT_TRUE(rig.Poll().empty());
  std::vector<Seg> p = rig.Poll(TCP_RTO_INIT_MS);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].data, "d") << "one byte into the closed window";
  c.Ack(c.rcv_nxt, 100);  // opens: the rest goes out (the probe byte again, not yet acked)
  std::vector<Seg> rest = rig.Poll();
  std::string got;
  for (auto& s : rest) got += s.data;
  EXPECT_EQ(got, "ata");
}

TEST_F(TcpTest, PassiveClose) {
  Conn c(rig, 40010);
  c.Open();
  c.Data("bye", FIN);
  EXPECT_EQ(c.Read(), "bye");
  EXPECT_TRUE(tcp_eof(rig.st(), c.handle));
  EXPECT_EQ(tcp_get_state(rig.st(), c.handle), TCP_CLOSE_WAIT);
  EXPECT_EQ(rig.Poll().at(0).ack, c.snd_nxt) << "the FIN is acknowledged";
  c.Write("reply after their FIN");  // half-close: we may still send
  tcp_close(rig.st(), c.handle);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "reply after their FIN");
  EXPECT_EQ(out[0].flags & FIN, FIN);
  c.Ack(out[0].seq + static_cast<uint32_t>(out[0].data.size()) + 1);
  EXPECT_EQ(tcp_active(rig.st()), 0u) << "LAST-ACK ends when our FIN is acknowledged";
}

TEST_F(TcpTest, ActiveCloseGoesThroughTimeWait) {
  Conn c(rig, 40011);
  c.Open();
  tcp_close(rig.st(), c.handle);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, FIN | ACK);
  c.Ack(out[0].seq + 1);
  c.rcv_nxt = out[0].seq + 1;
  c.Data("", FIN);
  out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, c.snd_nxt);
  EXPECT_EQ(tcp_active(rig.st()), 1u) << "TIME-WAIT holds the block";
  // a retransmitted FIN is acknowledged again
  Seg fin = c.Make(FIN | ACK);
  fin.seq = c.snd_nxt - 1;
  rig.Send(fin);
  EXPECT_EQ(rig.Poll().size(), 1u);
  rig.Poll(TCP_TIME_WAIT_MS);
  EXPECT_EQ(tcp_active(rig.st()), 0u);
}

TEST_F(TcpTest, SimultaneousCloseThroughClosing) {
  Conn c(rig, 40012);
  c.Open();
  tcp_shutdown(rig.st(), c.handle);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.at(0).flags, FIN | ACK);
  c.Data("", FIN);  // their FIN crosses ours (it does not acknowledge our FIN)
  EXPECT_EQ(tcp_get_state(rig.st(), c.handle), TCP_CLOSING);
  c.Ack(out[0].seq + 1);
  EXPECT_EQ(tcp_get_state(rig.st(), c.handle), TCP_TIME_WAIT);
}

TEST_F(TcpTest, ClosedPortAnswersRst) {
  Seg syn;
  syn.sport = 5555;
  syn.dport = 9;
  syn.seq = 77;
  syn.flags = SYN;
  rig.Send(syn);
  std::vector<Seg> out = rig.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, RST | ACK);
  EXPECT_EQ(out[0].ack, 78u);
  Seg ack = syn;
  ack.flags = ACK;
  ack.ack = 4242;
  rig.Send(ack);
  out = rig.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, RST);
  EXPECT_EQ(out[0].seq, 4242u);
  Seg rst = syn;
  rst.flags = RST;
  rig.Send(rst);
  EXPECT_TRUE(rig.Take().empty()) << "never a RST for a RST";
}

TEST_F(TcpTest, RstMustMatchExactly) {
  Conn c(rig, 40013);
  c.Open();
  Seg r = c.Make(RST);
  r.seq = c.snd_nxt + 100;  // in the window, not exact: a challenge ACK (RFC 5961)
  rig.Send(r);
  EXPECT_FALSE(tcp_was_reset(rig.st(), c.handle));
  EXPECT_EQ(rig.Poll().size(), 1u);
  Seg syn = c.Make(SYN);  // a SYN on an established connection: challenge ACK too
  rig.Send(syn);
  EXPECT_FALSE(tcp_was_reset(rig.st(), c.handle));
  EXPECT_EQ(rig.Poll().size(), 1u);
  rig.Send(c.Make(RST));
  EXPECT_TRUE(tcp_was_reset(rig.st(), c.handle));
  EXPECT_TRUE(tcp_eof(rig.st(), c.handle));
}

TEST_F(TcpTest, ClosingWithUnreadDataResets) {
  Conn c(rig, 40014);
  c.Open();
  c.Data("unread");
  tcp_close(rig.st(), c.handle);
  std::vector<Seg> out = rig.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags & RST, RST);
  EXPECT_EQ(tcp_active(rig.st()), 0u);
}

TEST_F(TcpTest, SynFloodHoldsOnlyTheBacklog) {
  for (uint16_t i = 0; i < 1000; i++) {
    Seg syn;
    syn.sport = static_cast<uint16_t>(1024 + i);
    syn.dport = kPort;
    syn.seq = i * 7919u;
    syn.flags = SYN;
    rig.Send(syn);
  }
  rig.Take();
  EXPECT_LE(tcp_active(rig.st()), 16u);
  EXPECT_GE(rig.st()->stats.syn_evicted, 900u);
  Conn c(rig, 50000);
  c.Open();  // a real client still gets in
  c.Data("ok");
  EXPECT_EQ(c.Read(), "ok");
}

TEST_F(TcpTest, ManyConnectionsThenRefusalWhenFull) {
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < TCP_MAX_CONNS; i++) {
    conns.push_back(std::make_unique<Conn>(rig, static_cast<uint16_t>(20000 + i)));
    conns.back()->Open();
  }
  EXPECT_EQ(tcp_active(rig.st()), static_cast<uint32_t>(TCP_MAX_CONNS));
  for (int i = 0; i < TCP_MAX_CONNS; i++) conns[i]->Data(Pattern(100, i));
  for (int i = 0; i < TCP_MAX_CONNS; i++) EXPECT_EQ(conns[i]->Read(), Pattern(100, i));
  Seg syn;
  syn.sport = 65000;
  syn.dport = kPort;
  syn.flags = SYN;
  rig.Send(syn);
  std::vector<Seg> out = rig.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, RST | ACK) << "no block left: refused, not crashed";
}

TEST_F(TcpTest, GarbageIsCountedAndDropped) {
  Conn c(rig, 40015);
  c.Open();
  std::vector<uint8_t> t = Rig::Encode(c.Make(ACK, "payload"));
  t[25] ^= 1;  // checksum now wrong
  tcp_input(rig.st(), kPeerIp, kOurIp, t.data(), static_cast<uint32_t>(t.size()));
  uint8_t shorty[10] = {0};
  tcp_input(rig.st(), kPeerIp, kOurIp, shorty, sizeof shorty);
  std::vector<uint8_t> bad_off = Rig::Encode(c.Make(ACK));
  bad_off[12] = 0xf0;  // header longer than the segment
  tcp_input(rig.st(), kPeerIp, kOurIp, bad_off.data(), static_cast<uint32_t>(bad_off.size()));
  Seg opt = c.Make(ACK);
  opt.mss = 1;
  std::vector<uint8_t> bad_opt = Rig::Encode(opt);
  bad_opt[21] = 0;  // option length 0 (checksum is wrong too: either way dropped)
  tcp_input(rig.st(), kPeerIp, kOurIp, bad_opt.data(), static_cast<uint32_t>(bad_opt.size()));
  EXPECT_EQ(rig.st()->stats.rx_bad, 4u);
  EXPECT_EQ(tcp_readable(rig.st(), c.handle), 0u);
  EXPECT_TRUE(rig.Poll().empty());
}

TEST_F(TcpTest, AckOfUnsentDataIsAnsweredAndIgnored) {
  Conn c(rig, 40016);
  c.Open();
  c.Ack(c.rcv_nxt + 5000);
  std::vector<Seg> out = rig.Poll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, c.rcv_nxt);
}

TEST_F(TcpTest, RttSamplesSetTheTimer) {
  Conn c(rig, 40017);
  c.Open();
  for (int i = 0; i < 8; i++) {
    c.Write("ping");
    std::vector<Seg> out = rig.Poll();
    ASSERT_EQ(out.size(), 1u);
    rig.Poll(50);
    c.Ack(out[0].seq + 4);
  }
  const tcp_pcb& p = rig.st()->pcbs[c.handle];
  EXPECT_NEAR(p.srtt_ms8 / 8.0, 50, 2);
  EXPECT_EQ(p.rto_ms, TCP_RTO_MIN_MS) << "50 ms + 4 * small variance, floored";
}

}  // namespace
