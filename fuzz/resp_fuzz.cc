// The guest kit's Redis protocol layer (guest/kv/resp.c) on a live store with a log on an
// in-memory disk: the input is a script of byte chunks (raw, or assembled from RESP fragments
// and command words) fed to four connections as a TCP stream would deliver them, with clock
// jumps, small output buffers, commits and restarts.  Checked after every step: resp_process's
// results are in range, the replies are well-formed RESP, no reply bound was wrong, the table's
// counters are consistent, and a restart after a commit recovers exactly the same table.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"

extern "C" {
#include "kv.h"
#include "kvlog.h"
#include "resp.h"
}

namespace {

constexpr uint64_t kSectors = 512;  // 2 x 255-sector regions: compactions and disk-full happen

std::vector<uint8_t> disk(kSectors * 512);

int Read(void*, uint64_t s, void* b, uint32_t n) {
  if ((s + n) * 512 > disk.size()) return 1;
  memcpy(b, disk.data() + s * 512, n * 512ul);
  return 0;
}
int Write(void*, uint64_t s, const void* b, uint32_t n) {
  if ((s + n) * 512 > disk.size()) return 1;
  memcpy(disk.data() + s * 512, b, n * 512ul);
  return 0;
}
int Flush(void*) { return 0; }

kvlog_disk Disk() { return kvlog_disk{nullptr, kSectors, Read, Write, Flush}; }

// One RESP2 reply at p[*pos..n): advances *pos; false if malformed (a truncated reply is
// malformed too: resp_process only emits whole replies).
bool Reply(const uint8_t* p, size_t n, size_t* pos, int depth) {
  if (*pos >= n || depth > 4) return false;
  uint8_t t = p[*pos];
  size_t e = *pos + 1;
  while (e + 1 < n && !(p[e] == '\r' && p[e + 1] == '\n')) e++;
  if (e + 1 >= n) return false;
  std::string line(reinterpret_cast<const char*>(p + *pos + 1), e - *pos - 1);
  *pos = e + 2;
  switch (t) {
    case '+':
    case '-':
      return line.find_first_of("\r\n") == std::string::npos;
    case ':':
      return !line.empty() && line.find_first_not_of("-0123456789") == std::string::npos;
    case '$': {
      if (line == "-1") return true;
      if (line.empty() || line.size() > 6 || line.find_first_not_of("0123456789") != std::string::npos)
        return false;
      size_t len = std::stoul(line);
      if (*pos + len + 2 > n || p[*pos + len] != '\r' || p[*pos + len + 1] != '\n') return false;
      *pos += len + 2;
      return true;
    }
    case '*': {
      if (line.empty() || line.size() > 6 || line.find_first_not_of("0123456789") != std::string::npos)
        return false;
      size_t cnt = std::stoul(line);
      for (size_t i = 0; i < cnt; i++)
        if (!Reply(p, n, pos, depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

const char* const kTokens[] = {
    "*1\r\n", "*2\r\n", "*3\r\n", "*4\r\n", "*5\r\n", "$1\r\n", "$2\r\n", "$3\r\n", "$4\r\n",
    "$0\r\n", "\r\n", "SET", "GET", "INCR", "INCRBY", "DECRBY", "DEL", "EXISTS", "MGET", "MSET",
    "APPEND", "STRLEN", "DBSIZE", "FLUSHDB", "INFO", "PING", "ECHO", "QUIT", "CONFIG", "COMMAND",
    "EX", "PX", "NX", "XX", "GET", "KEEPTTL", "k", "k2", "1", "-1", "0", "100", " ", "\"", "'",
    "\\x41", "9223372036854775807", "$-1\r\n", "*-1\r\n", "$600\r\n", "*300\r\n",
};

struct Conn {
  resp_conn c;
  std::string pending;
};

void Compare(const kv& a, const kv& b) {
  if (a.nkeys != b.nkeys || a.nexpires != b.nexpires) std::abort();
  for (int bk = 0; bk < KV_BUCKETS; bk++)
    for (int i = a.buckets[bk]; i >= 0; i = a.entries[i].next) {
      const kv_entry& e = a.entries[i];
      uint32_t vn = 0;
      if (!kv_x_peek(&b, reinterpret_cast<const uint8_t*>(e.key), e.klen, &vn) || vn != e.vlen)
        std::abort();
      uint32_t n2 = 0;
      const char* v = kv_get(const_cast<kv*>(&b), e.key, e.klen, &n2);
      if (!v || memcmp(v, e.val, e.vlen) != 0) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto store = std::make_unique<kv>();
  static auto log = std::make_unique<kvlog>();
  static auto probe = std::make_unique<kv>();
  static auto probe_log = std::make_unique<kvlog>();
  std::fill(disk.begin(), disk.end(), 0);
  memset(&resp_stats, 0, sizeof resp_stats);
  kv_init(store.get());
  kvlog_disk d = Disk();
  if (kv_attach_log(store.get(), log.get(), &d) != KVLOG_OK) std::abort();

  ftd::fuzz::Input in(data, size);
  Conn conns[4];
  for (Conn& c : conns) resp_conn_init(&c.c);
  uint64_t now = in.Take<uint16_t>();
  std::vector<uint8_t> out(3 * RESP_REPLY_MAX);
  for (int step = 0; step < 400 && !in.empty(); step++) {
    uint8_t op = in.Take<uint8_t>();
    Conn& c = conns[op & 3];
    switch ((op >> 2) % 6) {
      case 0:  // raw bytes
        for (auto b : in.TakeBytes(in.Take<uint8_t>())) c.pending.push_back(static_cast<char>(b));
        break;
      case 1:  // fragments
        for (int k = in.Take<uint8_t>() % 16; k > 0; k--)
          c.pending += kTokens[in.Take<uint8_t>() % (sizeof kTokens / sizeof kTokens[0])];
        break;
      case 2:  // a long run (values near the limits, huge requests)
        c.pending.append(in.Take<uint16_t>() % (RESP_REQUEST_MAX + 100), 'v');
        break;
      case 3:
        now += in.Take<uint16_t>();
        break;
      case 4:
        if (kv_commit(store.get()) != KVLOG_OK) std::abort();
        break;
      case 5: {  // restart: what was committed comes back exactly
        if (kv_commit(store.get()) != KVLOG_OK) std::abort();
        kv_init(probe.get());
        if (kv_attach_log(probe.get(), probe_log.get(), &d) != KVLOG_OK) std::abort();
        Compare(*store, *probe);
        Compare(*probe, *store);
        break;
      }
    }
    // deliver: as much as a receive buffer holds, into an output buffer of varying room
    if (c.c.close) {
      resp_conn_init(&c.c);  // the peer reconnects
      c.pending.clear();
      continue;
    }
    uint32_t len = static_cast<uint32_t>(std::min<size_t>(c.pending.size(), RESP_REQUEST_MAX));
    uint32_t cap = RESP_REPLY_MAX + (in.Take<uint8_t>() % 3) * RESP_REPLY_MAX / 2;
    uint32_t n = 0;
    int used = resp_process(store.get(), &c.c, reinterpret_cast<const uint8_t*>(c.pending.data()),
                            len, now, out.data(), cap, &n);
    if (used < 0 || static_cast<uint32_t>(used) > len || n > cap) std::abort();
    if (len == RESP_REQUEST_MAX && used == 0) std::abort();  // a full buffer always moves
    size_t pos = 0;
    while (pos < n)
      if (!Reply(out.data(), n, &pos, 0)) std::abort();
    c.pending.erase(0, static_cast<size_t>(used));
    if (resp_stats.reply_overflows) std::abort();
    const kv& s = *store;
    if (s.nkeys > KV_MAX_KEYS || s.nexpires > s.nkeys) std::abort();
  }
  return 0;
}
