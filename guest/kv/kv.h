/*
 * The kv service core (portable, host-tested): the key-value table, the per-client
 * de-duplication table, the text protocol and the log records.  See guest/README.md for the
 * protocol.  The caller (programs/kv.c) feeds datagrams to kv_handle(), calls kv_commit()
 * once per batch and only then sends the replies.
 */
#ifndef FTD_KV_H
#define FTD_KV_H

#include "ftd_port.h"
#include "kvlog.h"

#define KV_MAX_KEYS 1024
#define KV_MAX_CLIENTS 256
#define KV_KEY_MAX 64
#define KV_VALUE_MAX 200
#define KV_REQUEST_MAX 512
#define KV_STATUS_MAX 216 /* "OK <value>" / "NOTFOUND" / "ERR <reason>" */
#define KV_REPLY_MAX (10 + 1 + 20 + 1 + KV_STATUS_MAX + 1)
#define KV_BUCKETS 2048

/* log record types */
#define KV_REC_PUT 1    /* key := value (+ client's last request and reply if client != 0) */
#define KV_REC_DEL 2    /* delete key (+ client's last request and reply) */
#define KV_REC_CLIENT 3 /* snapshot: a client's last request and reply */

struct kv_entry {
  int16_t next; /* hash chain / free list, -1 = end */
  uint8_t klen, vlen;
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

#endif
