#include "tools/ftkv/protocol.h"

#include <gtest/gtest.h>

#include "tools/ftkv/kv_store.h"

namespace ftd::ftkv {
namespace {

TEST(FtkvProtocolTest, RequestRoundTripsForEveryOp) {
  for (Op op : {Op::kSet, Op::kGet, Op::kIncr, Op::kDel}) {
    Request r{4294967295u, 18446744073709551615ull, op, "a.B_c:d-9", op == Op::kSet ? "v!~x" : ""};
    std::string d = FormatRequest(r);
    auto back = ParseRequest(d);
    ASSERT_TRUE(back.ok()) << d << ": " << back.status();
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(FormatRequest({7, 12, Op::kSet, "k", "v"}), "7 12 SET k v");
  EXPECT_EQ(FormatRequest({7, 12, Op::kIncr, "c0", ""}), "7 12 INCR c0");
}

TEST(FtkvProtocolTest, RequestParserRejectsWhatTheProtocolForbids) {
  for (const char* bad : {
           "0 1 GET k",           // client 0
           "4294967296 1 GET k",  // client > 2^32-1
           "+1 1 GET k",
           "1 -1 GET k",                    // signs
           "1 18446744073709551616 GET k",  // request-no overflow
           "1 1 PUT k",
           "1 1 get k",  // unknown op (case matters)
           "1 1 GET",
           "1 1 SET k",
           "1 1 GET k extra",
           "1 1 SET k v extra",
           "1 1 GET k/1",
           "1 1 GET ",
           "1  1 GET k",
       }) {
    EXPECT_FALSE(ParseRequest(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseRequest("1 1 GET " + std::string(65, 'k')).ok());
  EXPECT_TRUE(ParseRequest("1 1 GET " + std::string(64, 'k')).ok());
  EXPECT_FALSE(ParseRequest("1 1 SET k " + std::string(201, 'v')).ok());
  EXPECT_TRUE(ParseRequest("1 1 SET k " + std::string(200, 'v')).ok());
  EXPECT_FALSE(ParseRequest(std::string("1 1 SET k v\x7f", 12)).ok());
  EXPECT_TRUE(ParseRequest("1 1 GET k\n").ok());
}

TEST(FtkvProtocolTest, ReplyParsing) {
  auto r = ParseReply("3 9 OK 42\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Reply{3, 9, Status::kOk, "42"}));
  EXPECT_EQ(*ParseReply("3 9 OK"), (Reply{3, 9, Status::kOk, ""}));
  EXPECT_EQ(*ParseReply("3 9 NOTFOUND"), (Reply{3, 9, Status::kNotFound, ""}));
  EXPECT_EQ(*ParseReply("3 9 ERR stale-request"), (Reply{3, 9, Status::kErr, "stale-request"}));
  EXPECT_EQ(*ParseReply("3 9 ERR two words\r\n"), (Reply{3, 9, Status::kErr, "two words"}));
  for (const char* bad : {"3 9", "3 9 MAYBE", "3 9 NOTFOUND x", "3 9 ERR", "x 9 OK", "3 9 OK a b",
                          "0 9 OK", "", "3 9 OK "}) {
    EXPECT_FALSE(ParseReply(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatReply({3, 9, Status::kOk, "42"}), "3 9 OK 42");
  EXPECT_EQ(FormatReply({3, 9, Status::kNotFound, ""}), "3 9 NOTFOUND");
  EXPECT_EQ(ReplyText({3, 9, Status::kOk, "42"}), "OK 42");
  EXPECT_EQ(ReplyText({3, 9, Status::kErr, "no way"}), "ERR no way");
}

TEST(FtkvProtocolTest, ReplyShapesPerOp) {
  EXPECT_EQ(ReplyShapeProblem(Op::kSet, {1, 1, Status::kOk, ""}), "");
  EXPECT_NE(ReplyShapeProblem(Op::kSet, {1, 1, Status::kOk, "x"}), "");
  EXPECT_NE(ReplyShapeProblem(Op::kSet, {1, 1, Status::kNotFound, ""}), "");
  EXPECT_EQ(ReplyShapeProblem(Op::kGet, {1, 1, Status::kNotFound, ""}), "");
  EXPECT_NE(ReplyShapeProblem(Op::kGet, {1, 1, Status::kOk, ""}), "");
  EXPECT_EQ(ReplyShapeProblem(Op::kIncr, {1, 1, Status::kOk, "7"}), "");
  EXPECT_NE(ReplyShapeProblem(Op::kIncr, {1, 1, Status::kOk, "x7"}), "");
  EXPECT_NE(ReplyShapeProblem(Op::kIncr, {1, 1, Status::kNotFound, ""}), "");
  EXPECT_EQ(ReplyShapeProblem(Op::kDel, {1, 1, Status::kNotFound, ""}), "");
  EXPECT_EQ(ReplyShapeProblem(Op::kIncr, {1, 1, Status::kErr, "not-a-counter"}), "");
}

TEST(FtkvProtocolTest, DecimalAndSplitHelpers) {
  EXPECT_EQ(ParseDecimalU64("0"), 0u);
  EXPECT_EQ(ParseDecimalU64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseDecimalU64("18446744073709551616"));
  EXPECT_FALSE(ParseDecimalU64(""));
  EXPECT_FALSE(ParseDecimalU64(" 1"));
  auto f = SplitFields("a b c d", ' ', 3);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[2], "c d");
  EXPECT_EQ(SplitFields("", ' ').size(), 1u);
}

TEST(FtkvKvStoreTest, SemanticsAndExactlyOnce) {
  KvStore s;
  EXPECT_EQ(s.Apply({1, 1, Op::kGet, "k", ""}), (Reply{1, 1, Status::kNotFound, ""}));
  EXPECT_EQ(s.Apply({1, 2, Op::kSet, "k", "v"}), (Reply{1, 2, Status::kOk, ""}));
  EXPECT_EQ(s.Apply({1, 3, Op::kGet, "k", ""}), (Reply{1, 3, Status::kOk, "v"}));
  EXPECT_EQ(s.Apply({1, 4, Op::kIncr, "c", ""}), (Reply{1, 4, Status::kOk, "1"}));
  // A retry of the last request is answered again without applying it again.
  EXPECT_EQ(s.Apply({1, 4, Op::kIncr, "c", ""}), (Reply{1, 4, Status::kOk, "1"}));
  EXPECT_EQ(s.Apply({2, 1, Op::kIncr, "c", ""}), (Reply{2, 1, Status::kOk, "2"}));
  EXPECT_EQ(s.Apply({1, 3, Op::kGet, "k", ""}), (Reply{1, 3, Status::kErr, "stale-request"}));
  EXPECT_EQ(s.Apply({1, 5, Op::kIncr, "k", ""}).status, Status::kErr);  // "v" is not a counter
  EXPECT_EQ(s.Apply({1, 6, Op::kDel, "k", ""}), (Reply{1, 6, Status::kOk, ""}));
  EXPECT_EQ(s.Apply({1, 7, Op::kDel, "k", ""}), (Reply{1, 7, Status::kNotFound, ""}));
  EXPECT_EQ(s.ApplyDatagram("5 6 FROB k"), "5 6 ERR bad-request");
  EXPECT_EQ(s.ApplyDatagram("junk"), "0 0 ERR bad-request");
  EXPECT_EQ(s.ApplyDatagram("5 7 SET k v\n"), "5 7 OK");
}

}  // namespace
}  // namespace ftd::ftkv
