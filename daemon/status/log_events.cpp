#include "dynmx/status/log_events.hpp"

#include <regex>
#include <string>

namespace dynmx::status {
namespace {

struct Prefix {
  std::string_view prefix;
  const char* name;
  const char* messageId;
};

// The lines the coordinator and the daemon write for these events (daemon/core,
// daemon/cli/cmd_run.cpp); a test pins each one.
constexpr Prefix kPrefixes[] = {
    {"switching mail to multidrop", "mode.multidrop", "4dc9cc8f614342e490512ecfa3db98f8"},
    {"returning mail to direct SMTP", "mode.draining", "fcdec9a011b94175b5f07490ea92784e"},
    {"mail is direct again", "mode.direct", "0a7eadc8d2384a1db4bd2ddc682b33fa"},
    {"not returning to direct", "mode.direct_refused", "e768d6cddcc2469597177f2e64c630c6"},
    {"policy reloaded from", "policy.reloaded", "fcd7343d41fc4d209b0428240799093d"},
    {"policy reload rejected", "policy.rejected", "abd46dbbaf594dfa92e228ea24cc0dd5"},
};

}  // namespace

std::optional<LogEvent> logEventOf(std::string_view line) {
  for (const auto& p : kPrefixes)
    if (line.substr(0, p.prefix.size()) == p.prefix) return LogEvent{p.name, p.messageId, {}, {}};
  // ddns::describeAnswer: "HOST: RESULT from PROVIDER[ (account A)][ for ADDRESS], NEXT".
  static const std::regex kAnswer(R"(^([A-Za-z0-9.-]+): (\S+) from \S+( \(account [^)]*\))?( for \S+)?[ ,])");
  std::cmatch m;
  if (std::regex_search(line.data(), line.data() + line.size(), m, kAnswer))
    return LogEvent{"ddns.answer", "30f63da1c22948eda6fdf990d784f296", m[1].str(), m[2].str()};
  return std::nullopt;
}

}  // namespace dynmx::status
