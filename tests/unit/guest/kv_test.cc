// Host tests of guest/kv/kv.c: the protocol, de-duplication, limits, durability through the
// log (restart = a new kv over the same in-memory disk), compaction and garbage input.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "guest_c.h"
#include "mem_disk.h"

namespace {

struct Kv {
  std::unique_ptr<kv> k = std::make_unique<kv>();
  std::unique_ptr<kvlog> log = std::make_unique<kvlog>();
  Kv() { kv_init(k.get()); }
  int Attach(MemDisk& d) {
    kvlog_disk disk = d.Disk();
    return kv_attach_log(k.get(), log.get(), &disk);
  }
  // Returns the reply without its '\n', "<dropped>" if dropped, "<fatal>" on a log error.
  std::string Req(const std::string& r, bool commit = true) {
    char out[KV_REPLY_MAX];
    int n = kv_handle(k.get(), reinterpret_cast<const uint8_t*>(r.data()),
                      static_cast<uint32_t>(r.size()), out, sizeof out);
    if (n < 0) return "<fatal>";
    if (n == 0) return "<dropped>";
    EXPECT_EQ(out[n - 1], '\n');
    if (commit) {
      EXPECT_EQ(kv_commit(k.get()), KVLOG_OK);
    }
    return std::string(out, static_cast<size_t>(n - 1));
  }
};

TEST(GuestKv, BasicCommands) {
  Kv kv;
  EXPECT_EQ(kv.Req("1 1 GET a"), "1 1 NOTFOUND");
  EXPECT_EQ(kv.Req("1 2 SET a hello"), "1 2 OK");
  EXPECT_EQ(kv.Req("1 3 GET a"), "1 3 OK hello");
  EXPECT_EQ(kv.Req("1 4 SET a world\n"), "1 4 OK");
  EXPECT_EQ(kv.Req("1 5 GET a\r\n"), "1 5 OK world");
  EXPECT_EQ(kv.Req("1 6 INCR n"), "1 6 OK 1");
  EXPECT_EQ(kv.Req("1 7 INCR n"), "1 7 OK 2");
  EXPECT_EQ(kv.Req("1 8 INCR a"), "1 8 ERR not-an-integer");
  EXPECT_EQ(kv.Req("1 9 SET m -5"), "1 9 OK");
  EXPECT_EQ(kv.Req("1 10 INCR m"), "1 10 OK -4");
  EXPECT_EQ(kv.Req("1 11 SET big 9223372036854775807"), "1 11 OK");
  EXPECT_EQ(kv.Req("1 12 INCR big"), "1 12 ERR overflow");
  EXPECT_EQ(kv.Req("1 13 DEL a"), "1 13 OK");
  EXPECT_EQ(kv.Req("1 14 DEL a"), "1 14 NOTFOUND");
  EXPECT_EQ(kv.Req("1 15 GET a"), "1 15 NOTFOUND");
  EXPECT_EQ(kv.Req("1 16 get n"), "1 16 OK 2");  // command words are case-insensitive
  EXPECT_EQ(kv.Req("4294967295 18446744073709551615 GET n"),
            "4294967295 18446744073709551615 OK 2");
  EXPECT_EQ(kv.Req("7   1   SET   x   y"), "7 1 OK");  // runs of spaces
  EXPECT_EQ(kv.k->nkeys, 4u);
}

TEST(GuestKv, RetriesAndStaleRequests) {
  Kv kv;
  EXPECT_EQ(kv.Req("5 10 INCR c"), "5 10 OK 1");
  EXPECT_EQ(kv.Req("5 10 INCR c"), "5 10 OK 1");  // retry: not applied again
  EXPECT_EQ(kv.Req("5 10 GET c"), "5 10 OK 1");   // same number, stored reply whatever the text
  EXPECT_EQ(kv.Req("5 9 INCR c"), "5 9 ERR stale-request");
  EXPECT_EQ(kv.Req("6 1 GET c"), "6 1 OK 1");
  EXPECT_EQ(kv.Req("5 11 INCR c"), "5 11 OK 2");
  EXPECT_EQ(kv.Req("5 10 INCR c"), "5 10 ERR stale-request");
  EXPECT_EQ(kv.Req("5 11 SET c 100"), "5 11 OK 2");
  // an error reply is final for its request number too
  EXPECT_EQ(kv.Req("5 12 SET bad/key v"), "5 12 ERR bad-key");
  EXPECT_EQ(kv.Req("5 12 SET good v"), "5 12 ERR bad-key");
  EXPECT_EQ(kv.k->stats.retries, 4u);
}

TEST(GuestKv, MalformedRequests) {
  Kv kv;
  for (std::string drop :
       {"", "\n", "x 1 GET a", "1 x GET a", "0 1 GET a", "4294967296 1 GET a",
        "1 18446744073709551616 GET a", "1", "-1 1 GET a", "+1 1 GET a", "1\t1 GET a"})
    EXPECT_EQ(kv.Req(drop), "<dropped>") << drop;
  EXPECT_EQ(kv.Req("1 1"), "1 1 ERR missing-command");
  EXPECT_EQ(kv.Req("1 2 PUT a b"), "1 2 ERR unknown-command");
  EXPECT_EQ(kv.Req("1 3 SET a"), "1 3 ERR wrong-arguments");
  EXPECT_EQ(kv.Req("1 4 GET a b"), "1 4 ERR wrong-arguments");
  EXPECT_EQ(kv.Req("1 5 SET a b c"), "1 5 ERR wrong-arguments");
  EXPECT_EQ(kv.Req("1 6 GET " + std::string(65, 'k')), "1 6 ERR bad-key");
  EXPECT_EQ(kv.Req("1 7 GET " + std::string(64, 'k')), "1 7 NOTFOUND");
  EXPECT_EQ(kv.Req("1 8 SET k " + std::string(201, 'v')), "1 8 ERR bad-value");
  EXPECT_EQ(kv.Req("1 9 SET k " + std::string(200, 'v')), "1 9 OK");
  EXPECT_EQ(kv.Req("1 10 SET a\tb c"), "1 10 ERR bad-request");
  EXPECT_EQ(kv.Req(std::string("1 11 SET a b\0c", 14)), "1 11 ERR bad-request");
  EXPECT_EQ(kv.Req("1 12 SET a \xff"), "1 12 ERR bad-request");
  EXPECT_EQ(kv.Req("1 13 SET k " + std::string(600, 'v')), "1 13 ERR too-long");
  EXPECT_EQ(kv.Req("1 14 SET k:a.b_c-D9 ok!~"), "1 14 OK");
  EXPECT_EQ(kv.Req("1 15 SET k{ v"), "1 15 ERR bad-key");
  EXPECT_EQ(kv.Req("1 16 SET k\\ v"), "1 16 ERR bad-key");
  EXPECT_EQ(kv.Req("1 17 SET n 12x"), "1 17 OK");
  EXPECT_EQ(kv.Req("1 18 INCR n"), "1 18 ERR not-an-integer");
  EXPECT_EQ(kv.Req("1 19 SET n 99999999999999999999"), "1 19 OK");
  EXPECT_EQ(kv.Req("1 20 INCR n"), "1 20 ERR not-an-integer");
}

TEST(GuestKv, KeyAndClientLimits) {
  Kv kv;
  for (int i = 0; i < KV_MAX_KEYS; i++)
    ASSERT_EQ(kv.Req("1 " + std::to_string(i + 1) + " SET k" + std::to_string(i) + " v"),
              "1 " + std::to_string(i + 1) + " OK");
  EXPECT_EQ(kv.Req("1 2000 SET another v"), "1 2000 ERR too-many-keys");
  EXPECT_EQ(kv.Req("1 2001 INCR another"), "1 2001 ERR too-many-keys");
  EXPECT_EQ(kv.Req("1 2002 SET k5 replaced"), "1 2002 OK");
  EXPECT_EQ(kv.Req("1 2003 DEL k5"), "1 2003 OK");
  EXPECT_EQ(kv.Req("1 2004 SET another v"), "1 2004 OK");

  // 256 clients tracked; the least recently seen is evicted
  Kv c;
  for (uint32_t id = 1; id <= KV_MAX_CLIENTS; id++) c.Req(std::to_string(id) + " 5 GET x");
  c.Req("1 6 GET x");  // client 1 seen again: client 2 is now the oldest
  c.Req("9999 1 GET x");
  EXPECT_EQ(c.k->nclients, static_cast<uint32_t>(KV_MAX_CLIENTS));
  EXPECT_EQ(c.k->stats.evictions, 1u);
  EXPECT_EQ(kv_client_find(c.k.get(), 2), nullptr);
  EXPECT_NE(kv_client_find(c.k.get(), 1), nullptr);
  EXPECT_EQ(c.Req("2 4 GET x"), "2 4 NOTFOUND");  // forgotten: no longer stale
}

TEST(GuestKv, StateSurvivesRestart) {
  MemDisk d(8192);
  {
    Kv kv;
    ASSERT_EQ(kv.Attach(d), KVLOG_OK);
    EXPECT_EQ(kv.Req("1 1 SET a 1"), "1 1 OK");
    EXPECT_EQ(kv.Req("1 2 INCR a"), "1 2 OK 2");
    EXPECT_EQ(kv.Req("2 1 SET b x"), "2 1 OK");
    EXPECT_EQ(kv.Req("2 2 SET c y"), "2 2 OK");
    EXPECT_EQ(kv.Req("2 3 DEL c"), "2 3 OK");
    EXPECT_EQ(kv.Req("3 1 INCR z"), "3 1 OK 1");
    EXPECT_EQ(kv.Req("3 2 GET z"), "3 2 OK 1");  // not logged
    EXPECT_GE(d.flushes, 6);
  }
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  EXPECT_EQ(kv.k->nkeys, 3u);
  EXPECT_EQ(kv.Req("9 1 GET a"), "9 1 OK 2");
  EXPECT_EQ(kv.Req("9 2 GET b"), "9 2 OK x");
  EXPECT_EQ(kv.Req("9 3 GET c"), "9 3 NOTFOUND");
  // the retry of a durable mutation is answered from the log, not applied again
  EXPECT_EQ(kv.Req("1 2 INCR a"), "1 2 OK 2");
  EXPECT_EQ(kv.Req("3 1 INCR z"), "3 1 OK 1");
  EXPECT_EQ(kv.Req("9 4 GET z"), "9 4 OK 1");
  EXPECT_EQ(kv.Req("1 1 SET a 7"), "1 1 ERR stale-request");
  // the GET (3, 2) was not logged: it runs again
  EXPECT_EQ(kv.Req("3 2 GET z"), "3 2 OK 1");
}

TEST(GuestKv, UncommittedBatchIsLostAndTornTailDropped) {
  MemDisk d(8192);
  {
    Kv kv;
    ASSERT_EQ(kv.Attach(d), KVLOG_OK);
    EXPECT_EQ(kv.Req("1 1 SET a 1"), "1 1 OK");
    EXPECT_EQ(kv.Req("1 2 SET b 2", false), "1 2 OK");  // crash before the commit
  }
  {
    Kv kv;
    ASSERT_EQ(kv.Attach(d), KVLOG_OK);
    EXPECT_EQ(kv.k->nkeys, 1u);
    EXPECT_EQ(kv.Req("1 2 SET b 2"), "1 2 OK");  // the client's retry is applied now
    EXPECT_EQ(kv.Req("1 3 SET c 3"), "1 3 OK");
  }
  // tear the last record (c): it is dropped, the rest survives
  {
    Kv probe;
    ASSERT_EQ(probe.Attach(d), KVLOG_OK);
    uint64_t tail = probe.log->tail;
    d.data[2 * 512 + tail - 3] ^= 0x55;
  }
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  EXPECT_EQ(kv.log->stopped_at_bad, 1);
  EXPECT_EQ(kv.k->nkeys, 2u);
  EXPECT_EQ(kv.Req("9 1 GET c"), "9 1 NOTFOUND");
  EXPECT_EQ(kv.Req("9 2 GET b"), "9 2 OK 2");
}

TEST(GuestKv, CompactionKeepsStateAndDedup) {
  MemDisk d(512);  // regions of 255 sectors: a compaction every ~2000 INCRs
  {
    Kv kv;
    ASSERT_EQ(kv.Attach(d), KVLOG_OK);
    for (int i = 1; i <= 5000; i++) {
      std::string key = "counter" + std::to_string(i % 10);
      std::string r = kv.Req("1 " + std::to_string(i) + " INCR " + key);
      ASSERT_EQ(r.substr(0, r.find(' ', 2) + 4), "1 " + std::to_string(i) + " OK ") << r;
      if (i % 100 == 0)
        kv.Req(std::to_string(100 + i / 100) + " 1 SET k" + std::to_string(i) + " v");
    }
    EXPECT_GE(kv.log->compactions, 2u);
  }
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  EXPECT_EQ(kv.k->nkeys, 60u);
  EXPECT_EQ(kv.Req("9 1 GET counter0"), "9 1 OK 500");
  EXPECT_EQ(kv.Req("9 2 GET counter7"), "9 2 OK 500");
  EXPECT_EQ(kv.Req("1 5000 INCR counter0"), "1 5000 OK 500");  // dedup survived compaction
  EXPECT_EQ(kv.Req("1 4999 INCR counter0"), "1 4999 ERR stale-request");
  EXPECT_EQ(kv.Req("150 1 SET k5000 again"), "150 1 OK");  // client 150's last reply
}

TEST(GuestKv, DiskFullWhenTheSnapshotCannotFit) {
  MemDisk d(KVLOG_MIN_SECTORS);  // 15.5 KiB regions
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  int ok = 0, full = 0;
  for (int i = 0; i < 300; i++) {
    std::string r = kv.Req("1 " + std::to_string(i + 1) + " SET key" + std::to_string(i) + " " +
                           std::string(100, 'v'));
    if (r.find(" OK") != std::string::npos) ok++;
    if (r.find("ERR disk-full") != std::string::npos) full++;
  }
  EXPECT_GT(ok, 50);
  EXPECT_GT(full, 0);
  EXPECT_EQ(ok + full, 300);
  EXPECT_EQ(kv.k->nkeys, static_cast<uint32_t>(ok));
  EXPECT_EQ(kv.Req("1 1001 GET key0"), "1 1001 OK " + std::string(100, 'v'));  // reads still work
  // deleting (small records) makes the next compaction's snapshot fit again
  for (int i = 0; i < 100; i++)
    EXPECT_EQ(kv.Req("1 " + std::to_string(2000 + i) + " DEL key" + std::to_string(i)),
              "1 " + std::to_string(2000 + i) + " OK");
  EXPECT_EQ(kv.Req("1 3000 SET again " + std::string(100, 'v')), "1 3000 OK");
  EXPECT_GE(kv.log->compactions, 1u);
  // what was acknowledged is what a restart recovers
  Kv again;
  ASSERT_EQ(again.Attach(d), KVLOG_OK);
  EXPECT_EQ(again.k->nkeys, kv.k->nkeys);
}

TEST(GuestKv, DiskErrorIsFatalNotSilent) {
  MemDisk d(1024);
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  d.fail_writes_after = 0;
  kv.Req("1 1 SET a b", false);
  EXPECT_NE(kv_commit(kv.k.get()), KVLOG_OK);
  EXPECT_EQ(kv.Req("1 2 GET a", false), "<fatal>");
}

TEST(GuestKv, RandomGarbageNeverCrashes) {
  MemDisk d(4096);
  Kv kv;
  ASSERT_EQ(kv.Attach(d), KVLOG_OK);
  std::mt19937 rng(7);
  const std::string words[] = {
      "SET", "GET", "INCR", "DEL", "1",         "2", "42", "key", "v", "-", "18446744073709551615",
      "x:y", "",    " ",    "\n",  "9999999999"};
  for (int i = 0; i < 100000; i++) {
    std::string r;
    int n = static_cast<int>(rng() % 7);
    for (int k = 0; k < n; k++) r += words[rng() % 16] + (rng() % 5 ? " " : "");
    if (rng() % 3 == 0)
      for (int k = static_cast<int>(rng() % 8); k > 0; k--) r += static_cast<char>(rng());
    if (rng() % 50 == 0) r.append(rng() % 700, 'a');
    std::string out = kv.Req(r, false);
    ASSERT_NE(out, "<fatal>");
    if (i % 50 == 0) {
      ASSERT_EQ(kv_commit(kv.k.get()), KVLOG_OK);
    }
  }
  ASSERT_EQ(kv_commit(kv.k.get()), KVLOG_OK);
  uint32_t keys = kv.k->nkeys;
  Kv again;
  ASSERT_EQ(again.Attach(d), KVLOG_OK);
  EXPECT_EQ(again.k->nkeys, keys);
}

}  // namespace
