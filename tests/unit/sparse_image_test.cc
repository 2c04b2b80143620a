#include "vmm/sparse_image.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

namespace ftd::vmm {
namespace {

std::vector<uint8_t> Image(size_t size, uint32_t seed, int nonzero_every) {
  std::vector<uint8_t> img(size, 0);
  std::mt19937 rng(seed);
  for (size_t p = 0; p * kSparsePageSize < size; ++p) {
    if (p % nonzero_every != 0) continue;
    const size_t at = p * kSparsePageSize + rng() % std::min(kSparsePageSize, size - p * kSparsePageSize);
    img[at] = static_cast<uint8_t>(1 + rng() % 255);
  }
  return img;
}

TEST(SparseImageTest, RoundTripsAndLeavesZeroPagesOut) {
  const auto img = Image(64 * kSparsePageSize, 1, 5);
  auto enc = EncodeSparse(img);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->pages, 13u);  // pages 0, 5, ..., 60
  EXPECT_EQ(enc->bitmap.size(), 8u);
  std::vector<uint8_t> out(img.size(), 0);
  ASSERT_TRUE(DecodeSparse(enc->bitmap, enc->zstd, out).ok());
  EXPECT_EQ(out, img);
}

TEST(SparseImageTest, AShortLastPageAndAnAllZeroImage) {
  const auto img = Image(10 * kSparsePageSize + 123, 2, 3);  // pages 0, 3, 6, 9 and a short 10th
  std::vector<uint8_t> with_tail = img;
  with_tail.back() = 7;
  auto enc = EncodeSparse(with_tail);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->pages, 5u);
  std::vector<uint8_t> out(with_tail.size(), 0);
  ASSERT_TRUE(DecodeSparse(enc->bitmap, enc->zstd, out).ok());
  EXPECT_EQ(out, with_tail);

  std::vector<uint8_t> zeros(5 * kSparsePageSize, 0);
  auto z = EncodeSparse(zeros);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->pages, 0u);
  EXPECT_FALSE(z->zstd.empty());  // still one (empty) frame
  std::vector<uint8_t> zout(zeros.size(), 0);
  EXPECT_TRUE(DecodeSparse(z->bitmap, z->zstd, zout).ok());
  EXPECT_EQ(zout, zeros);
}

TEST(SparseImageTest, RefusesWhatDoesNotFitTheOutput) {
  const auto img = Image(16 * kSparsePageSize, 3, 2);
  auto enc = EncodeSparse(img);
  ASSERT_TRUE(enc.ok());
  std::vector<uint8_t> out(img.size(), 0);
  // A bitmap of the wrong size, for another size of image.
  EXPECT_EQ(DecodeSparse(enc->bitmap + "x", enc->zstd, out).code(), absl::StatusCode::kDataLoss);
  std::vector<uint8_t> small(8 * kSparsePageSize, 0);
  EXPECT_EQ(DecodeSparse(enc->bitmap, enc->zstd, small).code(), absl::StatusCode::kDataLoss);
  // A bit more or less than the frame holds.
  std::string more = enc->bitmap;
  more[0] = static_cast<char>(more[0] | 2);
  EXPECT_EQ(DecodeSparse(more, enc->zstd, out).code(), absl::StatusCode::kDataLoss);
  // Bits past the last page (a 12-page image has 4 spare bits in its second byte).
  std::vector<uint8_t> twelve(12 * kSparsePageSize, 0);
  auto e12 = EncodeSparse(twelve);
  ASSERT_TRUE(e12.ok());
  std::string past = e12->bitmap;
  past[1] = static_cast<char>(0x80);
  EXPECT_EQ(DecodeSparse(past, e12->zstd, twelve).code(), absl::StatusCode::kDataLoss);
  // A damaged or truncated frame.
  std::string bad = enc->zstd;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x55);
  std::vector<uint8_t> out2(img.size(), 0);
  EXPECT_EQ(DecodeSparse(enc->bitmap, bad, out2).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSparse(enc->bitmap, enc->zstd.substr(0, enc->zstd.size() / 2), out2).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSparse(enc->bitmap, "", out2).code(), absl::StatusCode::kDataLoss);
}


TEST(SparseImageTest, HolesOfAMemfdAndAFileAreNotRead) {
  // A memfd like guest RAM: pages 3 and 9 written through a mapping, the rest never touched.
  const size_t size = 16 * kSparsePageSize;
  const int fd = memfd_create("sparse-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, size), 0);
  auto* mem = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(mem, MAP_FAILED);
  mem[3 * kSparsePageSize + 5] = 1;
  mem[9 * kSparsePageSize] = 2;
  const std::vector<bool> holes = FileHoles(fd, size);
  ASSERT_EQ(holes.size(), 16u);
  for (size_t p = 0; p < 16; ++p) EXPECT_EQ(holes[p], p != 3 && p != 9) << "page " << p;
  auto enc = EncodeSparse({mem, size}, 1, holes);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->pages, 2u);
  // The same bytes as a disk file read through EncodeSparseFile (with a short last page).
  char path[] = "/tmp/ftd-sparse-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  unlink(path);
  ASSERT_EQ(pwrite(file, mem, size, 0), static_cast<ssize_t>(size));
  ASSERT_EQ(ftruncate(file, size + 100), 0);
  auto fenc = EncodeSparseFile(file, size + 100);
  ASSERT_TRUE(fenc.ok()) << fenc.status();
  EXPECT_EQ(fenc->pages, 2u);
  std::vector<uint8_t> out(size + 100, 0);
  ASSERT_TRUE(DecodeSparse(fenc->bitmap, fenc->zstd, out).ok());
  EXPECT_EQ(0, std::memcmp(out.data(), mem, size));
  EXPECT_EQ(out[size + 99], 0);
  munmap(mem, size);
  close(fd);
  close(file);
}

}  // namespace
}  // namespace ftd::vmm
