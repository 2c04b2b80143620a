/* kv service core: table, clients, protocol, log records.  See kv.h and guest/README.md. */
#include "kv.h"

/* ---- the table ---- */

static uint32_t hash_key(const char* k, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ (uint8_t)k[i]) * 16777619u;
  return h;
}

static void table_clear(struct kv* kv) {
  for (int i = 0; i < KV_BUCKETS; i++) kv->buckets[i] = -1;
  for (int i = 0; i < KV_MAX_KEYS; i++)
    kv->entries[i].next = (int16_t)(i + 1 < KV_MAX_KEYS ? i + 1 : -1);
  kv->free_head = 0;
  kv->nkeys = 0;
  kv->nexpires = 0;
}

void kv_init(struct kv* kv) {
  memset(kv, 0, sizeof *kv);
  table_clear(kv);
}

static int expired(const struct kv* kv, const struct kv_entry* e) {
  return e->expire_at && kv->now > e->expire_at;
}

static int find(const struct kv* kv, const char* k, uint32_t n) {
  for (int i = kv->buckets[hash_key(k, n) % KV_BUCKETS]; i >= 0; i = kv->entries[i].next)
    if (kv->entries[i].klen == n && memcmp(kv->entries[i].key, k, n) == 0) return i;
  return -1;
}

const char* kv_get(struct kv* kv, const char* key, uint32_t klen, uint32_t* vlen) {
  int i = find(kv, key, klen);
  if (i < 0) return NULL;
  *vlen = kv->entries[i].vlen;
  return kv->entries[i].val;
}

/* Like find, but an expired key is absent (the UDP protocol: it does not delete it). */
static int find_live(const struct kv* kv, const char* k, uint32_t n) {
  int i = find(kv, k, n);
  return i >= 0 && expired(kv, &kv->entries[i]) ? -1 : i;
}

/* 0, or -1 when the table is full.  kn <= KV_KEY_MAX, vn <= KV_VALUE_MAX (checked by callers). */
static int put(struct kv* kv, const char* k, uint32_t kn, const char* v, uint32_t vn,
               uint64_t expire_at) {
  int i = find(kv, k, kn);
  if (i < 0) {
    if (kv->free_head < 0) return -1;
    i = kv->free_head;
    struct kv_entry* e = &kv->entries[i];
    kv->free_head = e->next;
    uint32_t b = hash_key(k, kn) % KV_BUCKETS;
    e->next = kv->buckets[b];
    kv->buckets[b] = (int16_t)i;
    e->klen = (uint8_t)kn;
    e->expire_at = 0;
    memcpy(e->key, k, kn);
    kv->nkeys++;
  }
  struct kv_entry* e = &kv->entries[i];
  kv->nexpires += (expire_at != 0) - (e->expire_at != 0);
  e->expire_at = expire_at;
  e->vlen = (uint16_t)vn;
  memmove(e->val, v, vn);
  return 0;
}

static int del(struct kv* kv, const char* k, uint32_t kn) {
  uint32_t b = hash_key(k, kn) % KV_BUCKETS;
  int16_t* link = &kv->buckets[b];
  while (*link >= 0) {
    struct kv_entry* e = &kv->entries[*link];
    if (e->klen == kn && memcmp(e->key, k, kn) == 0) {
      int16_t i = *link;
      *link = e->next;
      e->next = kv->free_head;
      kv->free_head = i;
      kv->nkeys--;
      if (e->expire_at) kv->nexpires--;
      e->expire_at = 0;
      return 0;
    }
    link = &e->next;
  }
  return -1;
}

/* ---- clients ---- */

const struct kv_client* kv_client_find(const struct kv* kv, uint32_t id) {
  for (int i = 0; i < KV_MAX_CLIENTS; i++)
    if (kv->clients[i].id == id && id) return &kv->clients[i];
  return NULL;
}

static struct kv_client* client_find(struct kv* kv, uint32_t id) {
  return (struct kv_client*)kv_client_find(kv, id);
}

/* Record (id, reqno, status) as the client's last request, adding (evicting the least
 * recently seen client when the table is full) if needed. */
static void client_set(struct kv* kv, uint32_t id, uint64_t reqno, const char* st, uint32_t sn) {
  struct kv_client* c = client_find(kv, id);
  if (!c) {
    c = &kv->clients[0];
    for (int i = 0; i < KV_MAX_CLIENTS; i++) {
      if (!kv->clients[i].id) {
        c = &kv->clients[i];
        break;
      }
      if (kv->clients[i].seen < c->seen) c = &kv->clients[i];
    }
    if (c->id)
      kv->stats.evictions++;
    else
      kv->nclients++;
    c->id = id;
  }
  c->reqno = reqno;
  c->seen = ++kv->clock;
  if (sn > KV_STATUS_MAX) sn = KV_STATUS_MAX;
  c->slen = (uint16_t)sn;
  memcpy(c->status, st, sn);
}

/* ---- validation ---- */

static int key_ok(const char* k, uint32_t n) {
  if (n < 1 || n > KV_KEY_MAX) return 0;
  for (uint32_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

static int value_ok(const char* v, uint32_t n) {
  if (n < 1 || n > KV_UDP_VALUE_MAX) return 0;
  for (uint32_t i = 0; i < n; i++)
    if ((uint8_t)v[i] < 0x21 || (uint8_t)v[i] > 0x7e) return 0;
  return 1;
}

/* Decimal u64 of exactly n digits-only bytes (no sign); 0 if malformed or overflowing. */
static int parse_u64(const char* s, uint32_t n, uint64_t* out) {
  if (n == 0 || n > 20) return 0;
  uint64_t v = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

/* Signed 64-bit decimal: optional '-', 1..19 digits. */
static int parse_i64(const char* s, uint32_t n, int64_t* out) {
  int neg = n > 0 && s[0] == '-';
  uint64_t m;
  if (!parse_u64(s + neg, n - (uint32_t)neg, &m)) return 0;
  if (neg ? m > (uint64_t)INT64_MAX + 1 : m > (uint64_t)INT64_MAX) return 0;
  *out = neg ? (int64_t)(0 - m) : (int64_t)m;
  return 1;
}

uint32_t kv_fmt_u64(char* p, uint64_t v) {
  char tmp[20];
  uint32_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (uint32_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
  return n;
}

uint32_t kv_fmt_i64(char* p, int64_t v) {
  if (v < 0) {
    p[0] = '-';
    return 1 + kv_fmt_u64(p + 1, (uint64_t)0 - (uint64_t)v);
  }
  return kv_fmt_u64(p, (uint64_t)v);
}

/* ---- log records ---- */

static uint8_t rec_buf[16 + KV_KEY_MAX + KV_UDP_VALUE_MAX + KV_STATUS_MAX];
static uint8_t snap_buf[KV_PUTX_MAX]; /* snapshot's PUTX records */
static uint8_t xrec_buf[KV_PUTX_MAX]; /* kv_x_* records (not clobbered by a compaction) */

/* KV_REC_PUTX payload into buf; returns its length. */
static uint32_t putx_encode(uint8_t* buf, uint64_t now, const char* k, uint32_t kn, const char* v,
                            uint32_t vn, uint64_t expire_at) {
  ftd_wr64le(buf, now);
  ftd_wr64le(buf + 8, expire_at);
  ftd_wr16le(buf + 16, (uint16_t)kn);
  ftd_wr16le(buf + 18, (uint16_t)vn);
  memcpy(buf + 20, k, kn);
  memcpy(buf + 20 + kn, v, vn);
  return 20 + kn + vn;
}

static void time_seen(struct kv* kv, uint64_t t) {
  if (t > kv->time_logged) kv->time_logged = t;
}

/* The binary-safe records (types 4..7); -1 rejects the record. */
static int replay_x(struct kv* kv, uint16_t type, const uint8_t* p, uint32_t len) {
  if (len < 8) return -1;
  uint64_t now = ftd_rd64le(p);
  switch (type) {
    case KV_REC_PUTX: {
      if (len < 20) return -1;
      uint64_t exp = ftd_rd64le(p + 8);
      uint32_t kn = ftd_rd16le(p + 16), vn = ftd_rd16le(p + 18);
      if (kn > KV_KEY_MAX || vn > KV_VALUE_MAX || 20 + kn + vn != len) return -1;
      if (put(kv, (const char*)p + 20, kn, (const char*)p + 20 + kn, vn, exp)) return -1;
      break;
    }
    case KV_REC_DELX: {
      if (len < 10) return -1;
      uint32_t kn = ftd_rd16le(p + 8);
      if (kn > KV_KEY_MAX || 10 + kn != len) return -1;
      del(kv, (const char*)p + 10, kn); /* absent is fine */
      break;
    }
    case KV_REC_FLUSH:
    case KV_REC_TIME:
      if (len != 8) return -1;
      if (type == KV_REC_FLUSH) table_clear(kv);
      break;
    default:
      return -1;
  }
  time_seen(kv, now);
  return 0;
}

static uint32_t rec_encode(uint32_t client, uint64_t reqno, const char* k, uint32_t kn,
                           const char* v, uint32_t vn, const char* st, uint32_t sn) {
  uint8_t* p = rec_buf;
  ftd_wr32le(p, client);
  ftd_wr64le(p + 4, reqno);
  p[12] = (uint8_t)kn;
  p[13] = (uint8_t)vn;
  ftd_wr16le(p + 14, (uint16_t)sn);
  memcpy(p + 16, k, kn);
  memcpy(p + 16 + kn, v, vn);
  memcpy(p + 16 + kn + vn, st, sn);
  return 16 + kn + vn + sn;
}

static int replay_record(void* ctx, uint16_t type, const uint8_t* p, uint32_t len) {
  struct kv* kv = ctx;
  if (type >= KV_REC_PUTX && type <= KV_REC_TIME) return replay_x(kv, type, p, len);
  if (len < 16) return -1;
  uint32_t client = ftd_rd32le(p);
  uint64_t reqno = ftd_rd64le(p + 4);
  uint32_t kn = p[12], vn = p[13], sn = ftd_rd16le(p + 14);
  if (16 + kn + vn + sn != len || sn > KV_STATUS_MAX) return -1;
  const char* k = (const char*)p + 16;
  const char* v = k + kn;
  const char* st = v + vn;
  switch (type) {
    case KV_REC_PUT:
      if (!key_ok(k, kn) || !value_ok(v, vn)) return -1;
      if (put(kv, k, kn, v, vn, 0)) return -1;
      break;
    case KV_REC_DEL:
      if (!key_ok(k, kn) || vn) return -1;
      del(kv, k, kn); /* absent is fine */
      break;
    case KV_REC_CLIENT:
      if (kn || vn || !client) return -1;
      break;
    default:
      return -1;
  }
  if (client) client_set(kv, client, reqno, st, sn);
  return 0;
}

int kv_attach_log(struct kv* kv, struct kvlog* log, const struct kvlog_disk* disk) {
  int rc = kvlog_open(log, disk, replay_record, kv);
  if (rc == KVLOG_OK) kv->log = log;
  if (kv->time_logged > kv->now) kv->now = kv->time_logged;
  kv->time_set = 0; /* the next kv_x_clock() continues from here */
  return rc;
}

static int snapshot(void* ctx, struct kvlog* log) {
  struct kv* kv = ctx;
  uint64_t now = kv->now > kv->time_logged ? kv->now : kv->time_logged;
  if (now) { /* 0: the clock never ran (a UDP-only store): the snapshot is as it always was */
    uint8_t tb[8];
    ftd_wr64le(tb, now);
    int trc = kvlog_append(log, KV_REC_TIME, tb, sizeof tb);
    if (trc) return trc;
  }
  /* a key the UDP protocol could have written is kept in its record format; the rest (binary,
   * long, expiring) as PUTX.  Expired keys are kept too: replay mirrors the table exactly */
  for (int b = 0; b < KV_BUCKETS; b++)
    for (int i = kv->buckets[b]; i >= 0; i = kv->entries[i].next) {
      const struct kv_entry* e = &kv->entries[i];
      int rc;
      if (!e->expire_at && key_ok(e->key, e->klen) && value_ok(e->val, e->vlen)) {
        uint32_t n = rec_encode(0, 0, e->key, e->klen, e->val, e->vlen, "", 0);
        rc = kvlog_append(log, KV_REC_PUT, rec_buf, n);
      } else {
        uint32_t n = putx_encode(snap_buf, now, e->key, e->klen, e->val, e->vlen, e->expire_at);
        rc = kvlog_append(log, KV_REC_PUTX, snap_buf, n);
      }
      if (rc) return rc;
    }
  /* clients oldest first, so that a replay rebuilds the same LRU order */
  uint64_t last = 0;
  for (;;) {
    const struct kv_client* next = NULL;
    for (int i = 0; i < KV_MAX_CLIENTS; i++) {
      const struct kv_client* c = &kv->clients[i];
      if (c->id && c->seen > last && (!next || c->seen < next->seen)) next = c;
    }
    if (!next) break;
    last = next->seen;
    uint32_t n = rec_encode(next->id, next->reqno, "", 0, "", 0, next->status, next->slen);
    int rc = kvlog_append(log, KV_REC_CLIENT, rec_buf, n);
    if (rc) return rc;
  }
  return 0;
}

int kv_commit(struct kv* kv) {
  if (!kv->log || kv->fatal) return kv->fatal ? KVLOG_EIO : KVLOG_OK;
  int rc = kvlog_commit(kv->log);
  if (rc) kv->fatal = 1;
  return rc;
}

/* ---- the protocol ---- */

struct tok {
  const char* p;
  uint32_t n;
};

static int next_tok(const char** s, const char* end, struct tok* t) {
  const char* p = *s;
  while (p < end && *p == ' ') p++;
  if (p >= end) return 0;
  t->p = p;
  while (p < end && *p != ' ') p++;
  t->n = (uint32_t)(p - t->p);
  *s = p;
  return 1;
}

static int word_is(const struct tok* t, const char* w) {
  uint32_t n = (uint32_t)strlen(w);
  if (t->n != n) return 0;
  for (uint32_t i = 0; i < n; i++) {
    char c = t->p[i];
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (c != w[i]) return 0;
  }
  return 1;
}

#define ST(s) (st_len = (uint32_t)strlen(s), memcpy(st, s, st_len + 1))

int kv_handle(struct kv* kv, const uint8_t* req, uint32_t len, char* out, uint32_t cap) {
  if (kv->fatal) return -1;
  kv->stats.requests++;
  const char* s = (const char*)req;
  const char* end = s + len;
  /* optional trailing newline */
  if (end > s && end[-1] == '\n') end--;
  if (end > s && end[-1] == '\r') end--;
  struct tok t_id, t_no;
  uint64_t cid, reqno;
  if (!next_tok(&s, end, &t_id) || !next_tok(&s, end, &t_no) || !parse_u64(t_id.p, t_id.n, &cid) ||
      cid == 0 || cid > 0xffffffffu || !parse_u64(t_no.p, t_no.n, &reqno) || cap < KV_REPLY_MAX) {
    kv->stats.dropped++;
    return 0;
  }

  char st[KV_STATUS_MAX + 1];
  uint32_t st_len = 0;
  int store = 1; /* remember as the client's last reply */
  struct kv_client* c = client_find(kv, (uint32_t)cid);
  if (c && reqno < c->reqno) {
    ST("ERR stale-request");
    kv->stats.stale++;
    store = 0;
    c->seen = ++kv->clock;
  } else if (c && reqno == c->reqno) {
    memcpy(st, c->status, c->slen);
    st_len = c->slen;
    kv->stats.retries++;
    store = 0;
    c->seen = ++kv->clock;
  } else {
    /* execute */
    struct tok cmd = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, extra = {0, 0};
    int nargs = 0;
    int bad_bytes = 0;
    for (const char* q = s; q < end; q++)
      if (*q != ' ' && ((uint8_t)*q < 0x21 || (uint8_t)*q > 0x7e)) bad_bytes = 1;
    int have_cmd = next_tok(&s, end, &cmd);
    if (have_cmd) {
      nargs += next_tok(&s, end, &a1);
      if (nargs == 1) nargs += next_tok(&s, end, &a2);
      if (nargs == 2) nargs += next_tok(&s, end, &extra);
    }
    int is_set = have_cmd && word_is(&cmd, "SET"), is_get = have_cmd && word_is(&cmd, "GET");
    int is_incr = have_cmd && word_is(&cmd, "INCR"), is_del = have_cmd && word_is(&cmd, "DEL");
    int mutation = 0, is_delete = 0;
    const char* nv = ""; /* new value for a PUT */
    uint32_t nvn = 0;
    char numbuf[24];

    if (len > KV_REQUEST_MAX) {
      ST("ERR too-long");
    } else if (bad_bytes) {
      ST("ERR bad-request");
    } else if (!have_cmd) {
      ST("ERR missing-command");
    } else if (!is_set && !is_get && !is_incr && !is_del) {
      ST("ERR unknown-command");
    } else if (nargs != (is_set ? 2 : 1)) {
      ST("ERR wrong-arguments");
    } else if (!key_ok(a1.p, a1.n)) {
      ST("ERR bad-key");
    } else if (is_set) {
      if (!value_ok(a2.p, a2.n)) {
        ST("ERR bad-value");
      } else if (find(kv, a1.p, a1.n) < 0 && kv->nkeys >= KV_MAX_KEYS) {
        ST("ERR too-many-keys");
      } else {
        ST("OK");
        mutation = 1;
        nv = a2.p;
        nvn = a2.n;
      }
    } else if (is_get) {
      int i = find_live(kv, a1.p, a1.n);
      if (i < 0) {
        ST("NOTFOUND");
      } else if (!value_ok(kv->entries[i].val, kv->entries[i].vlen)) {
        ST("ERR unsupported-value"); /* written over RESP: binary, empty or too long for UDP */
      } else {
        memcpy(st, "OK ", 3);
        memcpy(st + 3, kv->entries[i].val, kv->entries[i].vlen);
        st_len = 3 + kv->entries[i].vlen;
      }
    } else if (is_incr) {
      int i = find_live(kv, a1.p, a1.n);
      int64_t v = 0;
      if (i >= 0 && !parse_i64(kv->entries[i].val, kv->entries[i].vlen, &v)) {
        ST("ERR not-an-integer");
      } else if (v == INT64_MAX) {
        ST("ERR overflow");
      } else if (find(kv, a1.p, a1.n) < 0 && kv->nkeys >= KV_MAX_KEYS) {
        ST("ERR too-many-keys");
      } else {
        nvn = kv_fmt_i64(numbuf, v + 1);
        nv = numbuf;
        memcpy(st, "OK ", 3);
        memcpy(st + 3, numbuf, nvn);
        st_len = 3 + nvn;
        mutation = 1;
      }
    } else { /* DEL */
      if (find_live(kv, a1.p, a1.n) < 0) {
        ST("NOTFOUND");
      } else {
        ST("OK");
        mutation = 1;
        is_delete = 1;
      }
    }

    if (mutation && kv->log) {
      uint32_t n = rec_encode((uint32_t)cid, reqno, a1.p, a1.n, nv, nvn, st, st_len);
      if (!kvlog_fits(kv->log, n)) {
        int rc = kvlog_compact(kv->log, snapshot, kv);
        if (rc == KVLOG_EIO) {
          kv->fatal = 1;
          return -1;
        }
        n = rec_encode((uint32_t)cid, reqno, a1.p, a1.n, nv, nvn, st, st_len); /* rec_buf reused */
      }
      if (!kvlog_fits(kv->log, n)) {
        ST("ERR disk-full");
        kv->stats.disk_full++;
        mutation = 0;
      } else if (kvlog_append(kv->log, is_delete ? KV_REC_DEL : KV_REC_PUT, rec_buf, n) !=
                 KVLOG_OK) {
        kv->fatal = 1;
        return -1;
      }
    }
    if (mutation) {
      kv->stats.mutations++;
      if (is_delete)
        del(kv, a1.p, a1.n);
      else
        put(kv, a1.p, a1.n, nv, nvn, 0); /* room was checked above; clears any expiry */
    }
  }
  if (store) client_set(kv, (uint32_t)cid, reqno, st, st_len);
  if (st_len >= 3 && memcmp(st, "ERR", 3) == 0) kv->stats.errors++;

  uint32_t o = kv_fmt_u64(out, cid);
  out[o++] = ' ';
  o += kv_fmt_u64(out + o, reqno);
  out[o++] = ' ';
  memcpy(out + o, st, st_len);
  o += st_len;
  out[o++] = '\n';
  return (int)o;
}

/* ---- the binary-safe API (resp.c) ---- */

/* Append one kv_x record (payload in xrec_buf or the caller's buffer, never rec_buf/snap_buf),
 * compacting first if it does not fit. */
static int x_log(struct kv* kv, uint16_t type, const uint8_t* p, uint32_t n) {
  if (kv->fatal) return KV_X_EFATAL;
  if (!kv->log) return 0;
  if (!kvlog_fits(kv->log, n)) {
    if (kvlog_compact(kv->log, snapshot, kv) == KVLOG_EIO) {
      kv->fatal = 1;
      return KV_X_EFATAL;
    }
  }
  if (!kvlog_fits(kv->log, n)) {
    kv->stats.disk_full++;
    return KV_X_EDISKFULL;
  }
  if (kvlog_append(kv->log, type, p, n) != KVLOG_OK) {
    kv->fatal = 1;
    return KV_X_EFATAL;
  }
  time_seen(kv, kv->now);
  kv->stats.mutations++;
  return 0;
}

void kv_x_clock(struct kv* kv, uint64_t guest_ms) {
  /* time_off holds the guest ms at the anchor; time_logged at the anchor is the base */
  if (!kv->time_set) {
    kv->time_set = 1;
    kv->time_off = guest_ms;
    kv->time_base = kv->now;
  }
  if (guest_ms < kv->time_off) return; /* the guest clock went back: keep the store clock */
  uint64_t d = guest_ms - kv->time_off;
  uint64_t t = kv->time_base + d < kv->time_base ? UINT64_MAX : kv->time_base + d;
  if (t > kv->now) kv->now = t;
}

/* Delete entry i (expired) and log it. */
static int expire_entry(struct kv* kv, int i) {
  struct kv_entry* e = &kv->entries[i];
  ftd_wr64le(xrec_buf, kv->now);
  ftd_wr16le(xrec_buf + 8, e->klen);
  memcpy(xrec_buf + 10, e->key, e->klen);
  int rc = x_log(kv, KV_REC_DELX, xrec_buf, 10u + e->klen);
  if (rc) return rc;
  del(kv, e->key, e->klen);
  kv->stats.expired++;
  return 0;
}

int kv_x_get(struct kv* kv, const uint8_t* k, uint32_t kn, const uint8_t** v, uint32_t* vlen,
             uint64_t* expire_at) {
  if (kv->fatal) return KV_X_EFATAL;
  if (kn > KV_KEY_MAX) return 0;
  int i = find(kv, (const char*)k, kn);
  if (i < 0) return 0;
  struct kv_entry* e = &kv->entries[i];
  if (expired(kv, e)) {
    int rc = expire_entry(kv, i);
    return rc < 0 ? rc : 0;
  }
  if (v) *v = (const uint8_t*)e->val;
  if (vlen) *vlen = e->vlen;
  if (expire_at) *expire_at = e->expire_at;
  return 1;
}

int kv_x_peek(const struct kv* kv, const uint8_t* k, uint32_t kn, uint32_t* vlen) {
  if (kn > KV_KEY_MAX) return 0;
  int i = find(kv, (const char*)k, kn);
  if (i < 0) return 0;
  if (vlen) *vlen = kv->entries[i].vlen;
  return 1;
}

int kv_x_sweep(struct kv* kv) {
  if (kv->fatal) return KV_X_EFATAL;
  for (int b = 0; b < KV_BUCKETS && kv->nexpires; b++)
    for (int i = kv->buckets[b]; i >= 0;) {
      int next = kv->entries[i].next;
      if (expired(kv, &kv->entries[i])) {
        int rc = expire_entry(kv, i);
        if (rc) return rc;
      }
      i = next;
    }
  return 0;
}

int kv_x_set(struct kv* kv, const uint8_t* k, uint32_t kn, const uint8_t* v, uint32_t vn,
             uint64_t expire_at) {
  if (kv->fatal) return KV_X_EFATAL;
  if (kn > KV_KEY_MAX || vn > KV_VALUE_MAX) return KV_X_ETOOBIG;
  if (find(kv, (const char*)k, kn) < 0 && kv->free_head < 0) {
    int rc = kv_x_sweep(kv);
    if (rc) return rc;
    if (kv->free_head < 0) return KV_X_EKEYS;
  }
  uint32_t n = putx_encode(xrec_buf, kv->now, (const char*)k, kn, (const char*)v, vn, expire_at);
  int rc = x_log(kv, KV_REC_PUTX, xrec_buf, n);
  if (rc) return rc;
  put(kv, (const char*)k, kn, (const char*)v, vn, expire_at); /* room checked above */
  return 0;
}

int kv_x_del(struct kv* kv, const uint8_t* k, uint32_t kn) {
  if (kv->fatal) return KV_X_EFATAL;
  if (kn > KV_KEY_MAX) return 0;
  int i = find(kv, (const char*)k, kn);
  if (i < 0) return 0;
  int was_live = !expired(kv, &kv->entries[i]);
  int rc = expire_entry(kv, i); /* the same DELX either way */
  if (rc == 0 && was_live) kv->stats.expired--; /* a DEL, not an expiry */
  return rc < 0 ? rc : was_live;
}

int kv_x_flush(struct kv* kv) {
  if (kv->fatal) return KV_X_EFATAL;
  uint8_t b[8];
  ftd_wr64le(b, kv->now);
  int rc = x_log(kv, KV_REC_FLUSH, b, sizeof b);
  if (rc) return rc;
  table_clear(kv);
  return 0;
}

int kv_x_reserve(struct kv* kv, uint32_t nrec, uint32_t payload_bytes) {
  if (kv->fatal) return KV_X_EFATAL;
  if (!kv->log) return 0;
  uint64_t need = (uint64_t)nrec * KVLOG_HDR + payload_bytes;
  uint64_t rb = kvlog_region_bytes(kv->log);
  if (kv->log->tail + need <= rb) return 0;
  if (kvlog_compact(kv->log, snapshot, kv) == KVLOG_EIO) {
    kv->fatal = 1;
    return KV_X_EFATAL;
  }
  if (kv->log->tail + need <= rb) return 0;
  kv->stats.disk_full++;
  return KV_X_EDISKFULL;
}

uint32_t kv_x_free_slots(const struct kv* kv) { return KV_MAX_KEYS - kv->nkeys; }
