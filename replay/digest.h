// SHA-256 of files and bytes (OpenSSL), to tie a log to the image and disk it was
// recorded with.
#pragma once

#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace ftd::replay {

std::string Sha256(std::span<const uint8_t> data);
absl::StatusOr<std::string> Sha256File(const std::string& path);
std::string Hex(const std::string& bytes);

}  // namespace ftd::replay
