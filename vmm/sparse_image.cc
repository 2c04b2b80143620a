#include "vmm/sparse_image.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zstd.h"

namespace ftd::vmm {
namespace {

bool IsZero(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= p[i];
  return acc == 0;
}

size_t PageCount(size_t size) { return (size + kSparsePageSize - 1) / kSparsePageSize; }
size_t PageLength(size_t size, size_t page) {
  return std::min(kSparsePageSize, size - page * kSparsePageSize);
}

}  // namespace

namespace {

// The encoder's one pass: `page(p)` gives page p's bytes (or an error); pages known to be zero
// are not asked for. The non-zero pages are gathered, then compressed as one frame (its
// content size and checksum set, so the decoder can check both).
template <typename PageFn>
absl::StatusOr<SparseImage> Encode(uint64_t size, int level, const std::vector<bool>& known_zero,
                                   PageFn page) {
  SparseImage img;
  const size_t pages = PageCount(size);
  img.bitmap.assign((pages + 7) / 8, '\0');
  std::string raw;
  for (size_t p = 0; p < pages; ++p) {
    if (p < known_zero.size() && known_zero[p]) continue;
    absl::StatusOr<std::span<const uint8_t>> bytes = page(p);
    if (!bytes.ok()) return bytes.status();
    if (IsZero(bytes->data(), bytes->size())) continue;
    img.bitmap[p / 8] = static_cast<char>(img.bitmap[p / 8] | (1u << (p % 8)));
    ++img.pages;
    raw.append(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create a context");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);  // a damaged frame is refused, not used
  img.zstd.resize(ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress2(cctx, img.zstd.data(), img.zstd.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
  img.zstd.resize(n);
  return img;
}

}  // namespace

absl::StatusOr<SparseImage> EncodeSparse(std::span<const uint8_t> bytes, int level,
                                         const std::vector<bool>& known_zero) {
  return Encode(bytes.size(), level, known_zero,
                [&](size_t p) -> absl::StatusOr<std::span<const uint8_t>> {
                  return bytes.subspan(p * kSparsePageSize, PageLength(bytes.size(), p));
                });
}

absl::StatusOr<SparseImage> EncodeSparseFile(int fd, uint64_t size, int level) {
  std::vector<uint8_t> buf(kSparsePageSize);
  return Encode(size, level, FileHoles(fd, size),
                [&](size_t p) -> absl::StatusOr<std::span<const uint8_t>> {
                  const size_t len = PageLength(size, p);
                  for (size_t got = 0; got < len;) {
                    const ssize_t r = pread(fd, buf.data() + got, len - got,
                                            static_cast<off_t>(p * kSparsePageSize + got));
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0) return absl::InternalError(absl::StrCat("read: ", strerror(errno)));
                    if (r == 0) {  // past the end: a file shorter than its size reads as zeros
                      std::memset(buf.data() + got, 0, len - got);
                      break;
                    }
                    got += static_cast<size_t>(r);
                  }
                  return std::span<const uint8_t>(buf.data(), len);
                });
}

std::vector<bool> FileHoles(int fd, uint64_t size) {
  const size_t pages = PageCount(size);
  std::vector<bool> zero(pages, true);
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    const off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole from pos to the end
      return {};                  // the file system cannot say: read everything
    }
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return {};
    if (hole <= data) hole = data + 1;
    const size_t first = static_cast<size_t>(data) / kSparsePageSize;
    const size_t last = std::min(pages, (static_cast<size_t>(hole) + kSparsePageSize - 1) / kSparsePageSize);
    for (size_t p = first; p < last; ++p) zero[p] = false;
    pos = hole;
  }
  return zero;
}

absl::Status DecodeSparse(std::string_view bitmap, std::string_view zstd, std::span<uint8_t> out) {
  const size_t pages = PageCount(out.size());
  if (bitmap.size() != (pages + 7) / 8) {
    return absl::DataLossError(absl::StrFormat(
        "sparse image: a bitmap of %u bytes for %u pages", bitmap.size(), pages));
  }
  size_t raw = 0;
  for (size_t p = 0; p < pages; ++p) {
    if (static_cast<uint8_t>(bitmap[p / 8]) & (1u << (p % 8))) raw += PageLength(out.size(), p);
  }
  for (size_t b = pages; b < bitmap.size() * 8; ++b) {
    if (static_cast<uint8_t>(bitmap[b / 8]) & (1u << (b % 8))) {
      return absl::DataLossError("sparse image: bits set past the last page");
    }
  }
  const unsigned long long content = ZSTD_getFrameContentSize(zstd.data(), zstd.size());
  if (content != raw) {
    return absl::DataLossError(absl::StrFormat(
        "sparse image: the pages decompress to %d bytes, the bitmap names %u",
        static_cast<long long>(content), raw));
  }
  std::vector<uint8_t> buf(raw);
  const size_t n = ZSTD_decompress(buf.data(), buf.size(), zstd.data(), zstd.size());
  if (ZSTD_isError(n) || n != raw) {
    return absl::DataLossError(absl::StrFormat(
        "sparse image: corrupted pages (%s)", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  size_t at = 0;
  for (size_t p = 0; p < pages; ++p) {
    if (!(static_cast<uint8_t>(bitmap[p / 8]) & (1u << (p % 8)))) continue;
    const size_t len = PageLength(out.size(), p);
    std::memcpy(out.data() + p * kSparsePageSize, buf.data() + at, len);
    at += len;
  }
  return absl::OkStatus();
}

}  // namespace ftd::vmm
