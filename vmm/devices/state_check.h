// Checks shared by the devices' Restore(): a saved state is input from outside (a file,
// a peer) and is validated before use.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace ftd::vmm {

// Refuses a state holding fields this build does not know (in the message or any nested
// message): it was saved by a newer ftd, and dropping state silently would make the
// restored device differ from the saved one.
absl::Status CheckNoUnknownFields(const google::protobuf::Message& state, std::string_view device);

}  // namespace ftd::vmm
