#include "replay/log_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace ftd::replay {
namespace {

proto::LogHeader Header() {
  proto::LogHeader h;
  h.set_format_version(kLogFormatVersion);
  h.mutable_config()->set_mem_size(64 << 20);
  h.mutable_config()->set_cmdline("ticks=3");
  return h;
}

// A small log in memory: header + entries at exits 1, 1, 5, ...
std::vector<uint8_t> MakeLog(int entries) {
  std::vector<uint8_t> bytes = EncodeFileHeader();
  auto append = [&bytes](const google::protobuf::MessageLite& m) {
    auto f = EncodeFrame(m);
    bytes.insert(bytes.end(), f.begin(), f.end());
  };
  append(Header());
  for (int i = 1; i <= entries; ++i) {
    proto::LogEntry e;
    e.set_seq(i);
    e.set_exit_index(static_cast<uint64_t>(i / 2) * 4 + 1);
    e.mutable_clock()->set_monotonic_ns(1000u * i);
    append(e);
  }
  return bytes;
}

int ReadAll(LogReader& r, absl::Status* error) {
  int n = 0;
  for (;;) {
    auto e = r.Next();
    if (!e.ok()) {
      *error = e.status();
      return n;
    }
    if (!e->has_value()) return n;
    ++n;
  }
}

TEST(LogFileTest, WriterAndReaderRoundTrip) {
  std::string path = ::testing::TempDir() + "/rt.log." + std::to_string(getpid());
  {
    auto w = LogWriter::Create(path, Header());
    ASSERT_TRUE(w.ok()) << w.status();
    for (int i = 0; i < 1000; ++i) {
      proto::LogEntry e;
      e.set_exit_index(static_cast<uint64_t>(i));
      e.mutable_serial()->set_data(std::string(i % 7, 'x'));
      ASSERT_TRUE((*w)->Append(e).ok());
      EXPECT_EQ(e.seq(), static_cast<uint64_t>(i + 1));
    }
    ASSERT_TRUE((*w)->Flush(true).ok());
  }
  auto r = LogReader::OpenFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header().config().cmdline(), "ticks=3");
  absl::Status err;
  EXPECT_EQ(ReadAll(*r, &err), 1000);
  EXPECT_TRUE(err.ok()) << err;
  unlink(path.c_str());
}

TEST(LogFileTest, TruncationKeepsEveryEarlierEntry) {
  auto full = MakeLog(6);
  auto whole = LogReader::Open(full, "full");
  ASSERT_TRUE(whole.ok());
  std::vector<size_t> ends;  // byte offset after each entry
  for (;;) {
    auto e = whole->Next();
    ASSERT_TRUE(e.ok());
    if (!e->has_value()) break;
    ends.push_back(whole->offset());
  }
  ASSERT_EQ(ends.size(), 6u);
  const size_t header_end = LogReader::Open(full, "full")->offset();
  for (size_t cut = 0; cut < full.size(); ++cut) {
    std::vector<uint8_t> part(full.begin(), full.begin() + static_cast<long>(cut));
    auto r = LogReader::Open(part, "part");
    if (cut < header_end) {
      ASSERT_FALSE(r.ok()) << cut;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << cut << r.status();
      continue;
    }
    ASSERT_TRUE(r.ok()) << cut << r.status();
    absl::Status err;
    int n = ReadAll(*r, &err);
    int complete = static_cast<int>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    EXPECT_EQ(n, complete) << "cut at " << cut;
    bool on_boundary = cut == header_end || std::find(ends.begin(), ends.end(), cut) != ends.end();
    if (on_boundary) {
      EXPECT_TRUE(err.ok()) << cut << err;
    } else {
      EXPECT_EQ(err.code(), absl::StatusCode::kDataLoss) << cut;
      EXPECT_NE(std::string(err.message()).find("truncated"), std::string::npos) << err;
    }
  }
}

TEST(LogFileTest, EveryBitFlipIsDetected) {
  auto full = MakeLog(3);
  for (size_t i = 0; i < full.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = full;
      copy[i] ^= static_cast<uint8_t>(1 << bit);
      auto r = LogReader::Open(copy, "flip");
      if (!r.ok()) continue;
      absl::Status err;
      int n = ReadAll(*r, &err);
      EXPECT_TRUE(!err.ok() || n != 3) << "flip at byte " << i << " bit " << bit << " went unnoticed";
    }
  }
}

TEST(LogFileTest, ClearErrorsForWrongVersionMagicAndSize) {
  auto log = MakeLog(1);
  auto v = log;
  v[8] = 2;
  auto r = LogReader::Open(v, "v.log");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status().message()).find("version 2"), std::string::npos);
  auto m = log;
  m[0] = 'X';
  EXPECT_NE(std::string(LogReader::Open(m, "m").status().message()).find("not an ftd log"), std::string::npos);
  auto big = log;
  big[kLogFileHeaderSize + 3] = 0x7f;  // header frame length ~2 GiB
  EXPECT_EQ(LogReader::Open(big, "b").status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(LogReader::Open({}, "empty").ok());
  EXPECT_EQ(LogReader::OpenFile("/nonexistent/x.log").status().code(), absl::StatusCode::kNotFound);
}

TEST(LogFileTest, SequenceAndExitOrderAreChecked) {
  std::vector<uint8_t> bytes = EncodeFileHeader();
  auto add = [&bytes](const google::protobuf::MessageLite& m) {
    auto f = EncodeFrame(m);
    bytes.insert(bytes.end(), f.begin(), f.end());
  };
  add(Header());
  proto::LogEntry a;
  a.set_seq(1);
  a.set_exit_index(10);
  a.mutable_clock()->set_monotonic_ns(1);
  add(a);
  proto::LogEntry b = a;
  b.set_seq(2);
  b.set_exit_index(9);
  add(b);
  auto r = LogReader::Open(bytes, "order");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Next().ok());
  auto e = r->Next();
  ASSERT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("goes back"), std::string::npos) << e.status();
}

}  // namespace
}  // namespace ftd::replay
