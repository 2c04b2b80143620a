/*
 * resp_host: guest/kv/resp.c (and kv.c, kvlog.c) in a Linux TCP server on 127.0.0.1, to compare
 * the Redis protocol layer with a real redis-server (tests/integration/resp_compare_test.sh)
 * and to run redis-benchmark against it.  It drives resp_process() the way a guest program
 * would: one resp_conn per socket, a receive buffer of RESP_REQUEST_MAX bytes, and per poll
 * round: process every readable connection, kv_commit() once, only then send the replies.
 *
 *   resp_host PORT [DISK_FILE [SECTORS]]
 *
 * Without DISK_FILE the log lives on an in-memory disk (16 MiB); with it, on that file
 * (created and sized to SECTORS * 512 bytes, default 32768, if smaller), flushed with
 * fdatasync, so a restart on the same file recovers what was acknowledged.  Prints
 * "resp_host ready port=N keys=K" once listening.  SIGTERM/SIGINT: exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resp.h"

#define MAX_CONNS 128
#define TX_CAP (4 * RESP_REPLY_MAX)

struct conn {
  int fd;
  struct resp_conn rc;
  uint32_t rxlen, txlen, txoff;
  uint8_t rx[RESP_REQUEST_MAX];
  uint8_t tx[TX_CAP];
};

static struct kv kv;
static struct kvlog kvlog;
static struct conn* conns[MAX_CONNS];
static volatile sig_atomic_t stop;

static int file_fd = -1;
static uint8_t* mem_disk;

static int d_read(void* ctx, uint64_t s, void* b, uint32_t n) {
  (void)ctx;
  if (mem_disk) {
    memcpy(b, mem_disk + s * 512, (size_t)n * 512);
    return 0;
  }
  return pread(file_fd, b, (size_t)n * 512, (off_t)(s * 512)) == (ssize_t)n * 512 ? 0 : 1;
}
static int d_write(void* ctx, uint64_t s, const void* b, uint32_t n) {
  (void)ctx;
  if (mem_disk) {
    memcpy(mem_disk + s * 512, b, (size_t)n * 512);
    return 0;
  }
  return pwrite(file_fd, b, (size_t)n * 512, (off_t)(s * 512)) == (ssize_t)n * 512 ? 0 : 1;
}
static int d_flush(void* ctx) {
  (void)ctx;
  return mem_disk ? 0 : fdatasync(file_fd) ? 1 : 0;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void drop(int i) {
  close(conns[i]->fd);
  free(conns[i]);
  conns[i] = NULL;
}

/* Run the connection's complete commands into its tx buffer. */
static void process(struct conn* c) {
  while (c->rxlen && !c->rc.close && TX_CAP - c->txlen >= RESP_REPLY_MAX) {
    uint32_t out = 0;
    int n = resp_process(&kv, &c->rc, c->rx, c->rxlen, now_ms(), c->tx + c->txlen,
                         TX_CAP - c->txlen, &out);
    if (n < 0) {
      fprintf(stderr, "resp_host: fatal log error\n");
      exit(4);
    }
    c->txlen += out;
    memmove(c->rx, c->rx + n, c->rxlen - (uint32_t)n);
    c->rxlen -= (uint32_t)n;
    if (n == 0) break;
  }
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: resp_host PORT [DISK_FILE [SECTORS]]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  uint64_t sectors = argc > 3 ? strtoull(argv[3], NULL, 0) : 32768;
  if (port <= 0 || port > 65535 || sectors < KVLOG_MIN_SECTORS) {
    fprintf(stderr, "resp_host: bad port or sector count\n");
    return 2;
  }
  if (argc > 2) {
    file_fd = open(argv[2], O_RDWR | O_CREAT, 0644);
    if (file_fd < 0) {
      perror("resp_host: open");
      return 3;
    }
    off_t size = lseek(file_fd, 0, SEEK_END);
    if (size < (off_t)(sectors * 512) && ftruncate(file_fd, (off_t)(sectors * 512))) {
      perror("resp_host: ftruncate");
      return 3;
    }
    if (size > (off_t)(sectors * 512)) sectors = (uint64_t)size / 512;
  } else {
    mem_disk = calloc(sectors, 512);
    if (!mem_disk) return 3;
  }
  kv_init(&kv);
  struct kvlog_disk disk = {NULL, sectors, d_read, d_write, d_flush};
  int rc = kv_attach_log(&kv, &kvlog, &disk);
  if (rc != KVLOG_OK) {
    fprintf(stderr, "resp_host: cannot open the log (%d)\n", rc);
    return 3;
  }

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) || listen(ls, 128)) {
    perror("resp_host: bind/listen");
    return 3;
  }
  printf("resp_host ready port=%d keys=%u\n", port, (unsigned)kv.nkeys);
  fflush(stdout);

  struct pollfd pfd[MAX_CONNS + 1];
  int idx[MAX_CONNS + 1];
  while (!stop) {
    int np = 0;
    pfd[np].fd = ls;
    pfd[np].events = POLLIN;
    idx[np++] = -1;
    for (int i = 0; i < MAX_CONNS; i++) {
      struct conn* c = conns[i];
      if (!c) continue;
      short ev = 0;
      if (c->txoff < c->txlen) ev |= POLLOUT;
      if (!c->rc.close && c->rxlen < sizeof c->rx && TX_CAP - c->txlen >= RESP_REPLY_MAX)
        ev |= POLLIN;
      pfd[np].fd = c->fd;
      pfd[np].events = ev;
      idx[np++] = i;
    }
    if (poll(pfd, (nfds_t)np, 1000) < 0) {
      if (errno == EINTR) continue;
      perror("resp_host: poll");
      return 3;
    }
    if (pfd[0].revents & POLLIN) {
      for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) break;
        int slot = -1;
        for (int i = 0; i < MAX_CONNS && slot < 0; i++)
          if (!conns[i]) slot = i;
        struct conn* c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
          close(fd);
          continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        resp_conn_init(&c->rc);
        conns[slot] = c;
      }
    }
    /* read and execute */
    for (int p = 1; p < np; p++) {
      struct conn* c = conns[idx[p]];
      if (!(pfd[p].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (pfd[p].events & POLLIN) {
        ssize_t n = read(c->fd, c->rx + c->rxlen, sizeof c->rx - c->rxlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          drop(idx[p]);
          continue;
        }
        if (n > 0) c->rxlen += (uint32_t)n;
      }
      process(c);
    }
    /* durable before any reply leaves */
    if (kv_commit(&kv) != KVLOG_OK) {
      fprintf(stderr, "resp_host: log commit failed\n");
      return 4;
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      struct conn* c = conns[i];
      if (!c) continue;
      while (c->txoff < c->txlen) {
        ssize_t n = write(c->fd, c->tx + c->txoff, c->txlen - c->txoff);
        if (n <= 0) break;
        c->txoff += (uint32_t)n;
      }
      if (c->txoff == c->txlen) {
        c->txoff = c->txlen = 0;
        if (c->rc.close) {
          drop(i);
          continue;
        }
        process(c); /* input held back while tx was full */
      }
    }
  }
  kv_commit(&kv);
  return 0;
}
