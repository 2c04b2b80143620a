#include "tools/ftkv/protocol.h"

#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace ftd::ftkv {
namespace {

std::string_view StripNewline(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// Prints a datagram safely inside an error message.
std::string Quote(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  if (s.size() > 120) out += "...";
  return "\"" + out + "\"";
}

absl::Status Bad(std::string_view what, std::string_view datagram) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", what, Quote(datagram)));
}

// Client id and request-no, the first two fields of both directions.
absl::Status ParseIds(const std::vector<std::string_view>& f, std::string_view d, uint32_t* client,
                      uint64_t* seq) {
  auto c = ParseDecimalU64(f[0]);
  if (!c || *c == 0 || *c > UINT32_MAX) return Bad("bad client-id (want 1..4294967295)", d);
  auto s = ParseDecimalU64(f[1]);
  if (!s) return Bad("bad request-no (want a decimal u64)", d);
  *client = static_cast<uint32_t>(*c);
  *seq = *s;
  return absl::OkStatus();
}

}  // namespace

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kSet:
      return "SET";
    case Op::kGet:
      return "GET";
    case Op::kIncr:
      return "INCR";
    case Op::kDel:
      return "DEL";
  }
  return "?";
}

std::optional<Op> ParseOpName(std::string_view s) {
  if (s == "SET") return Op::kSet;
  if (s == "GET") return Op::kGet;
  if (s == "INCR") return Op::kIncr;
  if (s == "DEL") return Op::kDel;
  return std::nullopt;
}

std::string_view StatusName(Status s) {
  switch (s) {
    case Status::kOk:
      return "OK";
    case Status::kNotFound:
      return "NOTFOUND";
    case Status::kErr:
      return "ERR";
  }
  return "?";
}

bool ValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKey) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidValue(std::string_view value) {
  if (value.empty() || value.size() > kMaxValue) return false;
  for (char c : value) {
    if (c <= 0x20 || c >= 0x7f) return false;  // printable, non-space ASCII
  }
  return true;
}

std::vector<std::string_view> SplitFields(std::string_view s, char sep, size_t max_fields) {
  std::vector<std::string_view> out;
  if (max_fields == 0) return out;
  // Bounded: each pass consumes at least one byte or ends.
  while (out.size() + 1 < max_fields) {
    size_t at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

std::optional<uint64_t> ParseDecimalU64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string FormatRequest(const Request& r) {
  if (r.op == Op::kSet) return fmt::format("{} {} SET {} {}", r.client, r.seq, r.key, r.value);
  return fmt::format("{} {} {} {}", r.client, r.seq, OpName(r.op), r.key);
}

absl::StatusOr<Request> ParseRequest(std::string_view datagram) {
  std::string_view d = StripNewline(datagram);
  std::vector<std::string_view> f = SplitFields(d, ' ');
  if (f.size() < 4) return Bad("too few fields in request", datagram);
  Request r;
  if (auto s = ParseIds(f, datagram, &r.client, &r.seq); !s.ok()) return s;
  auto op = ParseOpName(f[2]);
  if (!op) return Bad("unknown operation (want SET, GET, INCR or DEL)", datagram);
  r.op = *op;
  if (!ValidKey(f[3])) return Bad("bad key (1..64 of [A-Za-z0-9_.:-])", datagram);
  r.key = std::string(f[3]);
  size_t want = r.op == Op::kSet ? 5 : 4;
  if (f.size() != want) return Bad(fmt::format("{} wants {} fields", OpName(r.op), want), datagram);
  if (r.op == Op::kSet) {
    if (!ValidValue(f[4])) return Bad("bad value (1..200 printable non-space bytes)", datagram);
    r.value = std::string(f[4]);
  }
  return r;
}

std::string FormatReply(const Reply& r) {
  std::string out = fmt::format("{} {} {}", r.client, r.seq, StatusName(r.status));
  if (r.status != Status::kNotFound && !r.value.empty()) out += " " + r.value;
  return out;
}

absl::StatusOr<Reply> ParseReply(std::string_view datagram) {
  std::string_view d = StripNewline(datagram);
  std::vector<std::string_view> f = SplitFields(d, ' ', 4);
  if (f.size() < 3) return Bad("too few fields in reply", datagram);
  Reply r;
  if (auto s = ParseIds(f, datagram, &r.client, &r.seq); !s.ok()) return s;
  if (f[2] == "OK") {
    r.status = Status::kOk;
    if (f.size() == 4) {
      if (!ValidValue(f[3])) return Bad("bad value in OK reply", datagram);
      r.value = std::string(f[3]);
    }
  } else if (f[2] == "NOTFOUND") {
    r.status = Status::kNotFound;
    if (f.size() != 3) return Bad("NOTFOUND reply with extra fields", datagram);
  } else if (f[2] == "ERR") {
    r.status = Status::kErr;
    if (f.size() != 4 || f[3].empty()) return Bad("ERR reply without a reason", datagram);
    for (char c : f[3]) {
      if (c < 0x20 || c >= 0x7f) return Bad("unprintable ERR reason", datagram);
    }
    r.value = std::string(f[3]);
  } else {
    return Bad("unknown reply status (want OK, NOTFOUND or ERR)", datagram);
  }
  return r;
}

std::string ReplyShapeProblem(Op op, const Reply& reply) {
  if (reply.status == Status::kErr) return "";
  switch (op) {
    case Op::kSet:
      if (reply.status != Status::kOk) return "SET answered NOTFOUND";
      if (!reply.value.empty()) return "SET answered OK with a value";
      return "";
    case Op::kGet:
      if (reply.status == Status::kOk && reply.value.empty())
        return "GET answered OK without a value";
      return "";
    case Op::kIncr:
      if (reply.status != Status::kOk) return "INCR answered NOTFOUND";
      if (!ParseDecimalU64(reply.value)) return "INCR answered OK without a decimal value";
      return "";
    case Op::kDel:
      if (reply.status == Status::kOk && !reply.value.empty())
        return "DEL answered OK with a value";
      return "";
  }
  return "";
}

std::string ReplyText(const Reply& r) {
  std::string out(StatusName(r.status));
  if (r.status != Status::kNotFound && !r.value.empty()) out += " " + r.value;
  return out;
}

}  // namespace ftd::ftkv
