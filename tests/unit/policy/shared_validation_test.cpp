// Issue 12, item 3: `dynmx check` and `dynmx run` share one validation. Every policy below
// passed `check` once and crippled the running daemon; each must now be refused by
// loadPolicy (what both commands call) with file:line:col. And every accepted policy of the
// corpus must pass what the daemon's DDNS engine checks at run time, with the same functions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "dynmx/ddns/provider.hpp"
#include "dynmx/policy.hpp"
#include "test_util.hpp"

namespace dynmx {
namespace {

using testing::formatted;
using testing::TempDir;

std::string basePolicy(const std::string& pwFile) {
  return "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n\n"
         "[ddns.detect]\ninterface = \"eth0\"\n\n"
         "[[ddns.account]]\nname = \"office\"\nprovider = \"custom\"\n"
         "url = \"https://dyn.example.net/nic/update\"\nusername = \"u\"\n"
         "password_file = \"" + pwFile + "\"\nhosts = [\"office.example.com\"]\n";
}

struct Bad {
  const char* name;
  std::string from;
  std::string to;
  const char* why;  ///< a piece of the message
};

std::vector<Bad> badPolicies() {
  return {
      {"comma in hostname", "[\"office.example.com\"]", "[\"office.example.com,mx.example.com\"]",
       "only letters, digits"},
      {"space in hostname", "[\"office.example.com\"]", "[\"office .example.com\"]", "only letters, digits"},
      {"shell character in hostname", "[\"office.example.com\"]", "[\"office;reboot.example.com\"]",
       "only letters, digits"},
      {"IP literal as hostname", "[\"office.example.com\"]", "[\"203.0.113.7\"]", "IP address"},
      {"bare label", "[\"office.example.com\"]", "[\"office\"]", "not fully qualified"},
      {"credentials in the url", "https://dyn.example.net", "https://u:pw@dyn.example.net", "credentials"},
      {"NUL in an inline password", "password_file = \"@PW@\"", "password = \"ab\\u0000cd\"", "NUL byte"},
      {"offline on a provider without it",
       "provider = \"custom\"\nurl = \"https://dyn.example.net/nic/update\"",
       "provider = \"dynu\"\noffline_on_multidrop = true", "no offline=YES"},
      {"poll interval fetchmail reads as 0", "[ddns.detect]", "[fetchmail]\npoll_interval = \"1000000w\"\n\n[ddns.detect]",
       "C int"},
      {"check interval below the provider minimum", "[ddns.detect]",
       "[ddns]\ncheck_interval = \"1m\"\n\n[ddns.detect]", "minimum interval"},
  };
}

TEST(SharedValidation, CheckRefusesWhatTheDaemonCannotUse) {
  for (Bad bad : badPolicies()) {
    TempDir dir;
    const std::string pw = dir.write("ddns.pw", "secret-Zq9\n");
    std::string text = basePolicy("@PW@");
    if (std::string(bad.name) == "check interval below the provider minimum") {
      text = std::regex_replace(text, std::regex("provider = \"custom\"\nurl = \"[^\"]*\""),
                                "provider = \"noip\"");
    }
    const auto at = text.find(bad.from);
    ASSERT_NE(at, std::string::npos) << bad.name;
    text.replace(at, bad.from.size(), bad.to);
    text = std::regex_replace(text, std::regex("@PW@"), pw);
    const std::string file = dir.write("dynmx.toml", text);
    PolicyLoad load = loadPolicy(file);
    EXPECT_FALSE(load.policy.has_value()) << bad.name << ": accepted\n" << text;
    const auto lines = formatted(load.diagnostics);
    const std::regex located(std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                             R"(:\d+:\d+: error: .*)" + bad.why + ".*");
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                            [&](const std::string& l) { return std::regex_match(l, located); }))
        << bad.name << ":\n" << ::testing::PrintToString(lines);
  }
}

TEST(SharedValidation, AnEmptyPasswordFileIsRefusedByCheck) {
  TempDir dir;
  const std::string pw = dir.write("ddns.pw", "\n");
  const std::string file = dir.write("dynmx.toml", basePolicy(pw));
  PolicyLoad load = loadPolicy(file);
  EXPECT_FALSE(load.policy.has_value());
  EXPECT_THAT(formatted(load.diagnostics),
              ::testing::Contains(::testing::MatchesRegex(".*:[0-9]+:[0-9]+: error: .*password file .* is empty")));
}

/// Point every /etc/dynmx/*.password of a shipped policy at a fresh good file.
std::string withSecrets(std::string text, const TempDir& dir) {
  std::smatch m;
  std::string out;
  const std::regex pw("/etc/dynmx/([a-z.-]+\\.password)");
  while (std::regex_search(text, m, pw)) {
    out += m.prefix().str() + dir.write(m[1].str(), "secret-Zq9\n");
    text = m.suffix().str();
  }
  return out + text;
}

TEST(SharedValidation, EveryAcceptedPolicyPassesTheEnginesOwnChecks) {
  const std::vector<std::string> corpus = {testing::dataFile("full.toml"),
                                           testing::sourceFile("docs/examples/dynmx.toml")};
  for (const auto& original : corpus) {
    ASSERT_FALSE(original.empty());
    TempDir dir;
    PolicyLoad load = loadPolicy(dir.write("dynmx.toml", withSecrets(original, dir)));
    ASSERT_TRUE(load.policy.has_value()) << ::testing::PrintToString(formatted(load.diagnostics));
    const Policy& p = *load.policy;
    // What the engine does with each account at run time (ddns/engine: update stage).
    const ddns::AddressSet docAddress{ddns::IpAddress::parse("203.0.113.7"), std::nullopt};
    for (const auto& a : p.ddns.accounts) {
      DdnsAccount effective = a;
      auto plan = ddns::buildRequests(effective, a.hosts, docAddress);
      ASSERT_TRUE(plan.ok()) << a.name << ": " << plan.error();
      EXPECT_TRUE(plan->rejected.empty()) << a.name << ": " << plan->rejected.front().reason;
      if (!a.password) {
        const SecretRead s = readSecretFile(a.passwordFile);
        EXPECT_TRUE(s.secret.has_value()) << a.name << ": " << s.error;
      }
    }
    if (!p.isp.passwordFile.empty()) {
      EXPECT_TRUE(readSecretFile(p.isp.passwordFile).secret.has_value());
    }
    EXPECT_LE(p.fetchmail.pollInterval, kMaxFetchmailPollInterval);
  }
}

}  // namespace
}  // namespace dynmx
