// What both ends of the replication stream share (proto/replication.proto, the protocol in
// docs/replication.md): the protocol version, the limits a backup enforces, and the TLS
// material each side loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ftd::repl {

// Hello.protocol_version = major << 16 | minor. A new minor may add fields an older peer
// ignores; anything else is a new major, and a backup accepts only its own major.
// 2: Hello.generation is the generation the primary claims once accepted (was: had claimed).
inline constexpr uint32_t kProtocolMajor = 2;
inline constexpr uint32_t kProtocolMinor = 0;
inline constexpr uint32_t MakeProtocolVersion(uint32_t major, uint32_t minor) {
  return major << 16 | (minor & 0xffff);
}
inline constexpr uint32_t kProtocolVersion = MakeProtocolVersion(kProtocolMajor, kProtocolMinor);
inline constexpr uint32_t ProtocolMajor(uint32_t version) { return version >> 16; }

// Limits a backup enforces on every stream; a primary keeps under them.
struct Limits {
  size_t max_batch_entries = 4096;
  size_t max_batch_bytes = 16u << 20;  // sum of the entries' encoded sizes
  size_t max_state_chunk = 4u << 20;
  size_t max_vm_id = 256;
  // Above the largest valid message; gRPC refuses a bigger one before we parse it.
  int max_message_bytes = 20 << 20;
};

// PEM text for one side of a mutual-TLS connection (deploy/make-certs.sh makes the files).
struct TlsMaterial {
  std::string ca_cert;  // the pair's CA: the peer's certificate must chain to it
  std::string cert;     // this host's certificate
  std::string key;      // this host's private key
};

// Where the files are.
struct TlsFiles {
  std::string ca_cert;
  std::string cert;
  std::string key;
};

// Reads the three files and checks what gRPC would otherwise report only as a failed
// handshake: each parses, the key belongs to the certificate, and the certificate is
// signed by the CA and valid now. Errors name the file and say what to do.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files);

// Steady-clock nanoseconds (peer timeouts) and wall-clock nanoseconds (heartbeat stamps).
int64_t SteadyNowNs();
uint64_t UnixNowNs();

}  // namespace ftd::repl
