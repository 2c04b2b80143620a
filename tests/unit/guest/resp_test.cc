// Host tests of guest/kv/resp.c (the Redis protocol layer) and kv.c's binary-safe API: the
// parser (every split of a pipelined stream, inline commands, malformed headers, limits), every
// command's replies and errors as Redis 7.0 words them, expiry on a fake clock, durability
// (restart = a new kv over the same in-memory disk) and garbage input.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "guest_c.h"
#include "mem_disk.h"
extern "C" {
#include "resp.h"
}

namespace {

using std::string;

// RESP2 multibulk encoding of one command.
string Cmd(const std::vector<string>& args) {
  string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

string Bulk(const string& v) { return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n"; }
const string kNil = "$-1\r\n";
const string kOk = "+OK\r\n";
string Int(long long v) { return ":" + std::to_string(v) + "\r\n"; }

struct Resp {
  std::unique_ptr<kv> k = std::make_unique<kv>();
  std::unique_ptr<kvlog> log = std::make_unique<kvlog>();
  resp_conn c;
  uint64_t now = 5000;  // the fake guest clock, ms
  string pending;       // input not consumed yet (what a caller keeps in its receive buffer)
  uint32_t cap = 2 * RESP_REPLY_MAX;
  int calls = 0;
  Resp() {
    kv_init(k.get());
    resp_conn_init(&c);
  }
  int Attach(MemDisk& d) {
    kvlog_disk disk = d.Disk();
    return kv_attach_log(k.get(), log.get(), &disk);
  }
  // Feeds bytes, runs resp_process until it makes no progress, commits; returns the replies
  // or "<fatal>".
  string Send(const string& in, bool commit = true) {
    pending += in;
    string out;
    std::vector<uint8_t> buf(cap);
    for (int guard = 0; guard < 100000; guard++) {
      uint32_t n = 0;
      calls++;
      int used = resp_process(k.get(), &c, reinterpret_cast<const uint8_t*>(pending.data()),
                              static_cast<uint32_t>(pending.size()), now, buf.data(), cap, &n);
      if (used < 0) return "<fatal>";
      EXPECT_LE(n, cap);
      EXPECT_LE(static_cast<size_t>(used), pending.size());
      out.append(reinterpret_cast<char*>(buf.data()), n);
      pending.erase(0, static_cast<size_t>(used));
      if ((used == 0 && n == 0) || c.close || pending.empty()) break;
    }
    if (commit) {
      EXPECT_EQ(kv_commit(k.get()), KVLOG_OK);
    }
    return out;
  }
  string Do(const std::vector<string>& args) { return Send(Cmd(args)); }
};

TEST(GuestResp, PingEchoInlineAndMultibulk) {
  Resp r;
  EXPECT_EQ(r.Send("PING\r\n"), "+PONG\r\n");
  EXPECT_EQ(r.Send("ping\n"), "+PONG\r\n");
  EXPECT_EQ(r.Do({"PING"}), "+PONG\r\n");
  EXPECT_EQ(r.Do({"PiNg", "hello world"}), Bulk("hello world"));
  EXPECT_EQ(r.Do({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
  EXPECT_EQ(r.Do({"ECHO", string("bin\0\r\n\xff", 7)}), Bulk(string("bin\0\r\n\xff", 7)));
  EXPECT_EQ(r.Do({"echo"}), "-ERR wrong number of arguments for 'echo' command\r\n");
  EXPECT_EQ(r.Send("ECHO \"a\\x41\\n\\\"q\" 'it\\'s'\r\n"),
            "-ERR wrong number of arguments for 'echo' command\r\n");
  EXPECT_EQ(r.Send("ECHO \"a\\x41\\n\\\"q\"\r\n"), Bulk("aA\n\"q"));
  EXPECT_EQ(r.Send("ECHO 'it\\'s'\n"), Bulk("it's"));
  EXPECT_EQ(r.Send("  \t echo   x  \r\n"), Bulk("x"));
  EXPECT_EQ(r.Send("\r\n\n   \r\n"), "");  // empty inline lines: no command, no reply
  EXPECT_EQ(r.Send("*0\r\n*-1\r\nPING\r\n"), "+PONG\r\n");
  EXPECT_EQ(r.Send("echo a\"b c\"d\r\n"), "-ERR Protocol error: unbalanced quotes in request\r\n");
  EXPECT_EQ(r.c.close, 1);
}

TEST(GuestResp, UnknownCommandsAndArity) {
  Resp r;
  EXPECT_EQ(r.Do({"foo", "a", "b"}),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(r.Do({"FOO"}), "-ERR unknown command 'FOO', with args beginning with: \r\n");
  EXPECT_EQ(r.Do({""}), "-ERR unknown command '', with args beginning with: \r\n");
  // CR/LF become spaces; the argument list stops once it reaches 128 bytes
  EXPECT_EQ(r.Do({"x\r\ny", "a\nb"}),
            "-ERR unknown command 'x  y', with args beginning with: 'a b' \r\n");
  string longarg(200, 'z');
  EXPECT_EQ(r.Do({"nope", longarg, "more"}),
            "-ERR unknown command 'nope', with args beginning with: '" + string(128, 'z') +
                "' \r\n");
  EXPECT_EQ(r.Do({string(150, 'n')}),
            "-ERR unknown command '" + string(128, 'n') + "', with args beginning with: \r\n");
  EXPECT_EQ(r.Do({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(r.Do({"get", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(r.Do({"SET", "a"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(r.Do({"INCRBY", "a"}), "-ERR wrong number of arguments for 'incrby' command\r\n");
  EXPECT_EQ(r.Do({"DBSIZE", "x"}), "-ERR wrong number of arguments for 'dbsize' command\r\n");
  EXPECT_EQ(r.Do({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(r.Do({"CONFIG"}), "-ERR wrong number of arguments for 'config' command\r\n");
  EXPECT_EQ(r.Do({"CONFIG", "GET"}), "-ERR wrong number of arguments for 'config|get' command\r\n");
  EXPECT_EQ(r.Do({"CONFIG", "bogus"}), "-ERR unknown subcommand 'bogus'. Try CONFIG HELP.\r\n");
  EXPECT_EQ(r.Do({"COMMAND", "bogus"}), "-ERR unknown subcommand 'bogus'. Try COMMAND HELP.\r\n");
  EXPECT_EQ(r.c.close, 0);
  EXPECT_GE(r.c.errors, 16u);
}

TEST(GuestResp, StringCommands) {
  Resp r;
  EXPECT_EQ(r.Do({"GET", "a"}), kNil);
  EXPECT_EQ(r.Do({"SET", "a", "hello"}), kOk);
  EXPECT_EQ(r.Do({"get", "a"}), Bulk("hello"));
  EXPECT_EQ(r.Do({"SET", "", ""}), kOk);  // empty key and value are fine
  EXPECT_EQ(r.Do({"GET", ""}), Bulk(""));
  string bin("\0\x01\r\n\xff key", 9);
  EXPECT_EQ(r.Do({"SET", bin, bin + bin}), kOk);
  EXPECT_EQ(r.Do({"GET", bin}), Bulk(bin + bin));
  EXPECT_EQ(r.Do({"STRLEN", bin}), Int(18));
  EXPECT_EQ(r.Do({"STRLEN", "nokey"}), Int(0));
  EXPECT_EQ(r.Do({"APPEND", "a", " world"}), Int(11));
  EXPECT_EQ(r.Do({"APPEND", "new", "x"}), Int(1));
  EXPECT_EQ(r.Do({"GET", "a"}), Bulk("hello world"));
  EXPECT_EQ(r.Do({"EXISTS", "a", "a", "nokey", ""}), Int(3));
  EXPECT_EQ(r.Do({"DEL", "a", "a", "nokey", "new"}), Int(2));
  EXPECT_EQ(r.Do({"EXISTS", "a"}), Int(0));
  EXPECT_EQ(r.Do({"MSET", "k1", "v1", "k2", "v2", "k1", "v1b"}), kOk);
  EXPECT_EQ(r.Do({"MGET", "k1", "k2", "nokey", "k1"}),
            "*4\r\n" + Bulk("v1b") + Bulk("v2") + kNil + Bulk("v1b"));
  EXPECT_EQ(r.Do({"DBSIZE"}), Int(4));  // "", bin, k1, k2
  EXPECT_EQ(r.Do({"FLUSHDB", "bogus"}), "-ERR syntax error\r\n");
  EXPECT_EQ(r.Do({"FLUSHDB", "ASYNC", "x"}), "-ERR syntax error\r\n");
  EXPECT_EQ(r.Do({"FLUSHDB", "sync"}), kOk);
  EXPECT_EQ(r.Do({"DBSIZE"}), Int(0));
  EXPECT_EQ(r.Do({"SELECT", "0"}), kOk);
  EXPECT_EQ(r.Do({"SELECT", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(r.Do({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(r.Do({"COMMAND", "DOCS"}), "*0\r\n");
  EXPECT_EQ(r.Do({"CONFIG", "GET", "save"}), "*2\r\n" + Bulk("save") + Bulk(""));
  EXPECT_EQ(r.Do({"CONFIG", "get", "APPENDONLY"}), "*2\r\n" + Bulk("appendonly") + Bulk("yes"));
  EXPECT_EQ(r.Do({"CONFIG", "GET", "nosuch"}), "*0\r\n");
  EXPECT_EQ(r.Do({"CONFIG", "GET", "append*"}),
            "*4\r\n" + Bulk("appendonly") + Bulk("yes") + Bulk("appendfsync") + Bulk("always"));
}

TEST(GuestResp, SetOptionsAndErrors) {
  Resp r;
  EXPECT_EQ(r.Do({"SET", "k", "v", "NX"}), kOk);
  EXPECT_EQ(r.Do({"SET", "k", "w", "nx"}), kNil);
  EXPECT_EQ(r.Do({"SET", "k", "w", "XX"}), kOk);
  EXPECT_EQ(r.Do({"SET", "nokey", "w", "XX"}), kNil);
  EXPECT_EQ(r.Do({"GET", "nokey"}), kNil);
  EXPECT_EQ(r.Do({"SET", "k", "x", "GET"}), Bulk("w"));
  EXPECT_EQ(r.Do({"SET", "fresh", "x", "GET"}), kNil);
  EXPECT_EQ(r.Do({"SET", "k", "y", "NX", "GET"}), Bulk("x"));  // not set, old value returned
  EXPECT_EQ(r.Do({"GET", "k"}), Bulk("x"));
  const string syntax = "-ERR syntax error\r\n";
  EXPECT_EQ(r.Do({"SET", "k", "v", "NX", "XX"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "XX", "NX"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "10", "PX", "100"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "10", "KEEPTTL"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "bogus"}), syntax);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "10", "EX", "20"}), kOk);  // Redis allows a repeat
  const string notint = "-ERR value is not an integer or out of range\r\n";
  const string badexp = "-ERR invalid expire time in 'set' command\r\n";
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "ten"}), notint);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", " 10"}), notint);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "010"}), notint);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "0"}), badexp);
  EXPECT_EQ(r.Do({"SET", "k", "v", "PX", "-5"}), badexp);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "9223372036854776"}), badexp);
  EXPECT_EQ(r.Do({"SET", "k", "v", "PX", "9223372036854775807"}), badexp);
  EXPECT_EQ(r.Do({"SET", "k", "v", "EX", "99999999999999999999"}), notint);
  EXPECT_EQ(r.Do({"GET", "k"}), Bulk("v"));  // the EX 10 EX 20 one
  // limits
  EXPECT_EQ(r.Do({"SET", string(KV_KEY_MAX, 'k'), string(KV_VALUE_MAX, 'v')}), kOk);
  EXPECT_EQ(r.Do({"GET", string(KV_KEY_MAX, 'k')}), Bulk(string(KV_VALUE_MAX, 'v')));
  EXPECT_EQ(r.Do({"SET", string(KV_KEY_MAX + 1, 'k'), "v"}),
            "-ERR key too large for ftd kv (max 64 bytes)\r\n");
  EXPECT_EQ(r.Do({"SET", "k", string(KV_VALUE_MAX + 1, 'v')}),
            "-ERR value too large for ftd kv (max 512 bytes)\r\n");
  EXPECT_EQ(r.Do({"GET", string(KV_KEY_MAX + 1, 'k')}), kNil);
  EXPECT_EQ(r.Do({"SET", "app", string(KV_VALUE_MAX - 1, 'a')}), kOk);
  EXPECT_EQ(r.Do({"APPEND", "app", "b"}), Int(KV_VALUE_MAX));
  EXPECT_EQ(r.Do({"APPEND", "app", "c"}), "-ERR value too large for ftd kv (max 512 bytes)\r\n");
  EXPECT_EQ(r.Do({"MSET", "m1", "1", string(KV_KEY_MAX + 1, 'k'), "2"}),
            "-ERR key too large for ftd kv (max 64 bytes)\r\n");
  EXPECT_EQ(r.Do({"EXISTS", "m1"}), Int(0));  // all or nothing
  EXPECT_EQ(r.Do({"SET", "k", "v", "EXAT", "1700000000"}),
            "-ERR EXAT and PXAT are not supported by ftd kv (it has no wall clock)\r\n");
}

TEST(GuestResp, IncrDecr) {
  Resp r;
  EXPECT_EQ(r.Do({"INCR", "n"}), Int(1));
  EXPECT_EQ(r.Do({"INCRBY", "n", "41"}), Int(42));
  EXPECT_EQ(r.Do({"DECR", "n"}), Int(41));
  EXPECT_EQ(r.Do({"DECRBY", "n", "-9"}), Int(50));
  EXPECT_EQ(r.Do({"DECRBY", "n", "100"}), Int(-50));
  EXPECT_EQ(r.Do({"GET", "n"}), Bulk("-50"));
  const string notint = "-ERR value is not an integer or out of range\r\n";
  EXPECT_EQ(r.Do({"INCRBY", "n", "1.5"}), notint);
  EXPECT_EQ(r.Do({"INCRBY", "n", "+1"}), notint);
  EXPECT_EQ(r.Do({"INCRBY", "n", ""}), notint);
  EXPECT_EQ(r.Do({"INCRBY", "n", "-0"}), notint);
  for (string bad : {"abc", " 1", "1 ", "01", "+5", "", "9223372036854775808", "1e3"}) {
    EXPECT_EQ(r.Do({"SET", "s", bad}), kOk);
    EXPECT_EQ(r.Do({"INCR", "s"}), notint) << bad;
  }
  EXPECT_EQ(r.Do({"SET", "big", "9223372036854775807"}), kOk);
  EXPECT_EQ(r.Do({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(r.Do({"DECRBY", "big", "-1"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(r.Do({"SET", "small", "-9223372036854775808"}), kOk);
  EXPECT_EQ(r.Do({"DECR", "small"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(r.Do({"INCRBY", "small", "9223372036854775807"}), Int(-1));
  EXPECT_EQ(r.Do({"DECRBY", "x", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  EXPECT_EQ(r.Do({"INCRBY", "x", "-9223372036854775808"}), Int(INT64_MIN));
}

TEST(GuestResp, ProtocolErrorsCloseTheConnection) {
  struct Case {
    string in, reply;
  };
  const string big_inline(RESP_REQUEST_MAX, 'a');
  const std::vector<Case> cases = {
      {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*01\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*99999999999999999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
      {"*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"},
      {"*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$9999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n$100000\r\n",
       "-ERR Protocol error: request too large for ftd (max 8192 bytes)\r\n"},
      {"*2\r\n$4\r\nECHO\r\n$8180\r\n",
       "-ERR Protocol error: request too large for ftd (max 8192 bytes)\r\n"},
      {"*300\r\n", "-ERR Protocol error: too many arguments for ftd (max 256)\r\n"},
      {"*1\r\n" + big_inline, "-ERR Protocol error: request too large for ftd (max 8192 bytes)\r\n"},
      {"*" + big_inline, "-ERR Protocol error: too big mbulk count string\r\n"},
      {big_inline, "-ERR Protocol error: too big inline request\r\n"},
      {"ECHO \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"ECHO 'abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"ECHO \"a\"b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
  };
  for (const auto& tc : cases) {
    Resp r;
    // a valid command first: it is answered, then the error, then nothing
    string out = r.Send("PING\r\n" + tc.in + "PING\r\n");
    EXPECT_EQ(out, "+PONG\r\n" + tc.reply) << tc.in.substr(0, 40);
    EXPECT_EQ(r.c.close, 1) << tc.in.substr(0, 40);
    EXPECT_TRUE(r.pending.empty());
  }
  // too many inline words
  string words;
  for (int i = 0; i < RESP_ARGS_MAX + 1; i++) words += "w ";
  Resp r;
  EXPECT_EQ(r.Send(words + "\r\n"), "-ERR Protocol error: too many arguments for ftd (max 256)\r\n");
  // exactly the limits are fine
  Resp ok;
  std::vector<string> args = {"EXISTS"};
  for (int i = 1; i < RESP_ARGS_MAX; i++) args.push_back("k");
  EXPECT_EQ(ok.Do(args), Int(0));
  string echo = Cmd({"ECHO", string(RESP_REQUEST_MAX - 23, 'e')});
  ASSERT_EQ(echo.size(), static_cast<size_t>(RESP_REQUEST_MAX));
  EXPECT_EQ(ok.Send(echo + "PING\r\n"), Bulk(string(RESP_REQUEST_MAX - 23, 'e')) + "+PONG\r\n");
  EXPECT_EQ(ok.c.close, 0);
  // "*1\r" waits for one more byte; Redis skips the byte after '\r' (and after a bulk) unread
  EXPECT_EQ(ok.Send("*1\r"), "");
  EXPECT_EQ(ok.Send("X$4\r\nPINGxy"), "+PONG\r\n");
}

// A pipelined stream answered the same whatever the split: every split position into two
// calls, and byte by byte.
TEST(GuestResp, EverySplitOfAPipelinedStreamGivesTheSameReplies) {
  string stream = Cmd({"SET", "a", "1"}) + "INCR a\r\n" + Cmd({"INCRBY", "a", "10"}) +
                  "ECHO \"x y\\x00z\"\n" + Cmd({"MSET", "b", string(300, 'b'), "c", ""}) +
                  "\r\n" + Cmd({"MGET", "a", "b", "c", "d"}) + "*0\r\n" +
                  Cmd({"SET", "e", "v", "PX", "100"}) + Cmd({"APPEND", "c", "xyz"}) +
                  "  get   c  \r\n" + Cmd({"DEL", "a", "b"}) + Cmd({"DBSIZE"}) +
                  Cmd({"nosuch", "arg"}) + Cmd({"GET", "e"});
  Resp ref;
  string expect = ref.Send(stream);
  ASSERT_EQ(ref.pending, "");
  EXPECT_NE(expect.find(":12\r\n"), string::npos);
  EXPECT_NE(expect.find(Bulk(string("x y\0z", 5))), string::npos);
  EXPECT_NE(expect.find(Bulk(string(300, 'b'))), string::npos);
  for (size_t p = 0; p <= stream.size(); p++) {
    Resp r;
    string out = r.Send(stream.substr(0, p));
    out += r.Send(stream.substr(p));
    ASSERT_EQ(out, expect) << "split at " << p;
    ASSERT_EQ(r.k->nkeys, ref.k->nkeys);
  }
  Resp bytes;
  string out;
  for (char ch : stream) out += bytes.Send(string(1, ch));
  EXPECT_EQ(out, expect);
  // a stream ending in a protocol error: every split gives the same replies and closes
  string bad = Cmd({"INCR", "n"}) + "*1\r\n$3\r\nGET\r\n" + "*2\r\n$3\r\nGET\r\n%1\r\nx\r\n" +
               Cmd({"INCR", "n"});
  Resp bref;
  string bexpect = bref.Send(bad);
  EXPECT_EQ(bexpect, Int(1) + "-ERR wrong number of arguments for 'get' command\r\n" +
                         "-ERR Protocol error: expected '$', got '%'\r\n");
  for (size_t p = 0; p <= bad.size(); p++) {
    Resp r;
    string o = r.Send(bad.substr(0, p));
    if (!r.c.close) o += r.Send(bad.substr(p));
    ASSERT_EQ(o, bexpect) << "split at " << p;
    ASSERT_EQ(r.c.close, 1);
  }
}

// With room for one reply at a time, a pipeline runs a command per call: nothing is lost and
// no mutation runs twice.
TEST(GuestResp, SmallOutputBufferNeverRepeatsOrLoses) {
  Resp r;
  r.cap = RESP_REPLY_MAX;
  string in;
  for (int i = 0; i < 200; i++) in += Cmd({"INCR", "n"}) + Cmd({"SET", "v", string(500, 'x')}) +
                                      Cmd({"GET", "v"});
  string out = r.Send(in);
  string expect;
  for (int i = 0; i < 200; i++) expect += Int(i + 1) + kOk + Bulk(string(500, 'x'));
  EXPECT_EQ(out, expect);
  EXPECT_GT(r.calls, 1);
  // a buffer that already holds replies: the next command waits for room
  uint8_t buf[RESP_REPLY_MAX];
  uint32_t n = 0;
  string ping = "PING\r\n";
  EXPECT_EQ(resp_process(r.k.get(), &r.c, reinterpret_cast<const uint8_t*>(ping.data()),
                         static_cast<uint32_t>(ping.size()), r.now, buf, 100, &n),
            0);
  EXPECT_EQ(n, 0u);
  // MGET whose reply could not fit in RESP_REPLY_MAX is refused with an error
  std::vector<string> mget = {"MGET"};
  for (int i = 0; i < 40; i++) mget.push_back("v");
  EXPECT_EQ(r.Do(mget), "-ERR reply too large for ftd kv (max 16384 bytes): ask for fewer keys\r\n");
  mget.resize(20);
  EXPECT_EQ(r.Do(mget).size(), 5 + 19 * Bulk(string(500, 'x')).size());
  EXPECT_EQ(resp_stats.reply_overflows, 0u);
}

TEST(GuestResp, QuitRepliesOkAndStops) {
  Resp r;
  EXPECT_EQ(r.Send("SET a 1\r\nQUIT\r\nSET a 2\r\n"), kOk + kOk);
  EXPECT_EQ(r.c.close, 1);
  EXPECT_EQ(r.pending, "SET a 2\r\n");
  Resp q;
  EXPECT_EQ(q.Send("GET a\r\n"), kNil);  // the same static parser state, another connection
}

TEST(GuestResp, ExpiryOnAFakeClock) {
  Resp r;
  EXPECT_EQ(r.Do({"SET", "p", "v", "PX", "100"}), kOk);
  EXPECT_EQ(r.Do({"SET", "e", "v", "EX", "2"}), kOk);
  EXPECT_EQ(r.Do({"SET", "keep", "v"}), kOk);
  EXPECT_EQ(r.k->nexpires, 2u);
  r.now += 100;  // at the deadline: still there (Redis expires once now > deadline)
  EXPECT_EQ(r.Do({"GET", "p"}), Bulk("v"));
  EXPECT_EQ(r.Do({"DBSIZE"}), Int(3));
  r.now += 1;
  EXPECT_EQ(r.Do({"EXISTS", "p"}), Int(0));
  EXPECT_EQ(r.Do({"GET", "p"}), kNil);
  EXPECT_EQ(r.Do({"DBSIZE"}), Int(2));
  // INCR and APPEND keep the TTL, SET drops it, KEEPTTL keeps it
  EXPECT_EQ(r.Do({"SET", "n", "1", "PX", "500"}), kOk);
  EXPECT_EQ(r.Do({"INCR", "n"}), Int(2));
  EXPECT_EQ(r.Do({"APPEND", "n", "0"}), Int(2));
  EXPECT_EQ(r.Do({"SET", "e", "w", "KEEPTTL"}), kOk);
  EXPECT_EQ(r.Do({"SET", "keep", "w", "PX", "10"}), kOk);
  EXPECT_EQ(r.Do({"SET", "keep", "x"}), kOk);  // no TTL any more
  r.now += 501;
  EXPECT_EQ(r.Do({"GET", "n"}), kNil);
  EXPECT_EQ(r.Do({"GET", "keep"}), Bulk("x"));
  EXPECT_EQ(r.Do({"GET", "e"}), Bulk("w"));
  r.now += 2000;
  EXPECT_EQ(r.Do({"SET", "e", "again", "NX"}), kOk);  // expired counts as absent
  EXPECT_EQ(r.Do({"GET", "e"}), Bulk("again"));
  EXPECT_EQ(r.Do({"SET", "t", "1", "EX", "1"}), kOk);
  r.now += 1001;
  EXPECT_EQ(r.Do({"INCR", "t"}), Int(1));  // expired: counts from 0, no TTL
  r.now += 5000;
  EXPECT_EQ(r.Do({"GET", "t"}), Bulk("1"));
  // the clock never runs backwards
  EXPECT_EQ(r.Do({"SET", "b", "v", "PX", "50"}), kOk);
  r.now -= 4000;
  EXPECT_EQ(r.Do({"GET", "b"}), Bulk("v"));
  r.now += 4051;
  EXPECT_EQ(r.Do({"GET", "b"}), kNil);
  EXPECT_EQ(r.Do({"INFO", "keyspace"}), Bulk("# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"));
  EXPECT_EQ(r.Do({"FLUSHALL"}), kOk);
  EXPECT_EQ(r.Do({"INFO", "keyspace"}), Bulk("# Keyspace\r\n"));
  EXPECT_GE(r.k->stats.expired, 4u);
}

TEST(GuestResp, WrittenDataAndExpiriesSurviveARestart) {
  MemDisk d(8192);
  string bin("\0\r\n\xfe", 4);
  {
    Resp r;
    ASSERT_EQ(r.Attach(d), KVLOG_OK);
    EXPECT_EQ(r.Do({"SET", bin, string(KV_VALUE_MAX, '\0')}), kOk);
    EXPECT_EQ(r.Do({"SET", "ttl", "v", "PX", "5000"}), kOk);  // deadline: store time 5000
    EXPECT_EQ(r.Do({"SET", "short", "v", "PX", "10"}), kOk);
    EXPECT_EQ(r.Do({"MSET", "a", "1", "b", "2", "c", "3"}), kOk);
    EXPECT_EQ(r.Do({"INCRBY", "a", "99"}), Int(100));
    EXPECT_EQ(r.Do({"DEL", "b"}), Int(1));
    EXPECT_EQ(r.Do({"APPEND", "c", "33"}), Int(3));
    r.now += 1000;
    EXPECT_EQ(r.Do({"GET", "short"}), kNil);  // expired: the deletion is logged
    EXPECT_EQ(r.Do({"SET", "gone", "x"}), kOk);
    EXPECT_EQ(r.Send(Cmd({"SET", "uncommitted", "x"}), false), kOk);  // crash before commit
  }
  Resp r;
  r.now = 123;  // a new boot: the guest clock starts again
  ASSERT_EQ(r.Attach(d), KVLOG_OK);
  EXPECT_EQ(r.k->nkeys, 5u);  // bin, ttl, a, c, gone
  EXPECT_EQ(r.Do({"GET", bin}), Bulk(string(KV_VALUE_MAX, '\0')));
  EXPECT_EQ(r.Do({"MGET", "a", "b", "c", "short", "uncommitted"}),
            "*5\r\n" + Bulk("100") + kNil + Bulk("333") + kNil + kNil);
  // the store clock resumed at the last logged time (1000 ms after the first write): 4000 ms
  // of "ttl" are left
  r.now += 3999;
  EXPECT_EQ(r.Do({"EXISTS", "ttl"}), Int(1));
  r.now += 2;
  EXPECT_EQ(r.Do({"EXISTS", "ttl"}), Int(0));
  EXPECT_EQ(r.Do({"FLUSHDB"}), kOk);
  EXPECT_EQ(r.Do({"SET", "after", "flush", "EX", "100"}), kOk);
  Resp again;
  ASSERT_EQ(again.Attach(d), KVLOG_OK);
  EXPECT_EQ(again.k->nkeys, 1u);
  EXPECT_EQ(again.k->nexpires, 1u);
  EXPECT_EQ(again.Do({"GET", "after"}), Bulk("flush"));
}

TEST(GuestResp, CompactionKeepsBinaryValuesAndExpiries) {
  MemDisk d(600);  // ~150 KiB regions: compactions every few hundred SETs
  string big(400, '\x01');
  {
    Resp r;
    ASSERT_EQ(r.Attach(d), KVLOG_OK);
    EXPECT_EQ(r.Do({"SET", "exp", "v", "EX", "100"}), kOk);
    EXPECT_EQ(r.Do({"SET", "udp", "plain"}), kOk);
    for (int i = 0; i < 3000; i++) {
      ASSERT_EQ(r.Do({"SET", "k" + std::to_string(i % 50), big + std::to_string(i)}), kOk) << i;
      r.now += 10;
    }
    EXPECT_GE(r.log->compactions, 3u);
  }
  Resp r;
  ASSERT_EQ(r.Attach(d), KVLOG_OK);
  EXPECT_EQ(r.k->nkeys, 52u);
  EXPECT_EQ(r.Do({"GET", "k7"}), Bulk(big + "2957"));
  EXPECT_EQ(r.Do({"GET", "udp"}), Bulk("plain"));
  // the last write was logged at store time 29990: 70010 ms of the 100 s TTL are left
  r.now += 70010;
  EXPECT_EQ(r.Do({"EXISTS", "exp"}), Int(1));
  r.now += 1;
  EXPECT_EQ(r.Do({"EXISTS", "exp"}), Int(0));
}

TEST(GuestResp, TableFullAndDiskFull) {
  Resp r;
  for (int i = 0; i < KV_MAX_KEYS; i++)
    ASSERT_EQ(r.Do({"SET", "k" + std::to_string(i), "v"}), kOk);
  const string full = "-ERR ftd kv is full (max 1024 keys)\r\n";
  EXPECT_EQ(r.Do({"SET", "one-more", "v"}), full);
  EXPECT_EQ(r.Do({"INCR", "one-more"}), full);
  EXPECT_EQ(r.Do({"APPEND", "one-more", "x"}), full);
  EXPECT_EQ(r.Do({"MSET", "k1", "x", "one-more", "v"}), full);
  EXPECT_EQ(r.Do({"GET", "k1"}), Bulk("v"));  // all or nothing
  EXPECT_EQ(r.Do({"SET", "k5", "replaced"}), kOk);
  // expired keys make room
  EXPECT_EQ(r.Do({"SET", "k6", "v", "PX", "1"}), kOk);
  r.now += 2;
  EXPECT_EQ(r.Do({"SET", "one-more", "v"}), kOk);
  EXPECT_EQ(r.Do({"EXISTS", "k6"}), Int(0));

  MemDisk d(KVLOG_MIN_SECTORS);  // 15.5 KiB regions
  Resp s;
  ASSERT_EQ(s.Attach(d), KVLOG_OK);
  int ok = 0, diskfull = 0;
  for (int i = 0; i < 100; i++) {
    string rep = s.Do({"SET", "key" + std::to_string(i), string(400, 'v')});
    if (rep == kOk) ok++;
    if (rep == "-ERR ftd kv disk full (the log has no room left)\r\n") diskfull++;
  }
  EXPECT_GT(ok, 10);
  EXPECT_GT(diskfull, 0);
  EXPECT_EQ(ok + diskfull, 100);
  EXPECT_EQ(s.Do({"GET", "key0"}), Bulk(string(400, 'v')));
  EXPECT_EQ(s.Do({"MSET", "x", string(400, 'v'), "y", string(400, 'v')}),
            "-ERR ftd kv disk full (the log has no room left)\r\n");
  EXPECT_EQ(s.Do({"EXISTS", "x", "y"}), Int(0));
  Resp again;
  ASSERT_EQ(again.Attach(d), KVLOG_OK);
  EXPECT_EQ(again.k->nkeys, s.k->nkeys);
  EXPECT_EQ(static_cast<int>(again.k->nkeys), ok);
}

TEST(GuestResp, DiskErrorIsFatal) {
  MemDisk d(1024);
  Resp r;
  ASSERT_EQ(r.Attach(d), KVLOG_OK);
  d.fail_writes_after = 0;
  r.Send(Cmd({"SET", "a", "b"}), false);
  EXPECT_NE(kv_commit(r.k.get()), KVLOG_OK);
  EXPECT_EQ(r.Do({"GET", "a"}), "<fatal>");
}

// The UDP protocol and RESP share the table: RESP-only values are refused over UDP.
TEST(GuestResp, SharedWithTheUdpProtocol) {
  Resp r;
  char out[KV_REPLY_MAX];
  auto udp = [&](const string& req) {
    int n = kv_handle(r.k.get(), reinterpret_cast<const uint8_t*>(req.data()),
                      static_cast<uint32_t>(req.size()), out, sizeof out);
    return n > 0 ? string(out, static_cast<size_t>(n - 1)) : string("<none>");
  };
  EXPECT_EQ(udp("1 1 SET u hello"), "1 1 OK");
  EXPECT_EQ(r.Do({"GET", "u"}), Bulk("hello"));
  EXPECT_EQ(r.Do({"SET", "bin", "a b"}), kOk);
  EXPECT_EQ(udp("1 2 GET bin"), "1 2 ERR unsupported-value");
  EXPECT_EQ(r.Do({"SET", "long", string(300, 'x')}), kOk);
  EXPECT_EQ(udp("1 3 GET long"), "1 3 ERR unsupported-value");
  EXPECT_EQ(r.Do({"SET", "n", "41", "PX", "10"}), kOk);
  EXPECT_EQ(udp("1 4 INCR n"), "1 4 OK 42");
  r.now += 11;
  r.Do({"PING"});  // advances the store clock
  EXPECT_EQ(udp("1 5 GET n"), "1 5 OK 42");  // the UDP INCR dropped the TTL
  EXPECT_EQ(r.Do({"SET", "n", "1", "PX", "10"}), kOk);
  r.now += 11;
  r.Do({"PING"});
  EXPECT_EQ(udp("1 6 GET n"), "1 6 NOTFOUND");
}

TEST(GuestResp, RandomGarbageNeverCrashesAndRecoversTheSameState) {
  MemDisk d(4096);
  std::mt19937 rng(11);
  const std::vector<string> words = {"SET", "GET", "INCR", "DEL",  "MSET", "MGET", "APPEND",
                                     "EX",  "PX",  "NX",   "XX",   "k",    "k2",   "1",
                                     "-1",  "0",   "*2",   "$3",   "\r\n", "\"",   "'",
                                     "FLUSHDB", "DBSIZE", "INFO", "QUIT", "*", "$", "9999999999"};
  uint32_t keys = 0;
  {
    Resp r;
    ASSERT_EQ(r.Attach(d), KVLOG_OK);
    for (int i = 0; i < 20000; i++) {
      string in;
      int n = static_cast<int>(rng() % 8);
      if (rng() % 2) {
        std::vector<string> args;
        for (int k = 0; k < n + 1; k++) args.push_back(words[rng() % words.size()]);
        in = Cmd(args);
        if (rng() % 4 == 0 && !in.empty()) in[rng() % in.size()] = static_cast<char>(rng());
      } else {
        for (int k = 0; k < n; k++) in += words[rng() % words.size()] + (rng() % 4 ? " " : "");
        in += rng() % 3 ? "\r\n" : "";
        if (rng() % 5 == 0)
          for (int k = static_cast<int>(rng() % 8); k > 0; k--) in += static_cast<char>(rng());
      }
      string out = r.Send(in, i % 20 == 0);
      ASSERT_NE(out, "<fatal>");
      if (r.c.close || r.pending.size() > 4 * RESP_REQUEST_MAX) {
        resp_conn_init(&r.c);  // a new connection
        r.pending.clear();
      }
      r.now += rng() % 50;
    }
    ASSERT_EQ(kv_commit(r.k.get()), KVLOG_OK);
    keys = r.k->nkeys;
    EXPECT_EQ(resp_stats.reply_overflows, 0u);
  }
  Resp again;
  ASSERT_EQ(again.Attach(d), KVLOG_OK);
  EXPECT_EQ(again.k->nkeys, keys);
}

}  // namespace
