// The guest kit's TCP input path against live state: the input is a script of segments aimed
// at the stack's real connections (sequence and acknowledgement numbers near what each block
// expects, random flags, windows, options and payloads), raw garbage segments, application
// calls and clock jumps.  After every step the blocks' invariants must hold.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "fuzz/fuzz_input.h"

extern "C" {
#include "net.h"
#include "tcp.h"
}

namespace {

constexpr uint32_t kOurIp = 0xc612000a, kPeerIp = 0xc6120064;
const uint8_t kMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

void Discard(void*, const uint8_t*, uint32_t) {}

#define SEQ_LEQ(a, b) (static_cast<int32_t>((a) - (b)) <= 0)

void Check(const tcp_stack& st) {
  for (const tcp_pcb& p : st.pcbs) {
    if (!p.in_use) continue;
    if (p.rx_len > TCP_RCV_BUF || p.tx_len > TCP_SND_BUF || p.rx_head >= TCP_RCV_BUF ||
        p.tx_head >= TCP_SND_BUF || p.nooo > TCP_OOO_RANGES || p.state > TCP_TIME_WAIT)
      std::abort();
    if (p.state != TCP_CLOSED && p.state != TCP_SYN_RECEIVED &&
        !(SEQ_LEQ(p.snd_una, p.snd_nxt) && SEQ_LEQ(p.snd_nxt, p.snd_max)))
      std::abort();
    // what is unacknowledged is in the send buffer (+ SYN/FIN)
    if (p.state >= TCP_ESTABLISHED && p.state != TCP_TIME_WAIT &&
        p.snd_max - p.snd_una > p.tx_len + 1)
      std::abort();
    for (int i = 0; i < p.nooo; i++)
      if (static_cast<int32_t>(p.ooo[i].end - p.ooo[i].start) <= 0 ||
          p.ooo[i].end - p.rcv_nxt > TCP_RCV_BUF)
        std::abort();
  }
}

void SendSegment(tcp_stack* st, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                 uint8_t flags, uint16_t wnd, std::span<const uint8_t> opts,
                 std::span<const uint8_t> data) {
  static uint8_t t[60 + 1600];
  uint32_t ol = static_cast<uint32_t>(opts.size() & ~3u);
  if (ol > 40) ol = 40;
  uint32_t hl = 20 + ol;
  uint32_t len = hl + static_cast<uint32_t>(data.size());
  std::memset(t, 0, hl);
  ftd_wr16be(t, sport);
  ftd_wr16be(t + 2, dport);
  ftd_wr32be(t + 4, seq);
  ftd_wr32be(t + 8, ack);
  t[12] = static_cast<uint8_t>((hl / 4) << 4);
  t[13] = flags;
  ftd_wr16be(t + 14, wnd);
  if (ol) std::memcpy(t + 20, opts.data(), ol);
  if (!data.empty()) std::memcpy(t + hl, data.data(), data.size());
  ftd_wr16be(t + 16, static_cast<uint16_t>(~net_csum(t, len, net_pseudo_sum(kPeerIp, kOurIp, 6, len))));
  tcp_input(st, kPeerIp, kOurIp, t, len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static netif nif;
  static auto st = std::make_unique<tcp_stack>();
  ftd::fuzz::Input in(data, size);
  uint64_t now = 1000;
  net_init(&nif, kMac, kOurIp, 0xfffe0000, 0, Discard, nullptr);
  tcp_init(st.get(), &nif, in.Take<uint32_t>(), now);
  tcp_listen(st.get(), 7, static_cast<uint16_t>(1 + in.Take<uint8_t>() % 32));
  // the peer is on the ARP cache (else every answer waits in the ARP queue)
  static uint8_t arp[42];
  std::memset(arp, 0xff, 6);
  std::memcpy(arp + 6, "\x02\0\0\0\0\x64", 6);
  ftd_wr16be(arp + 12, 0x0806);
  ftd_wr16be(arp + 14, 1);
  ftd_wr16be(arp + 16, 0x0800);
  arp[18] = 6;
  arp[19] = 4;
  ftd_wr16be(arp + 20, 1);
  std::memcpy(arp + 22, "\x02\0\0\0\0\x64", 6);
  ftd_wr32be(arp + 28, kPeerIp);
  ftd_wr32be(arp + 38, kOurIp);
  net_input(&nif, arp, sizeof arp);
  static uint8_t buf[TCP_RCV_BUF];

  for (int step = 0; step < 400 && !in.empty(); step++) {
    uint8_t op = in.Take<uint8_t>();
    uint16_t sport = static_cast<uint16_t>(1000 + in.Take<uint8_t>() % 6);
    tcp_set_now(st.get(), now);
    switch (op % 6) {
      case 0: {  // a SYN (maybe with options and data)
        uint8_t optlen = in.Take<uint8_t>() % 16;
        auto opts = in.TakeBytes(optlen);
        auto payload = in.TakeBytes(in.Take<uint8_t>() % 64);
        SendSegment(st.get(), sport, 7, in.Take<uint32_t>(), in.Take<uint32_t>(),
                    static_cast<uint8_t>(0x02 | (in.Take<uint8_t>() & 0x3d)), in.Take<uint16_t>(),
                    opts, payload);
        break;
      }
      case 1:
      case 2: {  // a segment near what a live connection expects
        const tcp_pcb* p = nullptr;
        for (const tcp_pcb& q : st->pcbs)
          if (q.in_use && q.rport == sport) p = &q;
        uint32_t seq = p ? p->rcv_nxt : in.Take<uint32_t>();
        uint32_t ack = p ? p->snd_una : in.Take<uint32_t>();
        seq += static_cast<uint32_t>(static_cast<int32_t>(in.Take<int16_t>()) / 16);
        ack += static_cast<uint32_t>(static_cast<int32_t>(in.Take<int16_t>()) / 64);
        uint8_t flags = in.Take<uint8_t>();
        if (op & 0x80) flags = 0x10 | (flags & 0x09);  // mostly plain ACK/PSH/FIN
        uint16_t wnd = (op & 0x40) ? 65535 : in.Take<uint16_t>();
        uint16_t n = in.Take<uint16_t>() % 1461;
        auto payload = in.TakeBytes(n);
        SendSegment(st.get(), sport, 7, seq, ack, flags, wnd, {}, payload);
        break;
      }
      case 3: {  // raw bytes as a segment (a checksum that may or may not be right)
        auto raw = in.TakeBytes(in.Take<uint8_t>());
        std::memcpy(buf, raw.data(), raw.size());
        tcp_input(st.get(), kPeerIp, kOurIp, buf, static_cast<uint32_t>(raw.size()));
        break;
      }
      case 4: {  // the application
        int c = tcp_accept(st.get(), 7);
        if (c < 0) c = in.Take<uint8_t>() % TCP_MAX_CONNS;
        switch (in.Take<uint8_t>() % 6) {
          case 0:
            tcp_consume(st.get(), c, tcp_peek(st.get(), c, buf, in.Take<uint16_t>() % sizeof buf));
            break;
          case 1: {
            auto d = in.TakeBytes(in.Take<uint16_t>() % 4000);
            tcp_send(st.get(), c, d.data(), static_cast<uint32_t>(d.size()));
            break;
          }
          case 2:
            tcp_shutdown(st.get(), c);
            break;
          case 3:
            tcp_close(st.get(), c);
            break;
          case 4:
            tcp_abort(st.get(), c);
            break;
          default:
            (void)tcp_eof(st.get(), c);
            (void)tcp_send_space(st.get(), c);
            break;
        }
        break;
      }
      default:  // time passes
        now += in.Take<uint16_t>() * (op & 0x80 ? 8u : 1u);
        tcp_poll(st.get(), now);
        break;
    }
    Check(*st);
  }
  tcp_poll(st.get(), now + 1);
  Check(*st);
  return 0;
}
