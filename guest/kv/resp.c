/* RESP2 command layer over the kv store.  See resp.h and guest/README.md ("RESP"). */
#include "resp.h"

struct resp_stats resp_stats;

/* Largest reply of any command but PING/ECHO with a message, MGET and INFO (those compute
 * theirs): errors (the unknown-command one quotes <= ~400 bytes), integers, a GET's value
 * (<= KV_VALUE_MAX), CONFIG GET's few parameters. */
#define SMALL_REPLY 1024u
#define INFO_REPLY 2048u
#define PROTO_MAX_BULK (512u * 1024u * 1024u) /* Redis's proto-max-bulk-len: "invalid bulk length" */
/* Redis adds the Unix time in ms to an EX/PX and calls an overflow an invalid expire time; the
 * store clock starts near 0, so reserve what mstime() would add (2^41 ms, ~70 years). */
#define EXPIRE_HEADROOM (1ull << 41)

void resp_conn_init(struct resp_conn* c) { memset(c, 0, sizeof *c); }

/* ---- output ---- */

struct out {
  uint8_t* p;
  uint32_t n, cap;
};

static void put_bytes(struct out* o, const void* s, uint32_t n) {
  if (n > o->cap - o->n) { /* a reply bound was wrong: never write past cap */
    resp_stats.reply_overflows++;
    n = o->cap - o->n;
  }
  memcpy(o->p + o->n, s, n);
  o->n += n;
}

static void put_str(struct out* o, const char* s) { put_bytes(o, s, (uint32_t)strlen(s)); }

static void put_num_line(struct out* o, char type, int64_t v) {
  char b[24];
  b[0] = type;
  uint32_t n = 1 + kv_fmt_i64(b + 1, v);
  b[n++] = '\r';
  b[n++] = '\n';
  put_bytes(o, b, n);
}

static void put_int(struct out* o, int64_t v) { put_num_line(o, ':', v); }

static void put_bulk(struct out* o, const void* s, uint32_t n) {
  put_num_line(o, '$', n);
  put_bytes(o, s, n);
  put_bytes(o, "\r\n", 2);
}

static void put_nil(struct out* o) { put_str(o, "$-1\r\n"); }
static void put_ok(struct out* o) { put_str(o, "+OK\r\n"); }

/* "-ERR <msg>\r\n" (msg as is if it starts with '-'), CR/LF in msg become spaces. */
static void put_err_n(struct out* o, const char* msg, uint32_t n) {
  resp_stats.errors++;
  if (!(n > 0 && msg[0] == '-')) put_str(o, "-ERR ");
  for (uint32_t i = 0; i < n; i++) {
    char ch = msg[i] == '\r' || msg[i] == '\n' ? ' ' : msg[i];
    put_bytes(o, &ch, 1);
  }
  put_bytes(o, "\r\n", 2);
}

static void put_err(struct out* o, const char* msg) { put_err_n(o, msg, (uint32_t)strlen(msg)); }

/* A small bounded string builder for error messages. */
struct sbuf {
  char b[1024];
  uint32_t n;
};

static void sb_add(struct sbuf* s, const void* p, uint32_t n) {
  if (n > sizeof s->b - s->n) n = (uint32_t)sizeof s->b - s->n;
  memcpy(s->b + s->n, p, n);
  s->n += n;
}
static void sb_str(struct sbuf* s, const char* p) { sb_add(s, p, (uint32_t)strlen(p)); }
static void sb_u64(struct sbuf* s, uint64_t v) {
  char b[20];
  sb_add(s, b, kv_fmt_u64(b, v));
}

/* ---- numbers (Redis's string2ll: no '+', no leading zeros, no spaces, < 21 bytes) ---- */

static int str2ll(const uint8_t* p, uint32_t n, int64_t* out) {
  if (n == 0 || n >= 21) return 0;
  if (n == 1 && p[0] == '0') {
    *out = 0;
    return 1;
  }
  uint32_t i = 0;
  int neg = 0;
  if (p[0] == '-') {
    neg = 1;
    if (++i == n) return 0;
  }
  if (p[i] < '1' || p[i] > '9') return 0;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    uint64_t d = (uint64_t)(p[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > (uint64_t)INT64_MAX + 1) return 0;
    *out = (int64_t)(0 - v);
  } else {
    if (v > (uint64_t)INT64_MAX) return 0;
    *out = (int64_t)v;
  }
  return 1;
}

/* ---- parsing ---- */

struct cmd {
  uint32_t argc;
  const uint8_t* argv[RESP_ARGS_MAX];
  uint32_t argl[RESP_ARGS_MAX];
};

static struct cmd g_cmd;                      /* the command being run */
static uint8_t g_inline[RESP_REQUEST_MAX];    /* decoded inline arguments */

enum { P_NEED, P_CMD, P_ERR };

static int32_t find_byte(const uint8_t* p, uint32_t from, uint32_t len, uint8_t b) {
  for (uint32_t i = from; i < len; i++)
    if (p[i] == b) return (int32_t)i;
  return -1;
}

static void err_too_large(struct sbuf* e) {
  sb_str(e, "Protocol error: request too large for ftd (max ");
  sb_u64(e, RESP_REQUEST_MAX);
  sb_str(e, " bytes)");
}

static void err_too_many(struct sbuf* e) {
  sb_str(e, "Protocol error: too many arguments for ftd (max ");
  sb_u64(e, RESP_ARGS_MAX);
  sb_str(e, ")");
}

static int is_space(uint8_t ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }
static int hexval(uint8_t ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Redis's sdssplitargs over line[0..n) (a NUL ends the line, as in Redis's C string): blanks
 * separate words; "..." with \n \r \t \b \a \xHH \<any>, '...' with \'; a closing quote must
 * be followed by a blank or the end.  Decodes into g_inline.  0 or -1 (unbalanced quotes);
 * *too_many when there are more than RESP_ARGS_MAX words. */
static int split_inline(const uint8_t* line, uint32_t n, struct cmd* c, int* too_many) {
  for (uint32_t i = 0; i < n; i++)
    if (line[i] == 0) {
      n = i;
      break;
    }
  uint32_t i = 0, o = 0;
  c->argc = 0;
  *too_many = 0;
#define AT(k) ((k) < n ? line[k] : 0)
  for (;;) {
    while (i < n && is_space(line[i])) i++;
    if (i >= n) return 0;
    if (c->argc == RESP_ARGS_MAX) {
      *too_many = 1;
      return 0;
    }
    uint32_t start = o;
    uint8_t quote = 0; /* '"' or '\'' while inside quotes */
    int done = 0;
    while (!done) {
      uint8_t ch = AT(i);
      if (quote == '"' && ch == '\\' && AT(i + 1) == 'x' && hexval(AT(i + 2)) >= 0 &&
          hexval(AT(i + 3)) >= 0) {
        g_inline[o++] = (uint8_t)(hexval(AT(i + 2)) * 16 + hexval(AT(i + 3)));
        i += 3;
      } else if (quote == '"' && ch == '\\' && AT(i + 1)) {
        i++;
        uint8_t e = AT(i);
        g_inline[o++] = e == 'n'   ? '\n'
                        : e == 'r' ? '\r'
                        : e == 't' ? '\t'
                        : e == 'b' ? '\b'
                        : e == 'a' ? '\a'
                                   : e;
      } else if (quote == '\'' && ch == '\\' && AT(i + 1) == '\'') {
        i++;
        g_inline[o++] = '\'';
      } else if (quote && ch == quote) {
        if (AT(i + 1) && !is_space(AT(i + 1))) return -1;
        done = 1;
      } else if (quote) {
        if (!ch) return -1; /* unterminated */
        g_inline[o++] = ch;
      } else {
        switch (ch) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case 0:
            done = 1;
            break;
          case '"':
          case '\'':
            quote = ch;
            break;
          default:
            g_inline[o++] = ch;
        }
      }
      if (AT(i)) i++;
    }
    c->argv[c->argc] = g_inline + start;
    c->argl[c->argc] = o - start;
    c->argc++;
  }
#undef AT
}

/* One command from in[0..len).  P_NEED: incomplete.  P_CMD: *used bytes, g_cmd filled (argc
 * 0: nothing to run, e.g. an empty line or "*0").  P_ERR: *err names the protocol error.
 * Only the first RESP_REQUEST_MAX bytes are looked at, so the outcome does not depend on how
 * the stream was cut into calls; if they hold no complete command, it is an error. */
static int parse(const uint8_t* in, uint32_t len, uint32_t* used, struct sbuf* err) {
  struct cmd* c = &g_cmd;
  c->argc = 0;
  err->n = 0;
  int capped = len >= RESP_REQUEST_MAX; /* no more bytes can make a command complete */
  if (capped) len = RESP_REQUEST_MAX;
  if (in[0] != '*') { /* inline */
    int32_t nl = find_byte(in, 0, len, '\n');
    if (nl < 0) {
      if (capped) {
        sb_str(err, "Protocol error: too big inline request");
        return P_ERR;
      }
      return P_NEED;
    }
    uint32_t e = (uint32_t)nl;
    if (e > 0 && in[e - 1] == '\r') e--;
    int too_many;
    if (split_inline(in, e, c, &too_many)) {
      sb_str(err, "Protocol error: unbalanced quotes in request");
      return P_ERR;
    }
    if (too_many) {
      err_too_many(err);
      return P_ERR;
    }
    *used = (uint32_t)nl + 1;
    return P_CMD;
  }
  /* multibulk: *<count>\r\n then <count> times $<len>\r\n<bytes>\r\n.  As in Redis, a line
   * ends at '\r' and the byte after it is skipped unchecked, as are the 2 after each bulk. */
  int32_t r = find_byte(in, 0, len, '\r');
  if (r < 0 || (uint32_t)r + 1 >= len) {
    if (capped) {
      if (r < 0)
        sb_str(err, "Protocol error: too big mbulk count string");
      else
        err_too_large(err);
      return P_ERR;
    }
    return P_NEED;
  }
  int64_t count;
  if (!str2ll(in + 1, (uint32_t)r - 1, &count) || count > 0x7fffffff) {
    sb_str(err, "Protocol error: invalid multibulk length");
    return P_ERR;
  }
  uint32_t pos = (uint32_t)r + 2;
  if (count <= 0) {
    *used = pos;
    return P_CMD;
  }
  if (count > RESP_ARGS_MAX) {
    err_too_many(err);
    return P_ERR;
  }
  for (uint32_t j = 0; j < (uint32_t)count; j++) {
    r = pos < len ? find_byte(in, pos, len, '\r') : -1;
    if (r < 0 || (uint32_t)r + 1 >= len) {
      if (capped) {
        err_too_large(err);
        return P_ERR;
      }
      return P_NEED;
    }
    if (in[pos] != '$') {
      sb_str(err, "Protocol error: expected '$', got '");
      sb_add(err, in + pos, 1);
      sb_str(err, "'");
      return P_ERR;
    }
    int64_t bl;
    if (!str2ll(in + pos + 1, (uint32_t)r - pos - 1, &bl) || bl < 0 || bl > PROTO_MAX_BULK) {
      sb_str(err, "Protocol error: invalid bulk length");
      return P_ERR;
    }
    pos = (uint32_t)r + 2;
    if ((uint64_t)pos + (uint64_t)bl + 2 > RESP_REQUEST_MAX) {
      err_too_large(err);
      return P_ERR;
    }
    if (pos + (uint32_t)bl + 2 > len) { /* len == RESP_REQUEST_MAX is excluded above */
      if (capped) {
        err_too_large(err);
        return P_ERR;
      }
      return P_NEED;
    }
    c->argv[j] = in + pos;
    c->argl[j] = (uint32_t)bl;
    pos += (uint32_t)bl + 2;
  }
  c->argc = (uint32_t)count;
  *used = pos;
  return P_CMD;
}

/* ---- commands ---- */

struct ctx {
  struct kv* kv;
  struct resp_conn* conn;
  struct cmd* c;
  struct out* o;
  const struct command* cmd;
};

typedef int (*handler_fn)(struct ctx* x); /* 0, or -1 on a fatal log error */

struct command {
  const char* name; /* lower case, as Redis names it in errors */
  int arity;        /* Redis's: n exactly n arguments (name included), -n at least n */
  handler_fn fn;
};

/* case-insensitive: does arg i equal the lower-case word w? */
static int arg_is(const struct cmd* c, uint32_t i, const char* w) {
  uint32_t n = (uint32_t)strlen(w);
  if (c->argl[i] != n) return 0;
  for (uint32_t k = 0; k < n; k++) {
    uint8_t ch = c->argv[i][k];
    if (ch >= 'A' && ch <= 'Z') ch = (uint8_t)(ch - 'A' + 'a');
    if (ch != (uint8_t)w[k]) return 0;
  }
  return 1;
}

static void err_arity(struct ctx* x, const char* fullname) {
  struct sbuf s = {.n = 0};
  sb_str(&s, "wrong number of arguments for '");
  sb_str(&s, fullname);
  sb_str(&s, "' command");
  put_err_n(x->o, s.b, s.n);
}

static const char E_NOT_INT[] = "value is not an integer or out of range";
static const char E_SYNTAX[] = "syntax error";
static const char E_DISK_FULL[] = "ftd kv disk full (the log has no room left)";

static void err_key_too_large(struct ctx* x) {
  struct sbuf s = {.n = 0};
  sb_str(&s, "key too large for ftd kv (max ");
  sb_u64(&s, KV_KEY_MAX);
  sb_str(&s, " bytes)");
  put_err_n(x->o, s.b, s.n);
}

static void err_value_too_large(struct ctx* x) {
  struct sbuf s = {.n = 0};
  sb_str(&s, "value too large for ftd kv (max ");
  sb_u64(&s, KV_VALUE_MAX);
  sb_str(&s, " bytes)");
  put_err_n(x->o, s.b, s.n);
}

/* A kv_x_* error as a reply; -1 if fatal. */
static int kv_error(struct ctx* x, int rc) {
  struct sbuf s = {.n = 0};
  switch (rc) {
    case KV_X_EKEYS:
      sb_str(&s, "ftd kv is full (max ");
      sb_u64(&s, KV_MAX_KEYS);
      sb_str(&s, " keys)");
      put_err_n(x->o, s.b, s.n);
      return 0;
    case KV_X_ETOOBIG:
      err_value_too_large(x);
      return 0;
    case KV_X_EDISKFULL:
      put_err(x->o, E_DISK_FULL);
      return 0;
    default:
      return -1;
  }
}

/* kv_x_get with the error handled: 1 found, 0 absent, -2 an error reply was written, -1 fatal */
static int get_key(struct ctx* x, uint32_t i, const uint8_t** v, uint32_t* vn, uint64_t* exp) {
  int rc = kv_x_get(x->kv, x->c->argv[i], x->c->argl[i], v, vn, exp);
  if (rc >= 0) {
    if (rc)
      resp_stats.hits++;
    else
      resp_stats.misses++;
    return rc;
  }
  return kv_error(x, rc) < 0 ? -1 : -2;
}

static int cmd_ping(struct ctx* x) {
  if (x->c->argc > 2) {
    err_arity(x, "ping");
  } else if (x->c->argc == 2) {
    put_bulk(x->o, x->c->argv[1], x->c->argl[1]);
  } else {
    put_str(x->o, "+PONG\r\n");
  }
  return 0;
}

static int cmd_echo(struct ctx* x) {
  put_bulk(x->o, x->c->argv[1], x->c->argl[1]);
  return 0;
}

static int cmd_get(struct ctx* x) {
  const uint8_t* v;
  uint32_t vn;
  int rc = get_key(x, 1, &v, &vn, NULL);
  if (rc == 1) put_bulk(x->o, v, vn);
  if (rc == 0) put_nil(x->o);
  return rc == -1 ? -1 : 0;
}

#define SET_NX 1
#define SET_XX 2
#define SET_GET 4
#define SET_KEEPTTL 8
#define SET_EX 16
#define SET_PX 32
#define SET_EXAT 64
#define SET_PXAT 128

static int cmd_set(struct ctx* x) {
  struct cmd* c = x->c;
  unsigned fl = 0;
  uint32_t expire_arg = 0;
  for (uint32_t j = 3; j < c->argc; j++) {
    int next = j + 1 < c->argc;
    unsigned ttl = SET_EX | SET_PX | SET_EXAT | SET_PXAT;
    if (arg_is(c, j, "nx") && !(fl & SET_XX)) {
      fl |= SET_NX;
    } else if (arg_is(c, j, "xx") && !(fl & SET_NX)) {
      fl |= SET_XX;
    } else if (arg_is(c, j, "get")) {
      fl |= SET_GET;
    } else if (arg_is(c, j, "keepttl") && !(fl & ttl)) {
      fl |= SET_KEEPTTL;
    } else if (next && !(fl & SET_KEEPTTL) &&
               ((arg_is(c, j, "ex") && !(fl & (ttl & ~SET_EX))) ||
                (arg_is(c, j, "px") && !(fl & (ttl & ~SET_PX))) ||
                (arg_is(c, j, "exat") && !(fl & (ttl & ~SET_EXAT))) ||
                (arg_is(c, j, "pxat") && !(fl & (ttl & ~SET_PXAT))))) {
      fl |= arg_is(c, j, "ex") ? SET_EX : arg_is(c, j, "px") ? SET_PX : arg_is(c, j, "exat") ? SET_EXAT : SET_PXAT;
      expire_arg = ++j;
    } else {
      put_err(x->o, E_SYNTAX);
      return 0;
    }
  }
  uint64_t expire_at = 0;
  if (expire_arg) {
    int64_t ms;
    if (!str2ll(c->argv[expire_arg], c->argl[expire_arg], &ms)) {
      put_err(x->o, E_NOT_INT);
      return 0;
    }
    int secs = (fl & (SET_EX | SET_EXAT)) != 0;
    uint64_t top = (uint64_t)INT64_MAX - EXPIRE_HEADROOM;
    uint64_t limit = x->kv->now < top ? top - x->kv->now : 0;
    if (ms <= 0 || (secs && ms > INT64_MAX / 1000) ||
        (uint64_t)ms * (secs ? 1000u : 1u) > limit) {
      put_err(x->o, "invalid expire time in 'set' command");
      return 0;
    }
    if (fl & (SET_EXAT | SET_PXAT)) {
      put_err(x->o, "EXAT and PXAT are not supported by ftd kv (it has no wall clock)");
      return 0;
    }
    expire_at = x->kv->now + (uint64_t)ms * (secs ? 1000u : 1u);
  }
  if (c->argl[1] > KV_KEY_MAX) {
    err_key_too_large(x);
    return 0;
  }
  if (c->argl[2] > KV_VALUE_MAX) {
    err_value_too_large(x);
    return 0;
  }
  const uint8_t* old;
  uint32_t oldn = 0;
  uint64_t old_exp = 0;
  int found = get_key(x, 1, &old, &oldn, &old_exp);
  if (found < 0) return found == -1 ? -1 : 0;
  uint8_t oldv[KV_VALUE_MAX];
  if (found) memcpy(oldv, old, oldn); /* the SET below may overwrite it */
  if (!((fl & SET_NX) && found) && !((fl & SET_XX) && !found)) {
    if (!expire_arg && (fl & SET_KEEPTTL) && found) expire_at = old_exp;
    int rc = kv_x_set(x->kv, c->argv[1], c->argl[1], c->argv[2], c->argl[2], expire_at);
    if (rc) return kv_error(x, rc);
    if (!(fl & SET_GET)) {
      put_ok(x->o);
      return 0;
    }
  } else if (!(fl & SET_GET)) {
    put_nil(x->o);
    return 0;
  }
  if (found)
    put_bulk(x->o, oldv, oldn);
  else
    put_nil(x->o);
  return 0;
}

static int cmd_del(struct ctx* x) {
  int64_t n = 0;
  for (uint32_t i = 1; i < x->c->argc; i++) {
    int rc = kv_x_del(x->kv, x->c->argv[i], x->c->argl[i]);
    if (rc < 0) return kv_error(x, rc);
    n += rc;
  }
  put_int(x->o, n);
  return 0;
}

static int cmd_exists(struct ctx* x) {
  int64_t n = 0;
  for (uint32_t i = 1; i < x->c->argc; i++) {
    int rc = get_key(x, i, NULL, NULL, NULL);
    if (rc < 0) return rc == -1 ? -1 : 0;
    n += rc;
  }
  put_int(x->o, n);
  return 0;
}

static int incr_by(struct ctx* x, int64_t by) {
  const uint8_t* v;
  uint32_t vn;
  uint64_t exp = 0;
  int rc = get_key(x, 1, &v, &vn, &exp);
  if (rc < 0) return rc == -1 ? -1 : 0;
  int64_t cur = 0;
  if (rc && !str2ll(v, vn, &cur)) {
    put_err(x->o, E_NOT_INT);
    return 0;
  }
  if ((by < 0 && cur < 0 && by < INT64_MIN - cur) || (by > 0 && cur > 0 && by > INT64_MAX - cur)) {
    put_err(x->o, "increment or decrement would overflow");
    return 0;
  }
  if (x->c->argl[1] > KV_KEY_MAX) {
    err_key_too_large(x);
    return 0;
  }
  int64_t nv = cur + by;
  char b[24];
  uint32_t n = kv_fmt_i64(b, nv);
  rc = kv_x_set(x->kv, x->c->argv[1], x->c->argl[1], (const uint8_t*)b, n, exp); /* keeps the TTL */
  if (rc) return kv_error(x, rc);
  put_int(x->o, nv);
  return 0;
}

static int cmd_incr(struct ctx* x) { return incr_by(x, 1); }
static int cmd_decr(struct ctx* x) { return incr_by(x, -1); }

static int cmd_incrby(struct ctx* x) {
  int64_t by;
  if (!str2ll(x->c->argv[2], x->c->argl[2], &by)) {
    put_err(x->o, E_NOT_INT);
    return 0;
  }
  return incr_by(x, by);
}

static int cmd_decrby(struct ctx* x) {
  int64_t by;
  if (!str2ll(x->c->argv[2], x->c->argl[2], &by)) {
    put_err(x->o, E_NOT_INT);
    return 0;
  }
  if (by == INT64_MIN) {
    put_err(x->o, "decrement would overflow");
    return 0;
  }
  return incr_by(x, -by);
}

/* The MGET reply's size if no key expires meanwhile (an upper bound). */
static uint64_t mget_bound(const struct kv* kv, const struct cmd* c) {
  uint64_t n = 16;
  for (uint32_t i = 1; i < c->argc; i++) {
    uint32_t vn;
    n += kv_x_peek(kv, c->argv[i], c->argl[i], &vn) ? 16u + vn : 5u;
  }
  return n;
}

static int cmd_mget(struct ctx* x) {
  if (mget_bound(x->kv, x->c) > RESP_REPLY_MAX) {
    struct sbuf s = {.n = 0};
    sb_str(&s, "reply too large for ftd kv (max ");
    sb_u64(&s, RESP_REPLY_MAX);
    sb_str(&s, " bytes): ask for fewer keys");
    put_err_n(x->o, s.b, s.n);
    return 0;
  }
  /* expire first: an error (disk full) must not come after part of the array */
  for (uint32_t i = 1; i < x->c->argc; i++) {
    int rc = kv_x_get(x->kv, x->c->argv[i], x->c->argl[i], NULL, NULL, NULL);
    if (rc < 0) return kv_error(x, rc);
  }
  put_num_line(x->o, '*', x->c->argc - 1);
  for (uint32_t i = 1; i < x->c->argc; i++) {
    const uint8_t* v;
    uint32_t vn;
    int rc = get_key(x, i, &v, &vn, NULL);
    if (rc == 1)
      put_bulk(x->o, v, vn);
    else
      put_nil(x->o); /* rc < 0 is impossible: nothing left to expire */
  }
  return 0;
}

static int same_arg(const struct cmd* c, uint32_t a, uint32_t b) {
  return c->argl[a] == c->argl[b] && memcmp(c->argv[a], c->argv[b], c->argl[a]) == 0;
}

static int cmd_mset(struct ctx* x) {
  struct cmd* c = x->c;
  if (c->argc % 2 == 0) {
    err_arity(x, "mset");
    return 0;
  }
  uint32_t fresh = 0, bytes = 0;
  for (uint32_t i = 1; i < c->argc; i += 2) {
    if (c->argl[i] > KV_KEY_MAX) {
      err_key_too_large(x);
      return 0;
    }
    if (c->argl[i + 1] > KV_VALUE_MAX) {
      err_value_too_large(x);
      return 0;
    }
    bytes += 20 + c->argl[i] + c->argl[i + 1];
    if (kv_x_peek(x->kv, c->argv[i], c->argl[i], NULL)) continue;
    int dup = 0;
    for (uint32_t j = 1; j < i && !dup; j += 2) dup = same_arg(c, i, j);
    fresh += !dup;
  }
  /* all or nothing: room in the table and in the log first */
  if (fresh > kv_x_free_slots(x->kv)) {
    int rc = kv_x_sweep(x->kv);
    if (rc) return kv_error(x, rc);
    if (fresh > kv_x_free_slots(x->kv)) return kv_error(x, KV_X_EKEYS);
  }
  int rc = kv_x_reserve(x->kv, (c->argc - 1) / 2, bytes);
  if (rc) return kv_error(x, rc);
  for (uint32_t i = 1; i < c->argc; i += 2) {
    rc = kv_x_set(x->kv, c->argv[i], c->argl[i], c->argv[i + 1], c->argl[i + 1], 0);
    if (rc) return kv_error(x, rc); /* only fatal is possible here */
  }
  put_ok(x->o);
  return 0;
}

static int cmd_append(struct ctx* x) {
  const uint8_t* v;
  uint32_t vn = 0;
  uint64_t exp = 0;
  int rc = get_key(x, 1, &v, &vn, &exp);
  if (rc < 0) return rc == -1 ? -1 : 0;
  if (!rc) vn = 0;
  if (x->c->argl[1] > KV_KEY_MAX) {
    err_key_too_large(x);
    return 0;
  }
  if (x->c->argl[2] > KV_VALUE_MAX - vn) {
    err_value_too_large(x);
    return 0;
  }
  uint8_t nv[KV_VALUE_MAX];
  if (vn) memcpy(nv, v, vn);
  memcpy(nv + vn, x->c->argv[2], x->c->argl[2]);
  uint32_t n = vn + x->c->argl[2];
  rc = kv_x_set(x->kv, x->c->argv[1], x->c->argl[1], nv, n, exp); /* keeps the TTL */
  if (rc) return kv_error(x, rc);
  put_int(x->o, n);
  return 0;
}

static int cmd_strlen(struct ctx* x) {
  uint32_t vn = 0;
  int rc = get_key(x, 1, NULL, &vn, NULL);
  if (rc < 0) return rc == -1 ? -1 : 0;
  put_int(x->o, rc ? vn : 0);
  return 0;
}

static int cmd_dbsize(struct ctx* x) {
  int rc = kv_x_sweep(x->kv);
  if (rc) return kv_error(x, rc);
  put_int(x->o, x->kv->nkeys);
  return 0;
}

static int cmd_flushdb(struct ctx* x) {
  if (x->c->argc > 2 || (x->c->argc == 2 && !arg_is(x->c, 1, "sync") && !arg_is(x->c, 1, "async"))) {
    put_err(x->o, E_SYNTAX);
    return 0;
  }
  int rc = kv_x_flush(x->kv);
  if (rc) return kv_error(x, rc);
  put_ok(x->o);
  return 0;
}

static int cmd_select(struct ctx* x) {
  int64_t db;
  if (!str2ll(x->c->argv[1], x->c->argl[1], &db) || db < INT32_MIN || db > INT32_MAX) {
    put_err(x->o, E_NOT_INT);
  } else if (db != 0) {
    put_err(x->o, "DB index is out of range");
  } else {
    put_ok(x->o);
  }
  return 0;
}

static int cmd_quit(struct ctx* x) {
  put_ok(x->o);
  x->conn->close = 1;
  return 0;
}

/* INFO [section ...]: a few fields in Redis's format. */
static int cmd_info(struct ctx* x) {
  struct kv* kv = x->kv;
  int rc = kv_x_sweep(kv); /* exact keys= / expires= */
  if (rc) return kv_error(x, rc);
  static const char* const names[] = {"server", "persistence", "stats", "keyspace"};
  int want[4] = {0, 0, 0, 0};
  if (x->c->argc == 1) want[0] = want[1] = want[2] = want[3] = 1;
  for (uint32_t i = 1; i < x->c->argc; i++)
    for (int s = 0; s < 4; s++)
      if (arg_is(x->c, i, names[s]) || arg_is(x->c, i, "all") || arg_is(x->c, i, "default") ||
          arg_is(x->c, i, "everything"))
        want[s] = 1;
  struct sbuf s = {.n = 0};
  int sections = 0;
  if (want[0]) {
    sb_str(&s, "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n"
               "os:ftd guest\r\narch_bits:64\r\nftd_kv:resp2\r\n");
    sections++;
  }
  if (want[1]) {
    if (sections++) sb_str(&s, "\r\n");
    sb_str(&s, "# Persistence\r\nloading:0\r\naof_enabled:");
    sb_str(&s, kv->log ? "1" : "0");
    sb_str(&s, "\r\nftd_log_fsync:every_batch\r\nftd_log_compactions:");
    sb_u64(&s, kv->log ? kv->log->compactions : 0);
    sb_str(&s, "\r\n");
  }
  if (want[2]) {
    if (sections++) sb_str(&s, "\r\n");
    sb_str(&s, "# Stats\r\ntotal_commands_processed:");
    sb_u64(&s, resp_stats.commands);
    sb_str(&s, "\r\nexpired_keys:");
    sb_u64(&s, kv->stats.expired);
    sb_str(&s, "\r\nkeyspace_hits:");
    sb_u64(&s, resp_stats.hits);
    sb_str(&s, "\r\nkeyspace_misses:");
    sb_u64(&s, resp_stats.misses);
    sb_str(&s, "\r\ntotal_error_replies:");
    sb_u64(&s, resp_stats.errors);
    sb_str(&s, "\r\n");
  }
  if (want[3]) {
    if (sections++) sb_str(&s, "\r\n");
    sb_str(&s, "# Keyspace\r\n");
    if (kv->nkeys) {
      sb_str(&s, "db0:keys=");
      sb_u64(&s, kv->nkeys);
      sb_str(&s, ",expires=");
      sb_u64(&s, kv->nexpires);
      sb_str(&s, ",avg_ttl=0\r\n");
    }
  }
  put_bulk(x->o, s.b, s.n);
  return 0;
}

/* CONFIG GET: what redis-benchmark and friends ask for. */
static const char* const config_params[][2] = {
    {"save", ""},          /* no RDB snapshots: the log is the persistence */
    {"appendonly", "yes"}, /* every write is logged ... */
    {"appendfsync", "always"}, /* ... and flushed before its reply */
    {"databases", "1"},
    {"maxmemory", "0"},
    {"maxmemory-policy", "noeviction"},
};
#define NCONFIG (sizeof config_params / sizeof config_params[0])

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch; }

/* Glob with * and ? (case-insensitive), as CONFIG GET patterns. */
static int glob(const uint8_t* p, uint32_t pn, const char* s) {
  while (pn) {
    if (*p == '*') {
      while (pn && *p == '*') p++, pn--;
      if (!pn) return 1;
      for (; *s; s++)
        if (glob(p, pn, s)) return 1;
      return 0;
    }
    if (!*s || (*p != '?' && lower(*p) != lower((uint8_t)*s))) return 0;
    p++, pn--, s++;
  }
  return !*s;
}

static void err_subcommand(struct ctx* x, const char* container) {
  struct sbuf s = {.n = 0};
  sb_str(&s, "unknown subcommand '");
  uint32_t n = x->c->argl[1];
  for (uint32_t i = 0; i < n && i < 128 && x->c->argv[1][i]; i++) sb_add(&s, x->c->argv[1] + i, 1);
  sb_str(&s, "'. Try ");
  sb_str(&s, container);
  sb_str(&s, " HELP.");
  put_err_n(x->o, s.b, s.n);
}

static int cmd_config(struct ctx* x) {
  struct cmd* c = x->c;
  if (arg_is(c, 1, "get")) {
    if (c->argc < 3) {
      err_arity(x, "config|get");
      return 0;
    }
    int match[NCONFIG];
    uint32_t n = 0;
    for (uint32_t k = 0; k < NCONFIG; k++) {
      match[k] = 0;
      for (uint32_t i = 2; i < c->argc && !match[k]; i++)
        match[k] = glob(c->argv[i], c->argl[i], config_params[k][0]);
      n += (uint32_t)match[k];
    }
    put_num_line(x->o, '*', 2 * n);
    for (uint32_t k = 0; k < NCONFIG; k++)
      if (match[k]) {
        put_bulk(x->o, config_params[k][0], (uint32_t)strlen(config_params[k][0]));
        put_bulk(x->o, config_params[k][1], (uint32_t)strlen(config_params[k][1]));
      }
  } else if (arg_is(c, 1, "set")) {
    put_err(x->o, "CONFIG SET is not supported by ftd kv");
  } else if (arg_is(c, 1, "resetstat")) {
    if (c->argc != 2) {
      err_arity(x, "config|resetstat");
      return 0;
    }
    memset(&resp_stats, 0, sizeof resp_stats);
    put_ok(x->o);
  } else {
    err_subcommand(x, "CONFIG");
  }
  return 0;
}

static int cmd_command(struct ctx* x);

static const struct command commands[] = {
    {"get", 2, cmd_get},           {"set", -3, cmd_set},         {"incr", 2, cmd_incr},
    {"ping", -1, cmd_ping},        {"echo", 2, cmd_echo},        {"del", -2, cmd_del},
    {"exists", -2, cmd_exists},    {"incrby", 3, cmd_incrby},    {"decr", 2, cmd_decr},
    {"decrby", 3, cmd_decrby},     {"mget", -2, cmd_mget},       {"mset", -3, cmd_mset},
    {"append", 3, cmd_append},     {"strlen", 2, cmd_strlen},    {"dbsize", 1, cmd_dbsize},
    {"flushdb", -1, cmd_flushdb},  {"flushall", -1, cmd_flushdb}, {"info", -1, cmd_info},
    {"quit", -1, cmd_quit},        {"select", 2, cmd_select},    {"config", -2, cmd_config},
    {"command", -1, cmd_command},
};
static const uint32_t ncommands = sizeof commands / sizeof commands[0];

static int cmd_command(struct ctx* x) {
  struct cmd* c = x->c;
  if (c->argc == 1 || arg_is(c, 1, "docs")) {
    put_str(x->o, "*0\r\n"); /* no command table, no docs: clients fall back to their own */
  } else if (arg_is(c, 1, "count")) {
    if (c->argc != 2)
      err_arity(x, "command|count");
    else
      put_int(x->o, ncommands);
  } else if (arg_is(c, 1, "list")) {
    put_num_line(x->o, '*', ncommands);
    for (uint32_t i = 0; i < ncommands; i++)
      put_bulk(x->o, commands[i].name, (uint32_t)strlen(commands[i].name));
  } else {
    err_subcommand(x, "COMMAND");
  }
  return 0;
}


static const struct command* lookup(const struct cmd* c) {
  for (uint32_t i = 0; i < ncommands; i++)
    if (arg_is(c, 0, commands[i].name)) return &commands[i];
  return NULL;
}

/* The unknown-command error, as Redis 7.0 words it: name and arguments as C strings (up to a
 * NUL), the name cut at 128 bytes, arguments while the list is under 128 bytes. */
static void err_unknown(struct ctx* x) {
  struct cmd* c = x->c;
  struct sbuf s = {.n = 0}, args = {.n = 0};
  for (uint32_t i = 1; i < c->argc && args.n < 128; i++) {
    uint32_t room = 128 - args.n, n = 0;
    while (n < c->argl[i] && n < room && c->argv[i][n]) n++;
    sb_str(&args, "'");
    sb_add(&args, c->argv[i], n);
    sb_str(&args, "' ");
  }
  uint32_t n = 0;
  while (n < c->argl[0] && n < 128 && c->argv[0][n]) n++;
  sb_str(&s, "unknown command '");
  sb_add(&s, c->argv[0], n);
  sb_str(&s, "', with args beginning with: ");
  sb_add(&s, args.b, args.n);
  put_err_n(x->o, s.b, s.n);
}

/* The most bytes the command's reply can take. */
static uint32_t reply_bound(const struct kv* kv, const struct cmd* c, const struct command* cmd) {
  uint64_t n = SMALL_REPLY;
  if (cmd && (cmd->fn == cmd_ping || cmd->fn == cmd_echo) && c->argc == 2)
    n = SMALL_REPLY + c->argl[1];
  else if (cmd && cmd->fn == cmd_info)
    n = INFO_REPLY;
  else if (cmd && cmd->fn == cmd_mget) {
    uint64_t m = mget_bound(kv, c);
    if (m <= RESP_REPLY_MAX && m > n) n = m;
  }
  return n > RESP_REPLY_MAX ? RESP_REPLY_MAX : (uint32_t)n;
}

int resp_process(struct kv* kv, struct resp_conn* c, const uint8_t* in, uint32_t len,
                 uint64_t now_ms, uint8_t* out, uint32_t cap, uint32_t* out_len) {
  struct out o = {out, 0, cap};
  *out_len = 0;
  if (kv->fatal) return -1;
  kv_x_clock(kv, now_ms);
  uint32_t pos = 0;
  while (pos < len && !c->close) {
    uint32_t used = 0;
    struct sbuf err;
    int r = parse(in + pos, len - pos, &used, &err);
    if (r == P_NEED) break;
    if (r == P_ERR) {
      if (cap - o.n < SMALL_REPLY) break; /* send what we have first */
      put_err_n(&o, err.b, err.n);
      resp_stats.protocol_errors++;
      c->errors++;
      c->close = 1;
      pos = len;
      break;
    }
    if (g_cmd.argc == 0) {
      pos += used;
      continue;
    }
    const struct command* cmd = lookup(&g_cmd);
    if (reply_bound(kv, &g_cmd, cmd) > cap - o.n) break;
    struct ctx x = {kv, c, &g_cmd, &o, cmd};
    uint64_t errors = resp_stats.errors;
    c->commands++;
    resp_stats.commands++;
    if (!cmd) {
      err_unknown(&x);
    } else if ((cmd->arity > 0 && g_cmd.argc != (uint32_t)cmd->arity) ||
               (cmd->arity < 0 && g_cmd.argc < (uint32_t)-cmd->arity)) {
      err_arity(&x, cmd->name);
    } else if (cmd->fn(&x) < 0) {
      *out_len = 0;
      return -1;
    }
    c->errors += resp_stats.errors - errors;
    pos += used;
  }
  *out_len = o.n;
  return (int)pos;
}
