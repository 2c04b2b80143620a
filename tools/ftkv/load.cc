#include "tools/ftkv/load.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "fmt/format.h"
#include "tools/ftkv/history.h"
#include "tools/ftkv/udp.h"

namespace ftd::ftkv {
namespace {

constexpr int kMaxClients = 1000;

struct Client {
  int fd = -1;
  uint32_t id = 0;
  uint64_t next_seq = 0;
  std::mt19937_64 rng;
  bool outstanding = false;
  Request req;
  std::string datagram;
  int64_t first_send_real = 0;
  int64_t first_send_mono = 0;
  int64_t last_send_mono = 0;
  int64_t next_start_mono = 0;  // with --rate: when the next request may start
};

// Chooses the next operation: 35% SET k, 35% GET k, 5% DEL k, 15% INCR c, 10% GET c.
Request NextRequest(Client& c, const std::string& prefix, int keys, uint64_t seq0) {
  Request r;
  r.client = c.id;
  r.seq = c.next_seq++;
  int roll = static_cast<int>(c.rng() % 100);
  int k = static_cast<int>(c.rng() % static_cast<uint64_t>(keys));
  if (roll < 35) {
    r.op = Op::kSet;
    r.key = fmt::format("{}:k{}", prefix, k);
    r.value = fmt::format("v{}.{}", r.client, r.seq - seq0);  // unique: reads name their write
  } else if (roll < 70) {
    r.op = Op::kGet;
    r.key = fmt::format("{}:k{}", prefix, k);
  } else if (roll < 75) {
    r.op = Op::kDel;
    r.key = fmt::format("{}:k{}", prefix, k);
  } else if (roll < 90) {
    r.op = Op::kIncr;
    r.key = fmt::format("{}:c{}", prefix, k);
  } else {
    r.op = Op::kGet;
    r.key = fmt::format("{}:c{}", prefix, k);
  }
  return r;
}

HistoryRecord ToRecord(const Client& c) {
  HistoryRecord h;
  h.client = c.req.client;
  h.seq = c.req.seq;
  h.op = c.req.op;
  h.key = c.req.key;
  h.arg = c.req.value;
  h.send_ns = c.first_send_real;
  return h;
}

}  // namespace

LatencySummary Summarize(std::vector<int64_t> v) {
  LatencySummary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&v](double p) {  // nearest rank
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
    i = std::clamp<size_t>(i, 1, v.size());
    return static_cast<double>(v[i - 1]) / 1e3;
  };
  s.p50_us = rank(0.50);
  s.p90_us = rank(0.90);
  s.p99_us = rank(0.99);
  s.max_us = static_cast<double>(v.back()) / 1e3;
  return s;
}

double LoadReport::Throughput() const {
  // Over the time requests could start: shorter than --duration when stopped early.
  double active = std::min(elapsed_s, duration_s);
  return active > 0 ? static_cast<double>(answered) / active : 0.0;
}

std::string LoadReport::Table() const {
  std::string out = fmt::format(
      "ftkv load: {} clients, {:.2f} s, {} answered ({:.1f}/s): {} OK, {} NOTFOUND, {} ERR; {} "
      "pending; {} retries, {} late replies, {} malformed\n",
      clients, elapsed_s, answered, Throughput(), ok, notfound, err, pending, retries, late_replies,
      malformed);
  out += fmt::format("{:<6} {:>9} {:>10} {:>10} {:>10} {:>10}\n", "op", "answered", "p50 us",
                     "p90 us", "p99 us", "max us");
  auto row = [&out](std::string_view name, const LatencySummary& s) {
    out += fmt::format("{:<6} {:>9} {:>10.0f} {:>10.0f} {:>10.0f} {:>10.0f}\n", name, s.count,
                       s.p50_us, s.p90_us, s.p99_us, s.max_us);
  };
  row("all", all);
  for (Op op : {Op::kSet, Op::kGet, Op::kIncr, Op::kDel})
    row(OpName(op), by_op[static_cast<int>(op)]);
  return out;
}

std::string LoadReport::Json() const {
  return fmt::format(
      "{{\"clients\":{},\"duration_s\":{:.3f},\"elapsed_s\":{:.3f},\"answered\":{},\"ok\":{},"
      "\"notfound\":{},\"err\":{},\"pending\":{},\"transmissions\":{},\"retries\":{},"
      "\"late_replies\":{},\"malformed\":{},\"throughput_per_s\":{:.1f},\"p50_us\":{:.1f},"
      "\"p90_us\":{:.1f},\"p99_us\":{:.1f},\"max_us\":{:.1f},\"key_prefix\":\"{}\"}}",
      clients, duration_s, elapsed_s, answered, ok, notfound, err, pending, transmissions, retries,
      late_replies, malformed, Throughput(), all.p50_us, all.p90_us, all.p99_us, all.max_us,
      key_prefix);
}

absl::StatusOr<LoadReport> RunLoad(const LoadOptions& o) {
  if (o.clients < 1 || o.clients > kMaxClients) {
    return absl::InvalidArgumentError(fmt::format("--clients must be 1..{}", kMaxClients));
  }
  if (!(o.duration_s > 0) || o.duration_s > 86400) {
    return absl::InvalidArgumentError("--duration must be > 0 and at most a day");
  }
  if (o.rate < 0 || !(o.try_s > 0) || o.grace_s < 0 || o.grace_s > 60) {
    return absl::InvalidArgumentError("--rate >= 0, --try > 0, --grace 0..60 s");
  }
  if (o.keys < 1 || o.keys > 100000) return absl::InvalidArgumentError("--keys must be 1..100000");
  std::string prefix = !o.key_prefix.empty()
                           ? o.key_prefix
                           : fmt::format("r{:x}", RealtimeNs() / 1000000 % (1ull << 40));
  if (!ValidKey(prefix + ":k" + std::to_string(o.keys - 1))) {
    return absl::InvalidArgumentError(fmt::format("bad key prefix '{}'", prefix));
  }
  uint32_t base = o.client_base;
  if (base == 0) {
    base = static_cast<uint32_t>(1 + (static_cast<uint64_t>(RealtimeNs()) * 2654435761ull) %
                                         (UINT32_MAX - kMaxClients - 1));
  }
  if (static_cast<uint64_t>(base) + static_cast<uint64_t>(o.clients) - 1 > UINT32_MAX) {
    return absl::InvalidArgumentError("--client-base too large for --clients");
  }
  auto to = ResolveIpv4(o.host, o.port);
  if (!to.ok()) return to.status();

  HistoryWriter history;
  if (auto s =
          history.Open(o.history, fmt::format("host={} port={} clients={} duration_s={} rate={} "
                                              "keys={} seed={} prefix={}",
                                              o.host, o.port, o.clients, o.duration_s, o.rate,
                                              o.keys, o.seed, prefix));
      !s.ok()) {
    return s;
  }

  std::vector<Client> clients(static_cast<size_t>(o.clients));
  auto close_all = [&clients] {
    for (Client& c : clients) {
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
    }
  };
  const int64_t seq0 = RealtimeNs();
  const int64_t start = MonotonicNs();
  const int64_t end = start + static_cast<int64_t>(o.duration_s * 1e9);
  const int64_t hard_end = end + static_cast<int64_t>(o.grace_s * 1e9);
  const int64_t try_ns = std::max<int64_t>(1000000, static_cast<int64_t>(o.try_s * 1e9));
  const int64_t per_client_gap = o.rate > 0 ? static_cast<int64_t>(1e9 * o.clients / o.rate) : 0;
  for (int i = 0; i < o.clients; ++i) {
    Client& c = clients[static_cast<size_t>(i)];
    auto fd = ConnectUdp(*to);
    if (!fd.ok()) {
      close_all();
      return fd.status();
    }
    c.fd = *fd;
    c.id = base + static_cast<uint32_t>(i);
    c.next_seq = static_cast<uint64_t>(seq0);
    c.rng.seed(o.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    c.next_start_mono = start + (o.rate > 0 ? static_cast<int64_t>(1e9 * i / o.rate) : 0);
  }

  LoadReport rep;
  rep.clients = o.clients;
  rep.duration_s = o.duration_s;
  rep.key_prefix = prefix;
  std::vector<int64_t> lat_all;
  std::vector<int64_t> lat_op[4];
  absl::Status write_status;
  auto note_malformed = [&rep](const Client& c, std::string what) {
    if (rep.malformed++ == 0) rep.first_malformed = fmt::format("client {}: {}", c.id, what);
  };

  std::vector<pollfd> pfds(clients.size());
  char buf[kMaxDatagram + 1];
  int64_t last_flush = start;
  int64_t now = start;
  // Bounded by hard_end: every poll waits at most 10 ms and nothing starts after `end`.
  for (now = MonotonicNs(); now < hard_end; now = MonotonicNs()) {
    bool stopping = o.stop != nullptr && o.stop->load();
    if (stopping) break;
    bool any_outstanding = false;
    int64_t wake = std::min(hard_end, now + 10000000);
    for (Client& c : clients) {
      if (!c.outstanding && now < end && now >= c.next_start_mono) {
        c.req = NextRequest(c, prefix, o.keys, static_cast<uint64_t>(seq0));
        c.datagram = FormatRequest(c.req);
        c.outstanding = true;
        c.first_send_real = RealtimeNs();
        c.first_send_mono = now;
        c.last_send_mono = 0;
        if (per_client_gap > 0) {
          c.next_start_mono += per_client_gap;
          if (c.next_start_mono < now - 1000000000) c.next_start_mono = now;  // no catch-up bursts
        }
      }
      if (c.outstanding) {
        if (c.last_send_mono == 0 || now - c.last_send_mono >= try_ns) {
          if (c.last_send_mono != 0) ++rep.retries;
          ++rep.transmissions;
          (void)send(c.fd, c.datagram.data(), c.datagram.size(), 0);  // failures: server away
          c.last_send_mono = now;
        }
        any_outstanding = true;
        wake = std::min(wake, c.last_send_mono + try_ns);
      } else if (now < end) {
        wake = std::min(wake, c.next_start_mono);
      }
    }
    if (!any_outstanding && now >= end) break;
    for (size_t i = 0; i < clients.size(); ++i) pfds[i] = pollfd{clients[i].fd, POLLIN, 0};
    int wait_ms = static_cast<int>(std::clamp<int64_t>((wake - now + 999999) / 1000000, 0, 10));
    if (poll(pfds.data(), pfds.size(), wait_ms) <= 0) continue;
    for (size_t i = 0; i < clients.size(); ++i) {
      if ((pfds[i].revents & (POLLIN | POLLERR)) == 0) continue;
      Client& c = clients[i];
      for (int burst = 0; burst < 16; ++burst) {  // bounded drain per wake-up
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n < 0) break;  // EAGAIN, or ECONNREFUSED: the server is away for now
        int64_t arrival = RealtimeNs();
        std::string_view dg(buf, static_cast<size_t>(n));
        auto reply = ParseReply(dg);
        if (!reply.ok()) {
          note_malformed(c, std::string(reply.status().message()));
          continue;
        }
        if (reply->client != c.id) {
          note_malformed(
              c, fmt::format("reply for client {}: {}", reply->client, FormatReply(*reply)));
          continue;
        }
        if (!c.outstanding || reply->seq != c.req.seq) {
          if (reply->seq < c.next_seq) {
            ++rep.late_replies;  // a second answer to a request already answered
          } else {
            note_malformed(c,
                           fmt::format("reply to a request never sent: {}", FormatReply(*reply)));
          }
          continue;
        }
        if (std::string p = ReplyShapeProblem(c.req.op, *reply); !p.empty()) {
          note_malformed(
              c, fmt::format("{} (request '{}', reply '{}')", p, c.datagram, FormatReply(*reply)));
          continue;  // stays outstanding: not a usable answer
        }
        HistoryRecord h = ToRecord(c);
        h.reply_ns = std::max(arrival, h.send_ns);
        h.status = reply->status;
        h.value = reply->value;
        if (write_status.ok()) write_status = history.Append(h);
        c.outstanding = false;
        ++rep.answered;
        if (reply->status == Status::kOk) ++rep.ok;
        if (reply->status == Status::kNotFound) ++rep.notfound;
        if (reply->status == Status::kErr) ++rep.err;
        int64_t lat = MonotonicNs() - c.first_send_mono;
        lat_all.push_back(lat);
        lat_op[static_cast<int>(c.req.op)].push_back(lat);
      }
    }
    if (now - last_flush > 1000000000) {
      if (write_status.ok()) write_status = history.Flush();
      last_flush = now;
    }
  }
  rep.elapsed_s = static_cast<double>(MonotonicNs() - start) / 1e9;
  for (Client& c : clients) {
    if (!c.outstanding) continue;
    HistoryRecord h = ToRecord(c);
    h.pending = true;
    if (write_status.ok()) write_status = history.Append(h);
    ++rep.pending;
  }
  close_all();
  if (write_status.ok()) write_status = history.Close();
  if (!write_status.ok()) return write_status;
  rep.all = Summarize(std::move(lat_all));
  for (int i = 0; i < 4; ++i) rep.by_op[i] = Summarize(std::move(lat_op[i]));
  return rep;
}

}  // namespace ftd::ftkv
