#include "replay/debug/gdb_packet.h"

#include <algorithm>

namespace ftd::replay::debug {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void PacketDecoder::StartPacket() {
  state_ = State::kPayload;
  payload_.clear();
  sum_ = 0;
  received_ = 0;
  checksum_ok_ = true;
}

void PacketDecoder::Feed(std::span<const uint8_t> bytes, std::vector<PacketEvent>* out) {
  auto emit = [out](PacketEvent::Kind kind, std::string payload = {}) {
    out->push_back(PacketEvent{kind, std::move(payload)});
  };
  // Appends one unescaped byte; past kMaxPacket the packet is given up and skipped to its end.
  auto append = [&](char c) {
    if (payload_.size() >= kMaxPacket) {
      emit(PacketEvent::Kind::kTooLong);
      payload_.clear();
      state_ = State::kSkip;
      return;
    }
    payload_.push_back(c);
  };
  for (uint8_t c : bytes) {
    // An unescaped '$' only ever starts a packet, so it resyncs from any state: a packet cut
    // short by it is dropped without an event (gdb sent no checksum to nack).
    if (c == '$' && state_ != State::kIdle) {
      if (state_ == State::kChecksum1 || state_ == State::kChecksum2) {
        emit(PacketEvent::Kind::kBadChecksum);
      }
      StartPacket();
      continue;
    }
    switch (state_) {
      case State::kIdle:
        if (c == '$') {
          StartPacket();
        } else if (c == '+') {
          emit(PacketEvent::Kind::kAck);
        } else if (c == '-') {
          emit(PacketEvent::Kind::kNack);
        } else if (c == 0x03) {
          emit(PacketEvent::Kind::kInterrupt);
        }
        // Anything else between packets is line noise.
        break;
      case State::kPayload:
        if (c == '#') {
          state_ = State::kChecksum1;
          break;
        }
        sum_ += c;
        if (c == '}') {
          state_ = State::kEscape;
        } else {
          // '*' (run-length) is never sent by gdb; taken literally it is harmless.
          append(static_cast<char>(c));
        }
        break;
      case State::kEscape:
        sum_ += c;
        state_ = State::kPayload;
        append(static_cast<char>(c ^ 0x20));
        break;
      case State::kChecksum1:
      case State::kChecksum2: {
        int v = HexValue(c);
        if (v < 0) checksum_ok_ = false;
        received_ = static_cast<uint8_t>((received_ << 4) | (v & 0xf));
        if (state_ == State::kChecksum1) {
          state_ = State::kChecksum2;
          break;
        }
        state_ = State::kIdle;
        if (checksum_ok_ && received_ == sum_) {
          emit(PacketEvent::Kind::kPacket, std::move(payload_));
        } else {
          emit(PacketEvent::Kind::kBadChecksum);
        }
        payload_.clear();
        break;
      }
      case State::kSkip:
        if (c == '#') {
          state_ = State::kSkipChecksum;
          skip_digits_ = 2;
        }
        break;
      case State::kSkipChecksum:
        if (--skip_digits_ == 0) state_ = State::kIdle;
        break;
    }
  }
}

std::string EncodePacket(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  out.push_back('$');
  uint8_t sum = 0;
  auto put = [&](char c) {
    out.push_back(c);
    sum += static_cast<uint8_t>(c);
  };
  for (char c : payload) {
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      put('}');
      put(static_cast<char>(c ^ 0x20));
    } else {
      put(c);
    }
  }
  out.push_back('#');
  out.push_back(kHexDigits[sum >> 4]);
  out.push_back(kHexDigits[sum & 0xf]);
  return out;
}

std::string XferChunk(std::string_view object, uint64_t offset, uint64_t length) {
  if (offset >= object.size()) return "l";
  std::string_view rest = object.substr(offset);
  if (rest.size() <= length) return "l" + std::string(rest);
  return "m" + std::string(rest.substr(0, length));
}

std::string ToHex(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  return ToHex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::optional<std::vector<uint8_t>> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<uint64_t> ParseHexU64(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : hex) {
    int d = HexValue(c);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

std::string ToHexLe(uint64_t value, size_t size) {
  uint8_t bytes[8];
  size = std::clamp<size_t>(size, 1, 8);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  return ToHex(std::span<const uint8_t>(bytes, size));
}

std::optional<uint64_t> FromHexLe(std::string_view hex, size_t size) {
  if (size < 1 || size > 8 || hex.size() != 2 * size) return std::nullopt;
  auto bytes = FromHex(hex);
  if (!bytes) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= static_cast<uint64_t>((*bytes)[i]) << (8 * i);
  return v;
}

}  // namespace ftd::replay::debug
