// Sparse images from an untrusted peer or file (a snapshot's memory, the primary's disk in the
// first transfer): any bitmap and frame must be decoded into the output exactly, or refused,
// never written past it; and what EncodeSparse makes must decode to the same bytes.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "vmm/sparse_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ftd::vmm;
  ftd::fuzz::Input in(data, size);
  const size_t out_size = in.Take<uint16_t>() % (64 * kSparsePageSize + 1);
  const size_t bitmap_len = in.Take<uint8_t>() % 24;
  std::string bitmap;
  for (size_t i = 0; i < bitmap_len; ++i) bitmap.push_back(static_cast<char>(in.Take<uint8_t>()));
  std::string frame;
  while (frame.size() < 4096 && !in.empty()) frame.push_back(static_cast<char>(in.Take<uint8_t>()));
  std::vector<uint8_t> out(out_size, 0);
  (void)DecodeSparse(bitmap, frame, out);

  // Round trip: the frame's bytes as an image, pages spread over the output size.
  std::vector<uint8_t> img(out_size, 0);
  for (size_t i = 0; i < frame.size() && out_size; ++i) img[(i * 1031) % out_size] = frame[i];
  auto enc = EncodeSparse(img);
  if (!enc.ok()) __builtin_trap();
  std::vector<uint8_t> back(out_size, 0);
  if (!DecodeSparse(enc->bitmap, enc->zstd, back).ok() || back != img) __builtin_trap();
  return 0;
}
