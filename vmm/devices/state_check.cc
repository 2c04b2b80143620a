#include "vmm/devices/state_check.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"

namespace ftd::vmm {

absl::Status CheckNoUnknownFields(const google::protobuf::Message& state, std::string_view device) {
  const google::protobuf::Reflection* reflection = state.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(state);
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s state: %s has %d field(s) unknown to this build (field %d first); it was saved "
        "by a newer ftd",
        device, state.GetDescriptor()->full_name(), unknown.field_count(),
        unknown.field(0).number()));
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(state, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(state, field); ++i) {
        absl::Status st =
            CheckNoUnknownFields(reflection->GetRepeatedMessage(state, field, i), device);
        if (!st.ok()) return st;
      }
    } else {
      absl::Status st = CheckNoUnknownFields(reflection->GetMessage(state, field), device);
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace ftd::vmm
