#include "cli/config_file.h"

#include <iterator>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ftd::cli {
namespace {

bool IsBoolWord(std::string v) {
  for (char& c : v) c = static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    if (v == w) return true;
  }
  return false;
}

bool IsKeyChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-'; }

}  // namespace

absl::StatusOr<std::vector<ConfigEntry>> ParseConfigText(
    absl::string_view text, const std::string& name,
    const std::function<ConfigKey(const std::string&)>& kind) {
  std::vector<ConfigEntry> out;
  std::map<std::string, int> seen;  // key -> its line
  int n = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++n;
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat(name, " line ", n, ": ", why));
    };
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.find('\0') != absl::string_view::npos) return bad("a NUL byte");
    if (line[0] == '[') {
      return bad(absl::StrCat("'", line, "': sections are not part of the format (write key = value)"));
    }
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return bad(absl::StrCat("'", line, "' is not key = value"));
    }
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (key.empty()) return bad("no key before '='");
    if (key.rfind("--", 0) == 0) {
      return bad(absl::StrCat("write the key without dashes: '", key.substr(2), "', not '", key, "'"));
    }
    for (char c : key) {
      if (!IsKeyChar(c)) return bad(absl::StrCat("'", key, "' is not a key (letters, digits, '-')"));
    }
    if (!value.empty() && value[0] == '"') {
      const size_t close = value.find('"', 1);
      if (close == absl::string_view::npos) return bad("a quoted value without its closing '\"'");
      absl::string_view rest = absl::StripAsciiWhitespace(value.substr(close + 1));
      if (!rest.empty() && rest[0] != '#') {
        return bad(absl::StrCat("'", rest, "' after the quoted value"));
      }
      value = value.substr(1, close - 1);
    } else {
      for (size_t i = 1; i < value.size(); ++i) {
        if (value[i] == '#' && absl::ascii_isspace(static_cast<unsigned char>(value[i - 1]))) {
          value = absl::StripAsciiWhitespace(value.substr(0, i));
          break;
        }
      }
      if (value.empty() || value[0] == '#') return bad(absl::StrCat("no value for '", key, "'"));
    }
    switch (kind(key)) {
      case ConfigKey::kUnknown:
        return bad(absl::StrCat("unknown key '", key,
                                "' (the keys are the long flag names of ftd --role ... --help)"));
      case ConfigKey::kForbidden:
        return bad(absl::StrCat("'", key, "' cannot be set in a config file"));
      case ConfigKey::kFlag:
        if (!IsBoolWord(std::string(value))) {
          return bad(absl::StrCat("'", key, "' is a flag: true or false, not '", value, "'"));
        }
        break;
      case ConfigKey::kOption:
        break;
    }
    if (auto [it, fresh] = seen.emplace(key, n); !fresh) {
      return bad(absl::StrCat("'", key, "' again (first set on line ", it->second, ")"));
    }
    out.push_back({n, std::move(key), std::string(value)});
  }
  return out;
}

std::vector<CLI::ConfigItem> StrictConfig::from_config(std::istream& input) const {
  const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
  std::string name = "the config file";
  if (const CLI::Option* c = app_->get_config_ptr(); c != nullptr && c->count() > 0) {
    name = c->as<std::string>();
  }
  auto kind = [this](const std::string& key) {
    if (key == "config" || key == "help") return ConfigKey::kForbidden;
    const CLI::Option* op = app_->get_option_no_throw("--" + key);
    if (op == nullptr) return ConfigKey::kUnknown;
    if (!op->get_configurable()) return ConfigKey::kForbidden;
    return op->get_expected_min() == 0 ? ConfigKey::kFlag : ConfigKey::kOption;
  };
  auto entries = ParseConfigText(text, name, kind);
  if (!entries.ok()) throw CLI::ConfigError(std::string(entries.status().message()));
  name_ = name;
  lines_.clear();
  std::vector<CLI::ConfigItem> items;
  for (auto& e : *entries) {
    lines_[e.key] = e.line;
    CLI::ConfigItem item;
    item.name = std::move(e.key);
    item.inputs = {std::move(e.value)};
    items.push_back(std::move(item));
  }
  return items;
}

std::string StrictConfig::LineOf(const std::string& key) const {
  auto it = lines_.find(key);
  return it == lines_.end() ? "" : absl::StrCat(name_, " line ", it->second);
}

std::string DescribeParseError(const CLI::App& app, const CLI::Error& e, int argc,
                               const char* const* argv) {
  const std::string what = e.what();
  auto config = std::dynamic_pointer_cast<StrictConfig>(app.get_config_formatter());
  if (config == nullptr) return what;
  for (const CLI::Option* op : app.get_options()) {
    for (const std::string& name : op->get_lnames()) {
      const std::string flag = "--" + name;
      const size_t at = what.find(flag);
      if (at == std::string::npos) continue;
      const size_t end = at + flag.size();
      if (end < what.size() && IsKeyChar(what[end])) continue;  // --peer in --peer-timeout-ms
      bool on_command_line = false;
      for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == flag || a.rfind(flag + "=", 0) == 0) on_command_line = true;
      }
      const std::string where = config->LineOf(name);
      if (!on_command_line && !where.empty()) return absl::StrCat(where, ": ", what);
    }
  }
  return what;
}

void AddConfigOption(CLI::App& app) {
  app.set_config("--config", "",
                 "read options from FILE: key = value lines, keys the long flag names "
                 "(deploy/ftd.conf); the command line overrides it");
  app.config_formatter(std::make_shared<StrictConfig>(&app));
}

}  // namespace ftd::cli
