#pragma once
// `--log journald`: every line goes to the journal with its priority and identifier, and the
// lines that report an event (a mode switch, a provider answer, a policy reload) carry a
// fixed MESSAGE_ID and DYNMX_* fields, so `journalctl MESSAGE_ID=...` selects them.
// The call site would always be this sink: leave CODE_FILE/CODE_LINE out.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <spdlog/sinks/base_sink.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <mutex>
#include <string>

#include "dynmx/status/log_events.hpp"

namespace dynmx::cli {

/// A spdlog sink writing structured journal entries through sd_journal_send.
class JournalSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string text(msg.payload.data(), msg.payload.size());
    const int priority = toPriority(msg.level);
    const auto event = status::logEventOf(text);
    if (!event) {
      ::sd_journal_send("MESSAGE=%s", text.c_str(), "PRIORITY=%i", priority, "SYSLOG_IDENTIFIER=dynmx",
                        nullptr);
      return;
    }
    if (!event->host.empty()) {
      ::sd_journal_send("MESSAGE=%s", text.c_str(), "PRIORITY=%i", priority, "SYSLOG_IDENTIFIER=dynmx",
                        "MESSAGE_ID=%s", event->messageId, "DYNMX_EVENT=%s", event->name, "DYNMX_HOST=%s",
                        event->host.c_str(), "DYNMX_RESULT=%s", event->result.c_str(), nullptr);
      return;
    }
    ::sd_journal_send("MESSAGE=%s", text.c_str(), "PRIORITY=%i", priority, "SYSLOG_IDENTIFIER=dynmx",
                      "MESSAGE_ID=%s", event->messageId, "DYNMX_EVENT=%s", event->name, nullptr);
  }
  void flush_() override {}

 private:
  static int toPriority(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return LOG_DEBUG;
      case spdlog::level::info:
        return LOG_INFO;
      case spdlog::level::warn:
        return LOG_WARNING;
      case spdlog::level::err:
        return LOG_ERR;
      case spdlog::level::critical:
        return LOG_CRIT;
      default:
        return LOG_INFO;
    }
  }
};

}  // namespace dynmx::cli
