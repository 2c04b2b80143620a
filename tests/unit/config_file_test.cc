// ftd's config file (cli/config_file.h): the format, its errors (with line numbers), and the
// daemon's flags read through it, the command line overriding the file.
#include "cli/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/daemon_options.h"

namespace ftd::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ConfigKey Kind(const std::string& key) {
  if (key == "peer" || key == "cmdline" || key == "heartbeat-ms") return ConfigKey::kOption;
  if (key == "insecure") return ConfigKey::kFlag;
  if (key == "config") return ConfigKey::kForbidden;
  return ConfigKey::kUnknown;
}

TEST(ConfigFileTest, KeyValueLinesCommentsAndQuotes) {
  auto e = ParseConfigText(
      "# a comment\n"
      "\n"
      "   ; another\n"
      "peer = hostB:7411   # trailing comment\n"
      "cmdline=\"ip=198.18.0.10/15 #not-a-comment \"\n"
      "  heartbeat-ms   =   50  \n"
      "insecure = Yes\n",
      "t.conf", Kind);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 4u);
  EXPECT_EQ((*e)[0].key, "peer");
  EXPECT_EQ((*e)[0].value, "hostB:7411");
  EXPECT_EQ((*e)[0].line, 4);
  EXPECT_EQ((*e)[1].value, "ip=198.18.0.10/15 #not-a-comment ");
  EXPECT_EQ((*e)[2].key, "heartbeat-ms");
  EXPECT_EQ((*e)[2].value, "50");
  EXPECT_EQ((*e)[3].value, "Yes");
  // An empty file, and one with comments only, set nothing.
  EXPECT_TRUE(ParseConfigText("", "t.conf", Kind)->empty());
  EXPECT_TRUE(ParseConfigText("# only\n\n", "t.conf", Kind)->empty());
}

TEST(ConfigFileTest, ErrorsNameTheFileAndTheLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"peer = a\ncolour = blue\n", "t.conf line 2: unknown key 'colour'"},
      {"\n\npeer hostB\n", "t.conf line 3: 'peer hostB' is not key = value"},
      {"[primary]\n", "t.conf line 1: '[primary]': sections"},
      {"peer = a\n\npeer = b\n", "t.conf line 3: 'peer' again (first set on line 1)"},
      {"--peer = a\n", "t.conf line 1: write the key without dashes: 'peer'"},
      {"= a\n", "t.conf line 1: no key"},
      {"peer =\n", "t.conf line 1: no value for 'peer'"},
      {"peer = # nothing\n", "t.conf line 1: no value for 'peer'"},
      {"insecure = maybe\n", "t.conf line 1: 'insecure' is a flag"},
      {"cmdline = \"ip=1\n", "t.conf line 1: a quoted value without its closing"},
      {"cmdline = \"ip=1\" x\n", "t.conf line 1: 'x' after the quoted value"},
      {"config = other.conf\n", "t.conf line 1: 'config' cannot be set"},
      {"pe er = a\n", "t.conf line 1: 'pe er' is not a key"},
      {std::string("peer = a\0b\n", 11), "t.conf line 1: a NUL byte"},
  };
  for (const auto& [text, want] : bad) {
    auto e = ParseConfigText(text, "t.conf", Kind);
    ASSERT_FALSE(e.ok()) << text;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(e.status().message()), HasSubstr(want)) << text;
  }
}

class DaemonConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftd-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    unlink(Path().c_str());
    rmdir(dir_.c_str());
  }
  std::string Path() const { return dir_ + "/ftd.conf"; }
  void Write(const std::string& text) {
    std::ofstream(Path(), std::ios::trunc) << text;
  }
  // Parses `args` (after "ftd") as the daemon does; rethrows CLI11's errors.
  void Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ftd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    app_ = std::make_unique<CLI::App>("ftd");
    f_ = DaemonFlags();
    AddDaemonOptions(*app_, f_);
    app_->parse(static_cast<int>(argv.size()), argv.data());
  }
  // The message of the CLI::ConfigError that parsing `args` throws ("" and a failure if none).
  std::string ConfigErrorOf(std::vector<std::string> args) {
    try {
      Parse(std::move(args));
    } catch (const CLI::ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no config error";
    return "";
  }
  // The message `DescribeParseError` gives the CLI::ParseError that parsing `args` throws.
  std::string ParseErrorOf(std::vector<std::string> args) {
    std::vector<const char*> argv{"ftd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      Parse(args);  // a copy: argv points into args
    } catch (const CLI::ParseError& e) {
      return DescribeParseError(*app_, e, static_cast<int>(argv.size()), argv.data());
    }
    ADD_FAILURE() << "no parse error";
    return "";
  }
  std::string dir_;
  std::unique_ptr<CLI::App> app_;
  DaemonFlags f_;
};

TEST_F(DaemonConfigTest, TheCommandLineOverridesTheFile) {
  Write("role = backup\n"
        "peer = hostB\n"
        "heartbeat-ms = 40\n"
        "peer-timeout-ms = 400\n"
        "insecure = true\n"
        "stdin = true\n"
        "arbiter = file:/shared/arb\n"
        "cmdline = \"ip=198.18.0.10/15\"\n");
  Parse({"--config", Path(), "--role", "primary", "--heartbeat-ms", "70", "--no-stdin"});
  EXPECT_EQ(f_.pair.role, "primary");  // the command line's
  EXPECT_EQ(f_.pair.heartbeat_ms, 70u);
  EXPECT_FALSE(f_.run.serial_stdin);
  EXPECT_EQ(f_.pair.peer, "hostB");  // the file's
  EXPECT_EQ(f_.pair.peer_timeout_ms, 400u);
  EXPECT_TRUE(f_.pair.insecure);
  EXPECT_EQ(f_.pair.arbiter, "file:/shared/arb");
  EXPECT_EQ(f_.run.cmdline, "ip=198.18.0.10/15");
  EXPECT_EQ(f_.pair.vm_id, "vm");  // neither: the default

  // Without the overrides the file decides, the role too; a negated flag works either way.
  Write("role = backup\nno-stdin = false\ninsecure = off\n");
  Parse({"--config", Path()});
  EXPECT_EQ(f_.pair.role, "backup");
  EXPECT_TRUE(f_.run.serial_stdin);
  EXPECT_FALSE(f_.pair.insecure);
}

TEST_F(DaemonConfigTest, BadFilesAreClearErrors) {
  Write("role = primary\n# fine so far\ncolour = blue\n");
  EXPECT_THAT(ConfigErrorOf({"--config", Path()}),
              HasSubstr(Path() + " line 3: unknown key 'colour'"));
  Write("role = primary\npeer hostB\n");
  EXPECT_THAT(ConfigErrorOf({"--config", Path()}),
              HasSubstr(Path() + " line 2: 'peer hostB' is not key = value"));
  EXPECT_THROW(Parse({"--config", dir_ + "/missing.conf", "--role", "backup"}), CLI::FileError);
  // A value the flag's own check refuses is refused as on the command line.
  Write("role = observer\n");
  EXPECT_THROW(Parse({"--config", Path()}), CLI::ParseError);
  Write("role = backup\n\nheartbeat-ms = soon\n");
  EXPECT_THAT(ParseErrorOf({"--config", Path()}), HasSubstr(Path() + " line 3: "));
  EXPECT_THAT(ParseErrorOf({"--config", Path()}), HasSubstr("soon"));
  // The same value on the command line is the command line's error: no file line.
  Write("role = backup\nheartbeat-ms = 40\n");
  EXPECT_THAT(ParseErrorOf({"--config", Path(), "--heartbeat-ms", "soon"}),
              Not(HasSubstr(" line ")));
}

// The sample that deploy/install.sh installs is valid, for both roles.
TEST_F(DaemonConfigTest, TheSampleConfigParses) {
  const std::string sample = std::string(FTD_SOURCE_DIR) + "/deploy/ftd.conf";
  ASSERT_EQ(access(sample.c_str(), R_OK), 0) << sample;
  for (const char* role : {"primary", "backup"}) {
    ASSERT_NO_THROW(Parse({"--config", sample, "--role", role})) << role;
    EXPECT_EQ(f_.pair.role, role);
    EXPECT_FALSE(f_.pair.arbiter.empty());
    EXPECT_FALSE(f_.pair.peer.empty());
  }
}

}  // namespace
}  // namespace ftd::cli
