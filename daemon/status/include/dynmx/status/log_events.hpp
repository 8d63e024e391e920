#pragma once
// Which log lines are events a journal reader can select by MESSAGE_ID (as systemd's own
// services do, e.g. `journalctl MESSAGE_ID=4dc9cc8f614342e490512ecfa3db98f8`). The ids are
// fixed forever; docs/logging.md lists them. Pure.
#include <optional>
#include <string>
#include <string_view>

namespace dynmx::status {

/// One kind of event in the log.
struct LogEvent {
  const char* name;       ///< e.g. "mode.multidrop"
  const char* messageId;  ///< 32 lowercase hex digits (a 128-bit id)
  std::string host;       ///< provider answers: the host
  std::string result;     ///< provider answers: the result, e.g. "911"
};

/// The event a log line reports, if it is one.
std::optional<LogEvent> logEventOf(std::string_view line);

}  // namespace dynmx::status
