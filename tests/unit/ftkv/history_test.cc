#include "tools/ftkv/history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

namespace ftd::ftkv {
namespace {

HistoryRecord Rec(Op op, std::string key, std::string arg, int64_t s, int64_t r, Status st,
                  std::string value, bool pending = false) {
  HistoryRecord h;
  h.client = 7;
  h.seq = 100;
  h.op = op;
  h.key = std::move(key);
  h.arg = std::move(arg);
  h.send_ns = s;
  h.reply_ns = r;
  h.status = st;
  h.value = std::move(value);
  h.pending = pending;
  return h;
}

TEST(FtkvHistoryTest, LineFormatIsExactlyAsDocumented) {
  EXPECT_EQ(FormatRecord(Rec(Op::kSet, "k1", "v7.3", 1000, 2000, Status::kOk, "")),
            "7 100 SET k1 v7.3 1000 2000 OK");
  EXPECT_EQ(FormatRecord(Rec(Op::kGet, "k1", "", 1000, 2000, Status::kOk, "v7.3")),
            "7 100 GET k1 - 1000 2000 OK v7.3");
  EXPECT_EQ(FormatRecord(Rec(Op::kGet, "k1", "", 1000, 2000, Status::kNotFound, "")),
            "7 100 GET k1 - 1000 2000 NOTFOUND");
  EXPECT_EQ(FormatRecord(Rec(Op::kIncr, "c1", "", 1000, 0, Status::kOk, "", true)),
            "7 100 INCR c1 - 1000 - PENDING");
  EXPECT_EQ(FormatRecord(Rec(Op::kDel, "k1", "", 1000, 1000, Status::kErr, "bad thing")),
            "7 100 DEL k1 - 1000 1000 ERR bad thing");
}

TEST(FtkvHistoryTest, RoundTrips) {
  for (const HistoryRecord& h : {
           Rec(Op::kSet, "k1", "v7.3", 1000, 2000, Status::kOk, ""),
           Rec(Op::kGet, "k1", "", 1000, 2000, Status::kOk, "v7.3"),
           Rec(Op::kGet, "k1", "", 1000, 2000, Status::kNotFound, ""),
           Rec(Op::kIncr, "c1", "", 5, 9, Status::kOk, "12"),
           Rec(Op::kIncr, "c1", "", 5, 0, Status::kOk, "", true),
           Rec(Op::kDel, "k1", "", 5, 9, Status::kErr, "two words"),
       }) {
    auto back = ParseRecord(FormatRecord(h));
    ASSERT_TRUE(back.ok()) << FormatRecord(h) << ": " << back.status();
    EXPECT_EQ(*back, h) << FormatRecord(h);
  }
}

TEST(FtkvHistoryTest, ParserRejectsBrokenLines) {
  for (const char* bad : {
           "7 100 SET k1 v 2000 1000 OK",          // reply before send
           "7 100 SET k1 v 1000 2000 PENDING",     // pending with a reply time
           "7 100 SET k1 v 1000 - OK",             // answered without a reply time
           "7 100 SET k1 1000 2000 OK",            // SET needs its value
           "7 100 GET k1 x 1000 2000 OK v",        // GET has no argument
           "7 100 INCR c1 - 1000 2000 OK seven",   // INCR result must be decimal
           "7 100 GET k1 - 1000 2000 NOTFOUND v",  // NOTFOUND has no value
           "7 100 GET k1 - 1000 2000 ERR",         // ERR needs a reason
           "7 100 GET k1 - 1000 2000 MAYBE",
           "7 100 GET k1 - 1000",
           "0 100 GET k1 - 1000 2000 NOTFOUND",
       }) {
    EXPECT_FALSE(ParseRecord(bad).ok()) << bad;
  }
}

TEST(FtkvHistoryTest, HistoryNamesTheBadLineAndRefusesDuplicateIds) {
  auto h = ParseHistory("# ftkv-history v1\n\n7 1 GET k - 1 2 NOTFOUND\n7 2 GET k - 1 x OK v\n");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(std::string(h.status().message()).find("line 4"), std::string::npos) << h.status();
  h = ParseHistory("7 1 GET k - 1 2 NOTFOUND\n7 1 GET k - 3 4 NOTFOUND\n");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(std::string(h.status().message()).find("appears twice"), std::string::npos);
  h = ParseHistory("7 1 GET k - 1 2 NOTFOUND\r\n7 2 GET k - 3 4 NOTFOUND");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[1].line, 2);
}

TEST(FtkvHistoryTest, WriterAndReaderAgree) {
  char path[] = "/tmp/ftkv-history-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::vector<HistoryRecord> recs = {
      Rec(Op::kSet, "k1", "v7.3", 1000, 2000, Status::kOk, ""),
      Rec(Op::kGet, "k1", "", 1500, 0, Status::kOk, "", true),
  };
  recs[1].seq = 101;
  {
    HistoryWriter w;
    ASSERT_TRUE(w.Open(path, "test=1").ok());
    for (const auto& r : recs) ASSERT_TRUE(w.Append(r).ok());
    ASSERT_TRUE(w.Close().ok());
  }
  auto back = ReadHistoryFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0], recs[0]);
  EXPECT_EQ((*back)[1], recs[1]);
  EXPECT_EQ((*back)[0].line, 2);  // after the header
  std::remove(path);
  EXPECT_EQ(ReadHistoryFile("/nonexistent/ftkv-history").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftd::ftkv
