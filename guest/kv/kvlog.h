/*
 * An append-only record log on a block device (portable, host-tested), with compaction into
 * the other half of the disk.  Format (all integers little endian):
 *
 *   sectors 0 and 1: superblock slots (the one with the valid CRC and the higher epoch wins)
 *     0  magic "FTDKVSB1" | 8 version u32 = 1 | 12 active region u32 (0/1) | 16 epoch u32
 *     20 region_sectors u32 | 24 reserved u32 | 28 crc32 of bytes 0..27
 *   region r = sectors [2 + r*R, 2 + (r+1)*R), R = (capacity - 2) / 2: records back to back
 *     from the region's first byte, no padding:
 *     0  magic u32 0x3152564b ("KVR1") | 4 payload length u32 (<= KVLOG_MAX_PAYLOAD)
 *     8  seq u64 (1, 2, 3, ... within an epoch) | 16 epoch u32 (= the superblock's)
 *     20 type u16 | 22 flags u16 (0) | 24 prev_crc u32 (crc of the previous record, 0 for the
 *     first) | 28 crc32 of header bytes 0..27 and the payload | 32 payload
 *
 * Open scans the active region from its start and stops at the first record that is not
 * valid (magic, length, epoch, seq, prev_crc, CRC, fits in the region): a torn or corrupt last
 * record is dropped and appending continues right after the last good record (the prev_crc
 * chain keeps any stale record beyond a rewritten tail from being taken as a successor).
 * A commit writes the sectors holding the new records (the partial first sector is rewritten
 * with the same earlier bytes) and then flushes.
 *
 * Compaction: write a snapshot (the caller's records) at the start of the other region with
 * epoch + 1, flush, then write the other superblock slot naming it active, flush.  A crash at
 * any point leaves one complete, valid log.
 */
#ifndef FTD_KVLOG_H
#define FTD_KVLOG_H

#include "ftd_port.h"

#define KVLOG_SECTOR 512u
#define KVLOG_HDR 32u
#define KVLOG_MAX_PAYLOAD 4096u
#define KVLOG_BUF (64u * 1024u) /* pending bytes before an intermediate (unflushed) write */
#define KVLOG_MIN_SECTORS 64u   /* smaller disks are refused */

#define KVLOG_OK 0
#define KVLOG_EFULL (-1)   /* does not fit in the region */
#define KVLOG_EIO (-2)     /* the device failed */
#define KVLOG_EFORMAT (-3) /* not our format / superblock corrupt */
#define KVLOG_ESMALL (-4)  /* disk too small */

struct kvlog_disk {
  void* ctx;
  uint64_t sectors;                                               /* capacity in 512-byte sectors */
  int (*read)(void* ctx, uint64_t sector, void* buf, uint32_t n); /* 0 = ok */
  int (*write)(void* ctx, uint64_t sector, const void* buf, uint32_t n); /* 0 = ok */
  int (*flush)(void* ctx);                                               /* 0 = ok */
};

/* Called for each valid record during open (and nothing else).  Return 0 to accept it, -1 to
 * treat it as corrupt (the scan stops there, as for a CRC error). */
typedef int (*kvlog_replay_fn)(void* ctx, uint16_t type, const uint8_t* payload, uint32_t len);
/* Writes the snapshot during compaction with kvlog_append; returns 0, or -1 to abort. */
struct kvlog;
typedef int (*kvlog_snapshot_fn)(void* ctx, struct kvlog* log);

struct kvlog {
  struct kvlog_disk disk;
  uint32_t region_sectors;
  uint32_t active;
  uint32_t epoch;
  uint64_t next_seq;
  uint32_t prev_crc;
  uint64_t tail;      /* bytes used in the active region (committed + pending) */
  uint64_t committed; /* durable end */
  uint64_t buf_start; /* region byte offset of buf[0]: sector aligned, <= committed */
  /* statistics */
  uint64_t records_replayed, records_appended, commits, compactions;
  int stopped_at_bad; /* open: 1 if the scan ended at an invalid record (not just zeros) */
  /* must stay the last member (the code copies the fields before it) */
  uint8_t buf[KVLOG_BUF + KVLOG_SECTOR + KVLOG_HDR + KVLOG_MAX_PAYLOAD];
};

/* Open (formatting a blank disk: all-zero superblock slots) and replay.  KVLOG_OK or an error.
 * *replayed = records accepted. */
int kvlog_open(struct kvlog* log, const struct kvlog_disk* disk, kvlog_replay_fn fn, void* ctx);
/* Append one record to the pending batch (may write full sectors out, unflushed). */
int kvlog_append(struct kvlog* log, uint16_t type, const void* payload, uint32_t len);
/* Would a record with this payload length fit? */
int kvlog_fits(const struct kvlog* log, uint32_t len);
/* Make everything appended durable: write + flush.  No-op if nothing is pending. */
int kvlog_commit(struct kvlog* log);
int kvlog_pending(const struct kvlog* log);
/* Commit, then compact into the other region.  KVLOG_EFULL if the snapshot does not fit (the
 * old log stays active and intact). */
int kvlog_compact(struct kvlog* log, kvlog_snapshot_fn fn, void* ctx);
uint64_t kvlog_region_bytes(const struct kvlog* log);

#endif
