#include "replay/log_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

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
      EXPECT_TRUE(!err.ok() || n != 3)
          << "flip at byte " << i << " bit " << bit << " went unnoticed";
    }
  }
}

TEST(LogFileTest, ClearErrorsForWrongVersionMagicAndSize) {
  auto log = MakeLog(1);
  auto v = log;
  v[8] = static_cast<uint8_t>(kLogFormatVersion + 1);
  auto r = LogReader::Open(v, "v.log");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status().message())
                .find("version " + std::to_string(kLogFormatVersion + 1)),
            std::string::npos);
  auto m = log;
  m[0] = 'X';
  EXPECT_NE(std::string(LogReader::Open(m, "m").status().message()).find("not an ftd log"),
            std::string::npos);
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

// --- Torn tail vs. damaged log -----------------------------------------------------------

// A log of `entries` entries of every kind and of varied sizes, and where each frame starts.
struct Layout {
  std::vector<uint8_t> bytes;
  size_t header_end = 0;      // the first entry's frame
  std::vector<size_t> start;  // start[k]: entry k+1's frame
  std::vector<uint32_t> len;  // its payload length
};

Layout MakeVariedLog(int entries) {
  Layout l;
  l.bytes = EncodeFileHeader();
  auto append = [&l](const google::protobuf::MessageLite& m) {
    auto f = EncodeFrame(m);
    l.bytes.insert(l.bytes.end(), f.begin(), f.end());
    return f.size() - kLogFrameHeaderSize;
  };
  append(Header());
  l.header_end = l.bytes.size();
  for (int i = 1; i <= entries; ++i) {
    proto::LogEntry e;
    e.set_seq(static_cast<uint64_t>(i));
    e.set_exit_index(static_cast<uint64_t>(i) * 3);
    switch (i % 6) {
      case 0:
        e.mutable_clock()->set_monotonic_ns(1000u * i);
        break;
      case 1:
        e.mutable_serial()->set_data(std::string(static_cast<size_t>(i % 9 + 1), 'a'));
        break;
      case 2: {
        auto* b = e.mutable_block();
        b->set_request_id(static_cast<uint64_t>(i));
        b->set_data(
            std::string(static_cast<size_t>(64 + i), '\0'));  // zeros: like a read of a fresh disk
        break;
      }
      case 3:
        e.mutable_net()->set_frame(std::string(static_cast<size_t>(40 + i), static_cast<char>(i)));
        break;
      case 4: {
        auto* ep = e.mutable_epoch();
        ep->set_guest_ns(1000u * i);
        ep->set_regs(std::string(128, '\0'));
        ep->add_page_numbers(static_cast<uint64_t>(i));
        ep->add_page_hashes(0x0123456789abcdefull * static_cast<uint64_t>(i));
        break;
      }
      case 5:
        e.mutable_clock()->set_realtime(true);
        e.mutable_clock()->set_realtime_ns(7 * i);
        break;
    }
    if (i == entries) e.mutable_end()->set_guest_exited(true);
    l.start.push_back(l.bytes.size());
    l.len.push_back(static_cast<uint32_t>(append(e)));
  }
  return l;
}

// Reads `bytes` to the end: the entries returned before the error, and the error.
int ReadBytes(const std::vector<uint8_t>& bytes, absl::Status* error) {
  auto r = LogReader::Open(bytes, "log.bin");
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return -1;
  *error = absl::OkStatus();
  return ReadAll(*r, error);
}

std::string Names(size_t k, const Layout& l) {  // "entry K at offset X" for entry index k (0-based)
  return absl::StrCat("entry ", k + 1, " at offset ", l.start[k], " ");
}

constexpr int kEntries = 50;

// Checks what reading a log damaged in entry k (0-based) gives: the k entries before it,
// then a torn tail when k is the last entry, else a damaged log naming entry k+1 and its offset.
void ExpectDamageClassified(const std::vector<uint8_t>& bytes, const Layout& l, size_t k,
                            const std::string& how) {
  absl::Status err;
  int n = ReadBytes(bytes, &err);
  const bool last = k + 1 == l.start.size();
  EXPECT_EQ(n, static_cast<int>(k)) << how;
  ASSERT_FALSE(err.ok()) << how << ": went unnoticed";
  EXPECT_EQ(err.code(), absl::StatusCode::kDataLoss) << how << ": " << err;
  EXPECT_EQ(IsTornTail(err), last) << how << ": " << err;
  EXPECT_EQ(IsDamagedLog(err), !last) << how << ": " << err;
  const std::string msg(err.message());
  EXPECT_NE(msg.find(Names(k, l)), std::string::npos) << how << ": " << err;
  EXPECT_NE(msg.find(last ? "torn tail" : "damaged, not torn"), std::string::npos)
      << how << ": " << err;
}

TEST(LogTailTest, TheVariedLogReadsCleanly) {
  Layout l = MakeVariedLog(kEntries);
  absl::Status err;
  EXPECT_EQ(ReadBytes(l.bytes, &err), kEntries);
  EXPECT_TRUE(err.ok()) << err;
  ASSERT_EQ(l.start.size(), static_cast<size_t>(kEntries));
  EXPECT_EQ(l.start.back() + kLogFrameHeaderSize + l.len.back(), l.bytes.size());
}

TEST(LogTailTest, ABitFlipInAnyEntrysPayloadIsDamageUnlessItIsTheLastEntry) {
  Layout l = MakeVariedLog(kEntries);
  for (size_t k = 0; k < l.start.size(); ++k) {
    const size_t payload = l.start[k] + kLogFrameHeaderSize;
    for (size_t b = 0; b < l.len[k]; ++b) {
      // Every byte of the payload; every bit of its first and last byte.
      const bool edge = b == 0 || b + 1 == l.len[k];
      for (int bit = 0; bit < 8; ++bit) {
        if (!edge && bit != static_cast<int>(b % 8)) continue;
        auto copy = l.bytes;
        copy[payload + b] ^= static_cast<uint8_t>(1u << bit);
        ExpectDamageClassified(copy, l, k,
                               absl::StrCat("entry ", k + 1, " payload byte ", b, " bit ", bit));
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

TEST(LogTailTest, ABitFlipInAnyEntrysLengthOrCrcIsDamageUnlessItIsTheLastEntry) {
  Layout l = MakeVariedLog(kEntries);
  for (size_t k = 0; k < l.start.size(); ++k) {
    for (size_t field = 0; field < 2; ++field) {  // 0: length, 1: CRC
      for (int bit = 0; bit < 32; ++bit) {
        auto copy = l.bytes;
        copy[l.start[k] + field * 4 + static_cast<size_t>(bit / 8)] ^=
            static_cast<uint8_t>(1u << (bit % 8));
        ExpectDamageClassified(
            copy, l, k,
            absl::StrCat("entry ", k + 1, field == 0 ? " length" : " CRC", " bit ", bit));
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

TEST(LogTailTest, EveryCutIsATornTailThatKeepsEveryCompleteEntry) {
  Layout l = MakeVariedLog(kEntries);
  std::vector<size_t> ends;
  for (size_t k = 0; k < l.start.size(); ++k)
    ends.push_back(l.start[k] + kLogFrameHeaderSize + l.len[k]);
  int torn = 0;
  // Every byte offset of the file after the header frame: inside the last frame, and inside
  // every earlier frame (nothing follows a cut, so it is torn wherever it falls).
  for (size_t cut = l.header_end; cut < l.bytes.size(); ++cut) {
    std::vector<uint8_t> part(l.bytes.begin(), l.bytes.begin() + static_cast<long>(cut));
    absl::Status err;
    const int n = ReadBytes(part, &err);
    const int complete =
        static_cast<int>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    ASSERT_EQ(n, complete) << "cut at " << cut;
    const bool boundary =
        cut == l.header_end || std::find(ends.begin(), ends.end(), cut) != ends.end();
    if (boundary) {
      EXPECT_TRUE(err.ok()) << "cut at " << cut << ": " << err;
      continue;
    }
    ++torn;
    ASSERT_FALSE(err.ok()) << "cut at " << cut;
    EXPECT_EQ(err.code(), absl::StatusCode::kDataLoss) << err;
    EXPECT_TRUE(IsTornTail(err)) << "cut at " << cut << ": " << err;
    EXPECT_FALSE(IsDamagedLog(err)) << err;
    EXPECT_NE(std::string(err.message()).find("truncated"), std::string::npos) << err;
    EXPECT_NE(std::string(err.message()).find(Names(static_cast<size_t>(complete), l)),
              std::string::npos)
        << err;
  }
  EXPECT_EQ(torn, static_cast<int>(l.bytes.size() - l.header_end) - kEntries);
}

TEST(LogTailTest, ACutInsideTheLastFrameKeepsTheEntriesBeforeIt) {
  Layout l = MakeVariedLog(kEntries);
  const size_t last = l.start.back();
  for (size_t cut = last + 1; cut < l.bytes.size(); ++cut) {
    std::vector<uint8_t> part(l.bytes.begin(), l.bytes.begin() + static_cast<long>(cut));
    absl::Status err;
    ASSERT_EQ(ReadBytes(part, &err), kEntries - 1) << cut;
    EXPECT_TRUE(IsTornTail(err)) << cut << ": " << err;
  }
}

TEST(LogTailTest, ZerosAfterTheLastEntryAreATornTailZerosOverAnEntryAreDamage) {
  Layout l = MakeVariedLog(kEntries);
  // A crash can leave the file longer than what reached the disk, the rest zeros.
  for (size_t zeros : {1u, 7u, 8u, 9u, 16u, 4096u}) {
    auto copy = l.bytes;
    copy.resize(copy.size() + zeros, 0);
    absl::Status err;
    EXPECT_EQ(ReadBytes(copy, &err), kEntries) << zeros;
    EXPECT_TRUE(IsTornTail(err)) << zeros << ": " << err;
  }
  // The last frame's bytes zeroed, and a torn zeroed frame: torn. An earlier frame zeroed: damaged.
  for (size_t k : {size_t{0}, size_t{1}, size_t{24}, size_t{kEntries - 2}, size_t{kEntries - 1}}) {
    auto copy = l.bytes;
    std::fill(copy.begin() + static_cast<long>(l.start[k]),
              copy.begin() + static_cast<long>(l.start[k] + kLogFrameHeaderSize + l.len[k]), 0);
    ExpectDamageClassified(copy, l, k, absl::StrCat("entry ", k + 1, " zeroed"));
  }
}

TEST(LogTailTest, AnIntactEntryOutOfOrderIsDamageEvenAtTheEnd) {
  Layout l = MakeVariedLog(3);
  std::vector<uint8_t> prefix(l.bytes.begin(), l.bytes.begin() + static_cast<long>(l.start[2]));
  auto with_last = [&](uint64_t seq, uint64_t exit) {
    auto b = prefix;
    proto::LogEntry e;
    e.set_seq(seq);
    e.set_exit_index(exit);
    e.mutable_clock()->set_monotonic_ns(5);
    auto f = EncodeFrame(e);
    b.insert(b.end(), f.begin(), f.end());
    return b;
  };
  for (auto [seq, exit, words] :
       {std::tuple<uint64_t, uint64_t, const char*>{2, 9, "sequence number 2"},
        {4, 9, "sequence number 4"},
        {3, 5, "goes back to exit 5 from exit 6"}}) {
    absl::Status err;
    EXPECT_EQ(ReadBytes(with_last(seq, exit), &err), 2) << words;
    EXPECT_FALSE(IsTornTail(err)) << err;
    EXPECT_TRUE(IsDamagedLog(err)) << err;
    EXPECT_EQ(err.code(), absl::StatusCode::kDataLoss) << err;
    EXPECT_NE(std::string(err.message()).find(words), std::string::npos) << err;
    EXPECT_NE(std::string(err.message()).find(Names(2, l)), std::string::npos) << err;
  }
  absl::Status err;
  EXPECT_EQ(ReadBytes(with_last(3, 6), &err), 3);
  EXPECT_TRUE(err.ok()) << err;
}

TEST(LogTailTest, TheErrorSticksAndOnlyTheReadersOwnErrorsAreTorn) {
  Layout l = MakeVariedLog(10);
  auto copy = l.bytes;
  copy[l.start[4] + kLogFrameHeaderSize] ^= 1;
  auto r = LogReader::Open(copy, "log.bin");
  ASSERT_TRUE(r.ok());
  absl::Status first;
  EXPECT_EQ(ReadAll(*r, &first), 4);
  EXPECT_TRUE(IsDamagedLog(first));
  auto again = r->Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status(), first);
  EXPECT_EQ(r->offset(), l.start[4]);

  EXPECT_FALSE(IsTornTail(absl::OkStatus()));
  EXPECT_FALSE(
      IsTornTail(absl::DataLossError("log.bin: truncated entry 3 (a torn tail)")));  // no payload
  EXPECT_FALSE(IsDamagedLog(absl::DataLossError("damaged, not torn")));
  // The file header or header frame cut short is refused at Open, not a torn tail.
  std::vector<uint8_t> short_header(l.bytes.begin(),
                                    l.bytes.begin() + static_cast<long>(l.header_end - 1));
  auto o = LogReader::Open(short_header, "log.bin");
  ASSERT_FALSE(o.ok());
  EXPECT_FALSE(IsTornTail(o.status()));
  // A torn tail rebuilt with a new code is not one any more.
  std::vector<uint8_t> cut(l.bytes.begin(), l.bytes.end() - 1);
  absl::Status torn;
  ReadBytes(cut, &torn);
  ASSERT_TRUE(IsTornTail(torn));
  absl::Status rebuilt(absl::StatusCode::kInternal, torn.message());
  EXPECT_FALSE(IsTornTail(rebuilt));
}

TEST(LogTailTest, GarbageTailsAreScannedInLinearTime) {
  Layout l = MakeVariedLog(kEntries);
  std::mt19937 rng(42);
  // Random bytes after the last entry: a torn tail, found without CRC-ing 16 MiB at every offset.
  auto tail = l.bytes;
  for (int i = 0; i < (16 << 20); ++i) tail.push_back(static_cast<uint8_t>(rng()));
  auto t0 = std::chrono::steady_clock::now();
  absl::Status err;
  EXPECT_EQ(ReadBytes(tail, &err), kEntries);
  EXPECT_TRUE(IsTornTail(err)) << err;
  // Random bytes over the first entry (its length over the limit), intact entries after it:
  // damaged, and the scan stops at the next entry.
  auto damaged = tail;
  const size_t frame_end = l.start[0] + kLogFrameHeaderSize + l.len[0];
  for (size_t i = l.start[0]; i < frame_end; ++i) damaged[i] = static_cast<uint8_t>(rng());
  damaged[l.start[0]] = 0xff;  // its length over the limit
  damaged[l.start[0] + 3] = 0xff;
  EXPECT_EQ(ReadBytes(damaged, &err), 0);
  EXPECT_TRUE(IsDamagedLog(err)) << err;
  EXPECT_NE(std::string(err.message()).find(absl::StrCat("the next at offset ", l.start[1])),
            std::string::npos)
      << err;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0) << "scanning 16 MiB of garbage took " << s << " s";
}

}  // namespace
}  // namespace ftd::replay
