// Small UDP and clock helpers for the ftkv client.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ftd::ftkv {

// An IPv4 address or a host name resolving to one.
absl::StatusOr<sockaddr_in> ResolveIpv4(const std::string& host, uint16_t port);
// A non-blocking UDP socket connect()ed to `to`, so it only receives that peer's datagrams.
absl::StatusOr<int> ConnectUdp(const sockaddr_in& to);

int64_t RealtimeNs();   // CLOCK_REALTIME: the timestamps in histories
int64_t MonotonicNs();  // CLOCK_MONOTONIC: every timeout and deadline

}  // namespace ftd::ftkv
