/*
 * The Redis protocol (RESP2) front end of the kv store (portable, host-tested): it parses
 * RESP2 multibulk and inline commands, pipelined, and executes them on the same struct kv that
 * kv.c manages (table + kvlog), through kv.c's binary-safe API (kv_x_*).  See guest/README.md
 * ("RESP") for the commands, the limits and the differences from Redis.
 *
 * The caller (one resp_conn per TCP connection) keeps each connection's unconsumed input in a
 * receive buffer of at least RESP_REQUEST_MAX bytes and offers an output buffer with at least
 * RESP_REPLY_MAX free bytes; per batch (every connection that had input) it calls
 * resp_process(), then kv_commit() once, and only then sends the replies: no reply reveals a
 * state that is not durable.
 *
 * Not reentrant: the parser uses static scratch memory (the guest is single-threaded).
 */
#ifndef FTD_RESP_H
#define FTD_RESP_H

#include "ftd_port.h"
#include "kv.h"

#define RESP_REQUEST_MAX 8192 /* bytes of one command (header to last CRLF); longer: protocol error */
#define RESP_REPLY_MAX 16384  /* the largest reply one command produces (an MGET beyond: an error) */
#define RESP_ARGS_MAX 256     /* arguments of one command, the name included; more: protocol error */

/* Per-connection state: plain data, nothing to free. */
struct resp_conn {
  uint8_t close; /* 1: send what out holds, then close (after QUIT, or a protocol error) */
  uint8_t pad[3];
  uint32_t db;       /* SELECTed database: always 0 */
  uint64_t commands; /* commands executed on this connection */
  uint64_t errors;   /* error replies sent */
};

struct resp_stats {
  uint64_t commands, errors, protocol_errors, hits, misses;
  uint64_t reply_overflows; /* replies cut because a bound was wrong: a bug, must stay 0 */
};
extern struct resp_stats resp_stats; /* for all connections (INFO, tests) */

void resp_conn_init(struct resp_conn* c);

/*
 * Parse and execute as many COMPLETE commands as in[0..len) holds and whose replies fit in
 * out[0..cap) (a command runs only when cap minus what is already written is at least its
 * reply bound, at most RESP_REPLY_MAX), append their replies to out and set *out_len.
 * Returns the number of input bytes consumed: a partial command at the end is not consumed
 * (keep it and call again with more bytes).  Sets c->close after QUIT (its +OK is the last
 * reply) and after a protocol error (its -ERR reply is the last; the rest of the input counts
 * as consumed).  Returns -1 on a fatal log error (kv->fatal: stop serving, send nothing).
 * now_ms: the guest's monotonic clock in ms (kv_x_clock; EX/PX expiry).
 * Mutations are appended to the log, durable after the caller's kv_commit().
 */
int resp_process(struct kv* kv, struct resp_conn* c, const uint8_t* in, uint32_t len,
                 uint64_t now_ms, uint8_t* out, uint32_t cap, uint32_t* out_len);

#endif
