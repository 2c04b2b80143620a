/* Append-only record log with two-region compaction.  Format: see kvlog.h. */
#include "kvlog.h"

#include "crc32.h"

#define REC_MAGIC 0x3152564bu
static const uint8_t SB_MAGIC[8] = {'F', 'T', 'D', 'K', 'V', 'S', 'B', '1'};
#define SB_SLOTS 2u

uint64_t kvlog_region_bytes(const struct kvlog* log) {
  return (uint64_t)log->region_sectors * KVLOG_SECTOR;
}

static uint64_t region_lba(const struct kvlog* log, uint32_t region, uint64_t off) {
  return SB_SLOTS + (uint64_t)region * log->region_sectors + off / KVLOG_SECTOR;
}

/* ---- superblock ---- */

static uint8_t sb_buf[KVLOG_SECTOR];

static int sb_parse(const uint8_t* s, uint32_t* active, uint32_t* epoch, uint32_t* region) {
  if (memcmp(s, SB_MAGIC, 8) != 0) return -1;
  if (ftd_rd32le(s + 28) != crc32_update(0, s, 28)) return -1;
  if (ftd_rd32le(s + 8) != 1) return -1;
  *active = ftd_rd32le(s + 12);
  *epoch = ftd_rd32le(s + 16);
  *region = ftd_rd32le(s + 20);
  if (*active > 1) return -1;
  return 0;
}

static int all_zero(const uint8_t* p, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static int sb_write(struct kvlog* log) {
  memset(sb_buf, 0, sizeof sb_buf);
  memcpy(sb_buf, SB_MAGIC, 8);
  ftd_wr32le(sb_buf + 8, 1);
  ftd_wr32le(sb_buf + 12, log->active);
  ftd_wr32le(sb_buf + 16, log->epoch);
  ftd_wr32le(sb_buf + 20, log->region_sectors);
  ftd_wr32le(sb_buf + 28, crc32_update(0, sb_buf, 28));
  if (log->disk.write(log->disk.ctx, log->epoch % SB_SLOTS, sb_buf, 1)) return KVLOG_EIO;
  if (log->disk.flush(log->disk.ctx)) return KVLOG_EIO;
  return KVLOG_OK;
}

/* ---- scanning ---- */

struct window {
  uint64_t start; /* region byte offset of buf[0] */
  uint32_t len;
};

/* Make region bytes [off, off + need) readable in log->buf; NULL past the region's end or on
 * an I/O error (*eio set). */
static const uint8_t* ensure(struct kvlog* log, struct window* w, uint64_t off, uint32_t need,
                             int* eio) {
  uint64_t rb = kvlog_region_bytes(log);
  if (off > rb || need > rb - off) return NULL;
  if (off >= w->start && off + need <= w->start + w->len) return log->buf + (off - w->start);
  uint64_t start = off / KVLOG_SECTOR * KVLOG_SECTOR;
  uint64_t len = rb - start;
  if (len > KVLOG_BUF) len = KVLOG_BUF;
  if (log->disk.read(log->disk.ctx, region_lba(log, log->active, start), log->buf,
                     (uint32_t)(len / KVLOG_SECTOR))) {
    *eio = 1;
    return NULL;
  }
  w->start = start;
  w->len = (uint32_t)len;
  return log->buf + (off - start);
}

static uint32_t record_crc(const uint8_t* hdr, const uint8_t* payload, uint32_t len) {
  return crc32_update(crc32_update(0, hdr, 28), payload, len);
}

int kvlog_open(struct kvlog* log, const struct kvlog_disk* disk, kvlog_replay_fn fn, void* ctx) {
  memset(log, 0, offsetof(struct kvlog, buf));
  log->disk = *disk;
  if (disk->sectors < KVLOG_MIN_SECTORS) return KVLOG_ESMALL;
  uint64_t region = (disk->sectors - SB_SLOTS) / 2;
  if (region > 0xffffffffu) region = 0xffffffffu;

  int have = 0, foreign = 0;
  for (uint32_t slot = 0; slot < SB_SLOTS; slot++) {
    if (disk->read(disk->ctx, slot, sb_buf, 1)) return KVLOG_EIO;
    uint32_t a, e, r;
    if (sb_parse(sb_buf, &a, &e, &r) == 0) {
      if (!have || e > log->epoch) {
        log->active = a;
        log->epoch = e;
        log->region_sectors = r;
      }
      have = 1;
    } else if (!all_zero(sb_buf, KVLOG_SECTOR)) {
      foreign = 1;
    }
  }
  if (!have) {
    if (foreign) return KVLOG_EFORMAT;
    log->active = 0;
    log->epoch = 1;
    log->region_sectors = (uint32_t)region;
    int rc = sb_write(log);
    if (rc) return rc;
  }
  if (log->region_sectors == 0 || SB_SLOTS + 2ull * log->region_sectors > disk->sectors)
    return KVLOG_EFORMAT;

  struct window w = {0, 0};
  int eio = 0;
  uint64_t off = 0;
  log->next_seq = 1;
  log->prev_crc = 0;
  for (;;) {
    const uint8_t* h = ensure(log, &w, off, KVLOG_HDR, &eio);
    if (!h) break;
    uint32_t magic = ftd_rd32le(h), len = ftd_rd32le(h + 4);
    if (magic != REC_MAGIC) {
      log->stopped_at_bad = !all_zero(h, KVLOG_HDR);
      break;
    }
    if (len > KVLOG_MAX_PAYLOAD || ftd_rd64le(h + 8) != log->next_seq ||
        ftd_rd32le(h + 16) != log->epoch || ftd_rd16le(h + 22) != 0 ||
        ftd_rd32le(h + 24) != log->prev_crc) {
      log->stopped_at_bad = 1;
      break;
    }
    h = ensure(log, &w, off, KVLOG_HDR + len, &eio);
    if (!h) {
      log->stopped_at_bad = !eio;
      break;
    }
    uint32_t crc = record_crc(h, h + KVLOG_HDR, len);
    if (crc != ftd_rd32le(h + 28) || fn(ctx, ftd_rd16le(h + 20), h + KVLOG_HDR, len) != 0) {
      log->stopped_at_bad = 1;
      break;
    }
    log->records_replayed++;
    log->next_seq++;
    log->prev_crc = crc;
    off += KVLOG_HDR + len;
  }
  if (eio) return KVLOG_EIO;
  log->tail = log->committed = off;
  log->buf_start = off / KVLOG_SECTOR * KVLOG_SECTOR;
  uint32_t part = (uint32_t)(off - log->buf_start);
  if (part) {
    const uint8_t* p = ensure(log, &w, log->buf_start, part, &eio);
    if (!p) return KVLOG_EIO;
    memmove(log->buf, p, part);
  }
  return KVLOG_OK;
}

/* ---- appending ---- */

int kvlog_fits(const struct kvlog* log, uint32_t len) {
  return len <= KVLOG_MAX_PAYLOAD && log->tail + KVLOG_HDR + len <= kvlog_region_bytes(log);
}

int kvlog_pending(const struct kvlog* log) { return log->tail != log->committed; }

/* Write buf's sectors [buf_start, upto) where upto is tail rounded up (zero-filled). */
static int write_out(struct kvlog* log, int all) {
  uint32_t used = (uint32_t)(log->tail - log->buf_start);
  uint32_t n = all ? (used + KVLOG_SECTOR - 1) / KVLOG_SECTOR : used / KVLOG_SECTOR;
  if (!n) return KVLOG_OK;
  if (all && used % KVLOG_SECTOR) memset(log->buf + used, 0, KVLOG_SECTOR - used % KVLOG_SECTOR);
  if (log->disk.write(log->disk.ctx, region_lba(log, log->active, log->buf_start), log->buf, n))
    return KVLOG_EIO;
  /* keep the partial last sector at the front */
  uint64_t keep_from = log->tail / KVLOG_SECTOR * KVLOG_SECTOR;
  if (keep_from > log->buf_start) {
    memmove(log->buf, log->buf + (keep_from - log->buf_start), (size_t)(log->tail - keep_from));
    log->buf_start = keep_from;
  }
  return KVLOG_OK;
}

int kvlog_append(struct kvlog* log, uint16_t type, const void* payload, uint32_t len) {
  if (!kvlog_fits(log, len)) return KVLOG_EFULL;
  uint8_t* h = log->buf + (log->tail - log->buf_start);
  ftd_wr32le(h, REC_MAGIC);
  ftd_wr32le(h + 4, len);
  ftd_wr64le(h + 8, log->next_seq);
  ftd_wr32le(h + 16, log->epoch);
  ftd_wr16le(h + 20, type);
  ftd_wr16le(h + 22, 0);
  ftd_wr32le(h + 24, log->prev_crc);
  memcpy(h + KVLOG_HDR, payload, len);
  uint32_t crc = record_crc(h, h + KVLOG_HDR, len);
  ftd_wr32le(h + 28, crc);
  log->prev_crc = crc;
  log->next_seq++;
  log->tail += KVLOG_HDR + len;
  log->records_appended++;
  if (log->tail - log->buf_start >= KVLOG_BUF) return write_out(log, 0);
  return KVLOG_OK;
}

int kvlog_commit(struct kvlog* log) {
  if (log->tail == log->committed) return KVLOG_OK;
  int rc = write_out(log, 1);
  if (rc) return rc;
  if (log->disk.flush(log->disk.ctx)) return KVLOG_EIO;
  log->committed = log->tail;
  log->commits++;
  return KVLOG_OK;
}

int kvlog_compact(struct kvlog* log, kvlog_snapshot_fn fn, void* ctx) {
  int rc = kvlog_commit(log);
  if (rc) return rc;
  static struct kvlog saved; /* static: the struct is too large for the stack */
  static uint8_t part[KVLOG_SECTOR];
  memcpy(&saved, log, offsetof(struct kvlog, buf));
  memcpy(part, log->buf, sizeof part);

  log->active ^= 1;
  log->epoch++;
  log->next_seq = 1;
  log->prev_crc = 0;
  log->tail = log->committed = log->buf_start = 0;
  rc = fn(ctx, log);
  if (rc == 0) rc = kvlog_commit(log);
  if (rc == 0) rc = sb_write(log);
  if (rc != 0) {
    int full = rc == KVLOG_EFULL || rc == -1;
    memcpy(log, &saved, offsetof(struct kvlog, buf));
    memcpy(log->buf, part, sizeof part);
    return full ? KVLOG_EFULL : KVLOG_EIO;
  }
  log->compactions++;
  return KVLOG_OK;
}
