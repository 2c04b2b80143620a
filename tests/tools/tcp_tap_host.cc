// tcp_tap_host: the guest kit's IPv4 + TCP stack (guest/net, the very .c files the guest
// images link) in a host process on a TAP device, so Linux's own stack can be its peer without
// a VM (tests/integration/tcp_linux_test.sh).  One frame of the TAP is one frame of the guest's
// virtio-net; the clock is CLOCK_MONOTONIC in ms.
//
//   tcp_tap_host --tap IF [--ip A.B.C.D/P] [--echo PORT] [--backlog N] [--seconds S]
//                [--loss PCT] [--delay MS] [--reorder PCT] [--impair tx|rx|both] [--seed N]
//
// --echo PORT: every connection's bytes come back; when the peer half-closes and everything is
//   echoed, the connection is closed (so a half-close is answered by the rest and a FIN).
// --loss/--delay/--reorder: impairment of the frames in both directions, netem's meaning
//   (reorder: that share of the frames skip the delay), from a seeded generator: for kernels
//   without sch_netem.  --impair: which direction (tx: frames the stack sends; default both).
// SIGUSR1 prints a stats line; SIGTERM/SIGINT or --seconds end it (the line is printed then too).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "net.h"
#include "tcp.h"
}

namespace {

volatile sig_atomic_t g_stop = 0, g_stats = 0;

uint64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

struct Delayed {
  uint64_t due;
  std::vector<uint8_t> frame;
};

// netem-like impairment of one direction.
struct Impair {
  double loss = 0, reorder = 0;
  uint64_t delay = 0;
  std::mt19937_64* rng = nullptr;
  std::deque<Delayed> q;
  uint64_t dropped = 0;
  bool on() const { return loss > 0 || delay > 0 || reorder > 0; }
  void Push(const uint8_t* f, uint32_t len, uint64_t now) {
    std::uniform_real_distribution<double> u(0, 100);
    if (u(*rng) < loss) {
      dropped++;
      return;
    }
    uint64_t due = u(*rng) < reorder ? now : now + delay;
    Delayed d{due, std::vector<uint8_t>(f, f + len)};
    auto it = q.end();
    while (it != q.begin() && std::prev(it)->due > due) --it;
    q.insert(it, std::move(d));
  }
  uint64_t NextDue() const { return q.empty() ? UINT64_MAX : q.front().due; }
};

struct Host {
  int tap = -1;
  netif nif{};
  tcp_stack* st = nullptr;
  Impair tx, rx;
  uint64_t tx_frames = 0, tx_errors = 0;

  void Write(const uint8_t* f, uint32_t len) {
    if (write(tap, f, len) != static_cast<ssize_t>(len)) tx_errors++;
    tx_frames++;
  }
  static void Send(void* ctx, const uint8_t* f, uint32_t len) {
    auto* h = static_cast<Host*>(ctx);
    if (h->tx.on())
      h->tx.Push(f, len, NowMs());
    else
      h->Write(f, len);
  }
};

int OpenTap(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return perror("tcp_tap_host: /dev/net/tun"), -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    std::fprintf(stderr, "tcp_tap_host: TUNSETIFF %s: %s\n", name, std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void PrintStats(const Host& h) {
  const tcp_stats& s = h.st->stats;
  std::printf(
      "tcp_tap_host: stats active=%u accepted=%llu rx_segments=%llu rx_bad=%llu rx_ooo=%llu "
      "tx_segments=%llu tx_rst=%llu retransmits=%llu fast_retransmits=%llu timeouts=%llu "
      "syn_evicted=%llu refused=%llu aborted=%llu impaired_dropped=%llu\n",
      tcp_active(h.st), (unsigned long long)s.accepted, (unsigned long long)s.rx_segments,
      (unsigned long long)s.rx_bad, (unsigned long long)s.rx_ooo,
      (unsigned long long)s.tx_segments, (unsigned long long)s.tx_rst,
      (unsigned long long)s.retransmits, (unsigned long long)s.fast_retransmits,
      (unsigned long long)s.timeouts, (unsigned long long)s.syn_evicted,
      (unsigned long long)s.refused, (unsigned long long)s.aborted,
      (unsigned long long)(h.tx.dropped + h.rx.dropped));
  std::fflush(stdout);
}

// The echo application: what fits in the send buffer is echoed and consumed; the rest waits
// (so a slow reader closes our receive window, as flow control should).
void EchoConnections(tcp_stack* st, std::vector<int>& conns) {
  static uint8_t buf[TCP_RCV_BUF];
  for (size_t i = 0; i < conns.size();) {
    int c = conns[i];
    uint32_t n = tcp_peek(st, c, buf, tcp_send_space(st, c));
    if (n) tcp_consume(st, c, tcp_send(st, c, buf, n));
    if (tcp_was_reset(st, c) || (tcp_eof(st, c) && tcp_readable(st, c) == 0)) {
      tcp_close(st, c);
      conns[i] = conns.back();
      conns.pop_back();
      continue;
    }
    i++;
  }
}

int Usage() {
  std::fprintf(stderr,
               "usage: tcp_tap_host --tap IF [--ip A.B.C.D/P] [--echo PORT] [--backlog N] "
               "[--seconds S] [--loss PCT] [--delay MS] [--reorder PCT] [--impair tx|rx|both] "
               "[--seed N]\n");
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tap_name, ip_arg = "198.18.0.10/15";
  int echo_port = 0, backlog = 64;
  uint64_t seconds = 600, seed = 1;
  double loss = 0, reorder = 0;
  uint64_t delay = 0;
  std::string impair = "both";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (a == "--tap") tap_name = v;
    else if (a == "--ip") ip_arg = v;
    else if (a == "--echo") echo_port = std::atoi(v);
    else if (a == "--backlog") backlog = std::atoi(v);
    else if (a == "--seconds") seconds = std::strtoull(v, nullptr, 10);
    else if (a == "--loss") loss = std::atof(v);
    else if (a == "--delay") delay = std::strtoull(v, nullptr, 10);
    else if (a == "--reorder") reorder = std::atof(v);
    else if (a == "--impair") impair = v;
    else if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
    else return Usage();
  }
  uint32_t ip = 0;
  int prefix = 0;
  if (tap_name.empty() || net_parse_ipv4(ip_arg.data(), ip_arg.size(), &ip, &prefix) ||
      echo_port <= 0 || echo_port > 65535 || backlog <= 0 || backlog > 65535 ||
      (impair != "tx" && impair != "rx" && impair != "both"))
    return Usage();

  Host h;
  h.tap = OpenTap(tap_name.c_str());
  if (h.tap < 0) return 1;
  std::mt19937_64 rng(seed);
  for (Impair* im : {&h.tx, &h.rx}) {
    if ((im == &h.tx && impair == "rx") || (im == &h.rx && impair == "tx")) continue;
    im->loss = loss;
    im->delay = delay;
    im->reorder = reorder;
    im->rng = &rng;
  }
  static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
  net_init(&h.nif, mac, ip, mask, 0, &Host::Send, &h);
  static tcp_stack stack;  // 5 MB: static, like the guest's (no leak for LeakSanitizer)
  h.st = &stack;
  tcp_init(h.st, &h.nif, static_cast<uint32_t>(seed * 2654435761u), NowMs());
  if (tcp_listen(h.st, static_cast<uint16_t>(echo_port), static_cast<uint16_t>(backlog)) != 0)
    return std::fprintf(stderr, "tcp_tap_host: cannot listen on %d\n", echo_port), 1;

  signal(SIGTERM, [](int) { g_stop = 1; });
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGUSR1, [](int) { g_stats = 1; });
  net_announce(&h.nif);
  char ipbuf[16];
  std::printf("tcp_tap_host: ready ip=%s echo=%d tap=%s\n", net_fmt_ipv4(ip, ipbuf), echo_port,
              tap_name.c_str());
  std::fflush(stdout);

  std::vector<int> conns;
  uint64_t end = NowMs() + seconds * 1000;
  uint64_t next_tcp = TCP_NO_DEADLINE;
  static uint8_t frame[NET_MAX_FRAME + 64];
  while (!g_stop) {
    uint64_t now = NowMs();
    if (now >= end) break;
    uint64_t wake = std::min({next_tcp, h.tx.NextDue(), h.rx.NextDue(), now + 50});
    pollfd pfd{h.tap, POLLIN, 0};
    int timeout = wake > now ? static_cast<int>(wake - now) : 0;
    if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) return perror("poll"), 1;
    now = NowMs();
    tcp_set_now(h.st, now);
    for (int i = 0; i < 256; i++) {  // bounded batch, like the guest's RX ring
      ssize_t n = read(h.tap, frame, sizeof frame);
      if (n <= 0) break;
      if (h.rx.on())
        h.rx.Push(frame, static_cast<uint32_t>(n), now);
      else
        net_input(&h.nif, frame, static_cast<uint32_t>(n));
    }
    while (!h.rx.q.empty() && h.rx.q.front().due <= now) {
      Delayed d = std::move(h.rx.q.front());
      h.rx.q.pop_front();
      net_input(&h.nif, d.frame.data(), static_cast<uint32_t>(d.frame.size()));
    }
    for (int c; (c = tcp_accept(h.st, static_cast<uint16_t>(echo_port))) >= 0;) conns.push_back(c);
    EchoConnections(h.st, conns);
    next_tcp = tcp_poll(h.st, now);
    while (!h.tx.q.empty() && h.tx.q.front().due <= now) {
      h.Write(h.tx.q.front().frame.data(), static_cast<uint32_t>(h.tx.q.front().frame.size()));
      h.tx.q.pop_front();
    }
    if (g_stats) {
      g_stats = 0;
      PrintStats(h);
    }
  }
  PrintStats(h);
  return 0;
}
