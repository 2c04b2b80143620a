#include "tools/ftkv/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "tools/ftkv/udp.h"

namespace ftd::ftkv {

OpResult RunOp(const OpOptions& o) {
  OpResult res;
  auto usage = [&res](std::string msg) {
    res.exit_code = kExitUsage;
    res.err = std::move(msg);
    return res;
  };
  if (!ValidKey(o.key))
    return usage(fmt::format("bad key '{}': 1..64 bytes of [A-Za-z0-9_.:-]", o.key));
  if (o.op == Op::kSet && !ValidValue(o.value)) {
    return usage(fmt::format("bad value '{}': 1..200 printable non-space bytes", o.value));
  }
  if (!(o.timeout_s > 0) || !(o.try_s > 0)) return usage("--timeout and --try must be > 0");
  auto to = ResolveIpv4(o.host, o.port);
  if (!to.ok()) return usage(std::string(to.status().message()));
  auto fd = ConnectUdp(*to);
  if (!fd.ok()) {
    res.err = std::string(fd.status().message());
    return res;
  }

  Request req;
  req.client = o.client != 0
                   ? o.client
                   : static_cast<uint32_t>(((getpid() * 2654435761u) ^ RealtimeNs()) | 1u);
  req.seq = o.seq != 0 ? o.seq : static_cast<uint64_t>(RealtimeNs());
  req.op = o.op;
  req.key = o.key;
  req.value = o.op == Op::kSet ? o.value : "";
  const std::string datagram = FormatRequest(req);

  const int64_t deadline = MonotonicNs() + static_cast<int64_t>(o.timeout_s * 1e9);
  const int64_t try_ns = std::max<int64_t>(1000000, static_cast<int64_t>(o.try_s * 1e9));
  int64_t next_send = MonotonicNs();
  char buf[kMaxDatagram + 1];
  // Bounded by the deadline: every wait ends by it.
  for (int64_t now = MonotonicNs(); now < deadline; now = MonotonicNs()) {
    if (now >= next_send) {
      // A refused or failed send is a server that is away: keep trying until the deadline.
      (void)send(*fd, datagram.data(), datagram.size(), 0);
      ++res.tries;
      next_send = now + try_ns;
    }
    int64_t wait_ns = std::min(next_send, deadline) - now;
    pollfd p{*fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, wait_ns / 1000000))) <= 0) continue;
    ssize_t n = recv(*fd, buf, sizeof buf, 0);
    if (n < 0) continue;  // ECONNREFUSED from an ICMP port unreachable, EAGAIN
    auto reply = ParseReply(std::string_view(buf, static_cast<size_t>(n)));
    if (!reply.ok()) {
      close(*fd);
      res.exit_code = kExitMalformed;
      res.err = fmt::format("malformed reply: {}", std::string(reply.status().message()));
      return res;
    }
    if (reply->client != req.client || reply->seq != req.seq) continue;  // not ours (late, stray)
    close(*fd);
    if (std::string p = ReplyShapeProblem(req.op, *reply); !p.empty()) {
      res.exit_code = kExitMalformed;
      res.err = fmt::format("malformed reply: {}: {}", p, FormatReply(*reply));
      return res;
    }
    res.out = ReplyText(*reply);
    switch (reply->status) {
      case Status::kOk:
        res.exit_code = kExitOk;
        break;
      case Status::kNotFound:
        res.exit_code = kExitNotFound;
        break;
      case Status::kErr:
        res.exit_code = kExitErrReply;
        break;
    }
    return res;
  }
  close(*fd);
  res.exit_code = kExitNoReply;
  res.err = fmt::format("no reply from {}:{} within {} s ({} tries)", o.host, o.port, o.timeout_s,
                        res.tries);
  return res;
}

}  // namespace ftd::ftkv
