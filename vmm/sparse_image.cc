#include "vmm/sparse_image.h"

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

absl::StatusOr<SparseImage> EncodeSparse(std::span<const uint8_t> bytes, int level) {
  SparseImage img;
  const size_t pages = PageCount(bytes.size());
  img.bitmap.assign((pages + 7) / 8, '\0');
  size_t raw = 0;
  for (size_t p = 0; p < pages; ++p) {
    const size_t len = PageLength(bytes.size(), p);
    if (IsZero(bytes.data() + p * kSparsePageSize, len)) continue;
    img.bitmap[p / 8] = static_cast<char>(img.bitmap[p / 8] | (1u << (p % 8)));
    ++img.pages;
    raw += len;
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create a context");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);  // a damaged frame is refused, not used
  ZSTD_CCtx_setPledgedSrcSize(cctx, raw);
  img.zstd.resize(ZSTD_compressBound(raw));
  ZSTD_outBuffer out{img.zstd.data(), img.zstd.size(), 0};
  size_t left = img.pages;
  for (size_t p = 0; p < pages; ++p) {
    if (!(static_cast<uint8_t>(img.bitmap[p / 8]) & (1u << (p % 8)))) continue;
    ZSTD_inBuffer in{bytes.data() + p * kSparsePageSize, PageLength(bytes.size(), p), 0};
    const ZSTD_EndDirective mode = --left == 0 ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      const size_t r = ZSTD_compressStream2(cctx, &out, &in, mode);
      if (ZSTD_isError(r)) {
        ZSTD_freeCCtx(cctx);
        return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(r)));
      }
      if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) break;
    }
  }
  if (img.pages == 0) {  // an empty frame, so that every encoded image has one
    ZSTD_inBuffer in{nullptr, 0, 0};
    const size_t r = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
    if (ZSTD_isError(r) || r != 0) {
      ZSTD_freeCCtx(cctx);
      return absl::InternalError("zstd: cannot end an empty frame");
    }
  }
  ZSTD_freeCCtx(cctx);
  img.zstd.resize(out.pos);
  return img;
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
