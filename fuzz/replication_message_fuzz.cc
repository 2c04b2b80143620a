// The backup's message validation (backup/message_validator.h) on arbitrary streams: each
// input is a sequence of length-prefixed PrimaryMessages (u16 length, then the encoding);
// every message either passes or gets an error status, never a crash, and the state stays
// consistent (next_seq only grows by what was accepted). Inputs whose first byte is odd get
// a valid Hello in front, so the fuzzer reaches the state and log checks.
#include <cstdint>
#include <cstdlib>

#include "backup/message_validator.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftd::fuzz::Input in(data, size);
  ftd::repl::Limits limits;
  limits.max_batch_entries = 64;  // small limits, so the fuzzer reaches them
  limits.max_batch_bytes = 4096;
  limits.max_state_chunk = 1024;
  const uint64_t received = in.Take<uint8_t>();
  ftd::backup::MessageValidator v(limits, received);
  if (received & 1) {
    ftd::proto::PrimaryMessage hello;
    hello.mutable_hello()->set_protocol_version(ftd::repl::kProtocolVersion);
    hello.mutable_hello()->set_vm_id("fuzz");
    if (!v.Check(hello).ok()) std::abort();
  }
  while (!in.empty()) {
    const uint16_t len = in.Take<uint16_t>();
    auto bytes = in.TakeBytes(len);
    ftd::proto::PrimaryMessage msg;
    if (!msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
    const uint64_t before = v.next_seq();
    const absl::Status s = v.Check(msg);
    if (!s.ok()) break;  // the server ends the stream here
    if (msg.has_batch() && v.next_seq() != before + msg.batch().entries_size()) std::abort();
    if (msg.has_batch() &&
        static_cast<size_t>(msg.batch().entries_size()) > limits.max_batch_entries) {
      std::abort();
    }
  }
  return 0;
}
