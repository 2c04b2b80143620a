// The event-log reader on arbitrary bytes: every input either parses or gives an error;
// no crash, no unbounded allocation (frame lengths are checked before use), bounded time.
// Half the inputs get a valid file header in front, so the fuzzer reaches the frames.
#include <cstdint>
#include <vector>

#include "replay/log_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes;
  if (size > 0 && (data[0] & 1)) bytes = ftd::replay::EncodeFileHeader();
  bytes.insert(bytes.end(), data, data + size);
  auto reader = ftd::replay::LogReader::Open(std::move(bytes), "fuzz");
  if (!reader.ok()) return 0;
  for (int i = 0; i < 100000; ++i) {
    auto e = reader->Next();
    if (!e.ok() || !e->has_value()) break;
  }
  return 0;
}
