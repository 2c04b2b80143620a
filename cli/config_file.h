// ftd's config file (`ftd --role ... --config FILE`, deploy/ftd.conf): one `key = value` per
// line, the keys being the daemon's long flag names without the dashes (`peer = hostB`,
// `peer-timeout-ms = 500`, `insecure = true`). Flags given on the command line override the
// file. The format, strictly:
// - blank lines and lines whose first non-blank character is `#` or `;` are ignored;
// - otherwise `key = value`: white space around both is dropped; a value may be written in
//   double quotes (kept as written inside them, `#` too); an unquoted value ends at ` #`
//   (white space then `#`: a trailing comment);
// - a key may appear once; flags (insecure, verbose, stdin, no-stdin) take true/false,
//   yes/no, on/off or 1/0;
// - an unknown key, a line without `=`, an empty key or value, a section header (`[x]`), a
//   repeated key and `config` itself are errors naming the file and the line.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"

namespace ftd::cli {

struct ConfigEntry {
  int line = 0;
  std::string key;
  std::string value;
};

enum class ConfigKey { kUnknown, kOption, kFlag, kForbidden };

// Parses `text` (the file `name`, for messages); `kind` says what each key is. Errors are
// InvalidArgument "NAME line N: ...".
absl::StatusOr<std::vector<ConfigEntry>> ParseConfigText(
    absl::string_view text, const std::string& name,
    const std::function<ConfigKey(const std::string&)>& kind);

// CLI11's config formatter for `app`: reads with ParseConfigText, the keys being `app`'s long
// option names; throws CLI::ConfigError with the message. CLI11 applies an entry only to an
// option the command line did not set.
class StrictConfig final : public CLI::Config {
 public:
  explicit StrictConfig(const CLI::App* app) : app_(app) {}
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
  // "FILE line N" when `key` (without dashes) was read from the file, else "".
  std::string LineOf(const std::string& key) const;

 private:
  const CLI::App* app_;
  mutable std::string name_;                 // the file last read
  mutable std::map<std::string, int> lines_;  // its keys -> their lines
};

// The message for a parse error CLI11 raised after reading the config (a value the option's
// type or check refuses: `heartbeat-ms = soon`): prefixed with "FILE line N: " when the
// option it names got its value from the file (not from `argv`, which overrides the file).
std::string DescribeParseError(const CLI::App& app, const CLI::Error& e, int argc,
                               const char* const* argv);

// Adds `--config FILE` to `app` with StrictConfig as its formatter.
void AddConfigOption(CLI::App& app);

}  // namespace ftd::cli
