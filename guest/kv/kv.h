/*
 * The kv service core (portable, host-tested): the key-value table, the per-client
 * de-duplication table, the text protocol and the log records.  See guest/README.md for the
 * protocol.  The caller (programs/kv.c) feeds datagrams to kv_handle(), calls kv_commit()
 * once per batch and only then sends the replies.
 *
 * The same store also has a binary-safe API with expiry (kv_x_*, below) for the Redis
 * protocol front end (resp.c).  Both protocols share the table and the log.
 */
#ifndef FTD_KV_H
#define FTD_KV_H

#include "ftd_port.h"
#include "kvlog.h"

#define KV_MAX_KEYS 1024
#define KV_MAX_CLIENTS 256
#define KV_KEY_MAX 64       /* bytes; binary-safe through kv_x_*, [A-Za-z0-9_.:-] over UDP */
#define KV_VALUE_MAX 512    /* bytes; binary-safe through kv_x_* */
#define KV_UDP_VALUE_MAX 200 /* the UDP protocol's values: 1..200 bytes of 0x21..0x7e */
#define KV_REQUEST_MAX 512
#define KV_STATUS_MAX 216 /* "OK <value>" / "NOTFOUND" / "ERR <reason>" */
#define KV_REPLY_MAX (10 + 1 + 20 + 1 + KV_STATUS_MAX + 1)
#define KV_BUCKETS 2048

/* log record types */
#define KV_REC_PUT 1    /* key := value (+ client's last request and reply if client != 0) */
#define KV_REC_DEL 2    /* delete key (+ client's last request and reply) */
#define KV_REC_CLIENT 3 /* snapshot: a client's last request and reply */
/* binary-safe records (kv_x_*); every one starts with the store time of the mutation, u64 */
#define KV_REC_PUTX 4  /* now u64 | expire_at u64 (0: none) | klen u16 | vlen u16 | key | value */
#define KV_REC_DELX 5  /* now u64 | klen u16 | key */
#define KV_REC_FLUSH 6 /* now u64: delete every key */
#define KV_REC_TIME 7  /* now u64: the store clock (first record of a snapshot) */
#define KV_PUTX_MAX (20 + KV_KEY_MAX + KV_VALUE_MAX) /* the largest payload of the above */

struct kv_entry {
  int16_t next; /* hash chain / free list, -1 = end */
  uint8_t klen;
  uint16_t vlen;
  uint64_t expire_at; /* store ms; 0: no expiry.  Expired once the store clock passes it */
  char key[KV_KEY_MAX];
  char val[KV_VALUE_MAX];
};

struct kv_client {
  uint32_t id; /* 0: free */
  uint64_t reqno;
  uint64_t seen; /* LRU stamp */
  uint16_t slen;
  char status[KV_STATUS_MAX];
};

struct kv_stats {
  uint64_t requests, dropped, errors, retries, stale, mutations, disk_full, evictions;
  uint64_t expired; /* keys deleted because their expiry passed (kv_x_*) */
};

struct kv {
  struct kv_entry entries[KV_MAX_KEYS];
  int16_t buckets[KV_BUCKETS];
  int16_t free_head;
  uint32_t nkeys;
  struct kv_client clients[KV_MAX_CLIENTS];
  uint32_t nclients;
  uint64_t clock;
  struct kvlog* log; /* NULL: volatile (disk=none) */
  int fatal;         /* a log write failed: stop serving */
  struct kv_stats stats;
  /* The store clock (ms) for expiry: it counts only time the service ran.  Each binary-safe
   * record carries it; a restart resumes from the largest logged value (time_logged). */
  uint64_t now;         /* current store time */
  uint64_t time_logged; /* largest store time in the log (replayed or appended) */
  uint64_t time_off;    /* guest ms at the anchor (the first kv_x_clock() after start) */
  uint64_t time_base;   /* store time at the anchor: store = base + (guest ms - off) */
  int time_set;         /* anchored */
  uint32_t nexpires;    /* keys with an expiry (expired or not yet) */
};

void kv_init(struct kv* kv);
/* Open the log on disk and rebuild the state from it (KVLOG_* result). */
int kv_attach_log(struct kv* kv, struct kvlog* log, const struct kvlog_disk* disk);
/* Handle one request datagram; writes the reply (with '\n') to out.  Returns the reply
 * length, 0 if the datagram is dropped (ids do not parse), -1 on a fatal log error.  A
 * mutation's record is appended to the log but not yet durable: kv_commit() before sending. */
int kv_handle(struct kv* kv, const uint8_t* req, uint32_t len, char* out, uint32_t cap);
/* Make the batch durable (write + flush).  0 or a KVLOG_* error. */
int kv_commit(struct kv* kv);

/* Read access (tests, statistics). */
const char* kv_get(struct kv* kv, const char* key, uint32_t klen, uint32_t* vlen);
const struct kv_client* kv_client_find(const struct kv* kv, uint32_t id);

/* ---- the binary-safe API (resp.c) ----
 * Keys are 0..KV_KEY_MAX bytes, values 0..KV_VALUE_MAX bytes, any byte values.  Mutations
 * append their record (compacting when the region is full) and change the table; like
 * kv_handle() they are durable only after kv_commit().  An expired key is absent: whoever
 * finds it first deletes it and logs a DELX, so no acknowledged absence comes back after a
 * restart.  Results: >= 0 as described, or one of: */
#define KV_X_EKEYS (-20)     /* the table is full (KV_MAX_KEYS) */
#define KV_X_ETOOBIG (-21)   /* key or value too long */
#define KV_X_EDISKFULL (-22) /* the record does not fit even after a compaction */
#define KV_X_EFATAL (-23)    /* the log failed: kv->fatal is set, stop serving */

/* Advance the store clock from the guest's monotonic ms (never goes back).  The first call
 * after kv_init/kv_attach_log anchors it so that it continues from the logged time. */
void kv_x_clock(struct kv* kv, uint64_t guest_ms);
/* 1 and *v, *vlen, *expire_at (0: none) if the key is present and not expired; 0 if absent
 * (an expired key is deleted and logged here); < 0 on error. */
int kv_x_get(struct kv* kv, const uint8_t* k, uint32_t kn, const uint8_t** v, uint32_t* vlen,
             uint64_t* expire_at);
/* Like kv_x_get but never mutates (no expiry deletion): for reply-size estimates. */
int kv_x_peek(const struct kv* kv, const uint8_t* k, uint32_t kn, uint32_t* vlen);
/* key := value with expire_at (store ms, 0: none).  0 or < 0. */
int kv_x_set(struct kv* kv, const uint8_t* k, uint32_t kn, const uint8_t* v, uint32_t vn,
             uint64_t expire_at);
/* 1 deleted, 0 absent (or expired), < 0 on error. */
int kv_x_del(struct kv* kv, const uint8_t* k, uint32_t kn);
/* Delete every key.  0 or < 0. */
int kv_x_flush(struct kv* kv);
/* Delete (and log) every expired key.  0 or < 0. */
int kv_x_sweep(struct kv* kv);
/* Make room for nrec records of payload_bytes in all, compacting if needed, so that the next
 * nrec mutations cannot fail for lack of disk (all-or-nothing multi-key commands).  0 or
 * KV_X_EDISKFULL / KV_X_EFATAL. */
int kv_x_reserve(struct kv* kv, uint32_t nrec, uint32_t payload_bytes);
/* Number of free table slots. */
uint32_t kv_x_free_slots(const struct kv* kv);
/* Decimal formatting (no NUL): returns the length (<= 20). */
uint32_t kv_fmt_u64(char* p, uint64_t v);
uint32_t kv_fmt_i64(char* p, int64_t v);

#endif
