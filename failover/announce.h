// Announcing a guest's MAC after go-live, as QEMU's announce-self does after a migration
// (DESIGN.md "Failover"): the switches between the clients and the new host still send the
// guest's frames to the old host's port until they see a frame from its MAC arrive on the new
// one. The frame is QEMU's (migration/savevm.c announce_self_create, net/announce.c): a RARP
// "reverse request" broadcast from the guest's MAC that names no IP address, so no host's
// ARP cache changes; only the switches' forwarding tables learn the new port.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftd::failover {

inline constexpr size_t kRarpFrameSize = 60;  // the Ethernet minimum without the FCS

// The 60-byte frame, all fields big endian:
//   0  destination  ff:ff:ff:ff:ff:ff      6  source     `mac`
//  12  ethertype    0x8035 (RARP)
//  14  htype 1 (Ethernet)   16  ptype 0x0800 (IPv4)   18  hlen 6   19  plen 4
//  20  op 3 (reverse request)
//  22  sender hw `mac`   28  sender ip 0.0.0.0   32  target hw `mac`   38  target ip 0.0.0.0
//  42  zero padding to 60
std::vector<uint8_t> RarpAnnounceFrame(const std::array<uint8_t, 6>& mac);

// QEMU's default announce timing (announce-initial 50 ms, announce-step 100 ms,
// announce-rounds 5): one frame at go-live, then each later round waits initial + k * step
// after the previous one. kAnnounceDelaysMs[i] is the wait before round i counted from the
// previous round (round 0: from go-live), so the rounds go out at kAnnounceAtMs[i] after
// go-live: 0, 50, 200, 450, 800 ms.
inline constexpr int kAnnounceRounds = 5;
inline constexpr int kAnnounceDelaysMs[kAnnounceRounds] = {0, 50, 150, 250, 350};
inline constexpr int kAnnounceAtMs[kAnnounceRounds] = {0, 50, 200, 450, 800};

}  // namespace ftd::failover
