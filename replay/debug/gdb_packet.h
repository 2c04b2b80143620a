// Framing of the gdb remote serial protocol (RSP): what gdb sends is a byte stream of acks,
// interrupts and `$payload#xx` packets; PacketDecoder cuts it into events whatever the chunking
// of the reads, in bounded memory, so a confused or hostile peer costs at most kMaxPacket bytes.
// Also the encoders for replies and the hex helpers the commands and registers use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ftd::replay::debug {

// Largest unescaped payload accepted (and the PacketSize a stub should announce in qSupported,
// so gdb never sends more).
inline constexpr size_t kMaxPacket = 64 * 1024;

struct PacketEvent {
  enum class Kind {
    kPacket,       // a packet with a good checksum; `payload` is unescaped
    kInterrupt,    // 0x03 outside a packet (gdb's Ctrl-C)
    kAck,          // '+'
    kNack,         // '-'
    kBadChecksum,  // a complete packet whose checksum is wrong or not hex: reply '-'
    kTooLong,      // a payload over kMaxPacket; the rest of it is skipped
  };
  Kind kind;
  std::string payload;
};

class PacketDecoder {
 public:
  // Appends the events completed by `bytes` to `out` (it does not clear it). A packet may span
  // any number of calls.
  void Feed(std::span<const uint8_t> bytes, std::vector<PacketEvent>* out);

 private:
  enum class State { kIdle, kPayload, kEscape, kChecksum1, kChecksum2, kSkip, kSkipChecksum };
  void StartPacket();

  State state_ = State::kIdle;
  std::string payload_;
  uint8_t sum_ = 0;       // running mod-256 sum of the raw (escaped) payload bytes
  uint8_t received_ = 0;  // checksum digits seen so far
  bool checksum_ok_ = true;
  int skip_digits_ = 0;
};

// "$" + payload with '#', '$', '}' and '*' escaped ('}' then byte ^ 0x20) + "#" + two lowercase
// hex digits of the checksum. Escaping '*' too means gdb never mistakes data for run-length
// encoding, so binary replies (qXfer, X-style data) go through here unchanged.
std::string EncodePacket(std::string_view payload);

// The reply to a qXfer read of `length` bytes at `offset` of `object`: "l" + the rest when it
// fits, else "m" + `length` bytes; "l" alone past the end. Escaping is EncodePacket's job.
std::string XferChunk(std::string_view object, uint64_t offset, uint64_t length);

// Lowercase hex, two digits per byte.
std::string ToHex(std::span<const uint8_t> bytes);
std::string ToHex(std::string_view bytes);
// Even-length hex of either case; nullopt for anything else.
std::optional<std::vector<uint8_t>> FromHex(std::string_view hex);
// 1 to 16 hex digits, most significant first (addresses, lengths); nullopt when empty, longer
// or not hex, so it never overflows.
std::optional<uint64_t> ParseHexU64(std::string_view hex);

// Register values travel as their bytes in target (little-endian) order: 0x1234 in a 4-byte
// register is "34120000". `size` is 1..8 bytes.
std::string ToHexLe(uint64_t value, size_t size);
// Exactly 2 * `size` hex digits, `size` 1..8; nullopt otherwise.
std::optional<uint64_t> FromHexLe(std::string_view hex, size_t size);

}  // namespace ftd::replay::debug
