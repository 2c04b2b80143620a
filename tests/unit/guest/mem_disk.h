// An in-memory block device for the kv log tests, with failure injection.
#pragma once
#include <cstdint>
#include <vector>

#include "guest_c.h"

struct MemDisk {
  std::vector<uint8_t> data;
  int writes = 0, flushes = 0, reads = 0;
  int fail_writes_after = -1;  // >= 0: that many more writes succeed, then EIO
  explicit MemDisk(uint64_t sectors) : data(sectors * 512, 0) {}
  kvlog_disk Disk() {
    kvlog_disk d;
    d.ctx = this;
    d.sectors = data.size() / 512;
    d.read = [](void* c, uint64_t s, void* b, uint32_t n) -> int {
      auto* m = static_cast<MemDisk*>(c);
      if ((s + n) * 512 > m->data.size()) return 1;
      memcpy(b, m->data.data() + s * 512, n * 512);
      m->reads++;
      return 0;
    };
    d.write = [](void* c, uint64_t s, const void* b, uint32_t n) -> int {
      auto* m = static_cast<MemDisk*>(c);
      if ((s + n) * 512 > m->data.size()) return 1;
      if (m->fail_writes_after == 0) return 1;
      if (m->fail_writes_after > 0) m->fail_writes_after--;
      memcpy(m->data.data() + s * 512, b, n * 512);
      m->writes++;
      return 0;
    };
    d.flush = [](void* c) -> int {
      static_cast<MemDisk*>(c)->flushes++;
      return 0;
    };
    return d;
  }
};
