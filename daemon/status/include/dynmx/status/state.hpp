#pragma once
// The state file: the report persisted atomically so a restarted daemon (or `dynmx status`
// while the daemon is down) knows the last mode, journal, hosts and fetchmail.
#include <string>

#include "dynmx/result.hpp"
#include "dynmx/status.hpp"

namespace dynmx::status {

/// Largest state file we read; anything bigger is garbage.
inline constexpr std::size_t kMaxStateFileSize = 4 * 1024 * 1024;

/// The state file's text for `report`. Pure.
std::string stateText(const Report& report);

/// Write the report to `path` atomically (mode 0640).
/// `lastWritten` (optional): the text this process last wrote there; an unchanged report is
/// not written again (no fsync per idle event), and a successful write updates it.
Status<> saveState(const std::string& path, const Report& report, std::string* lastWritten = nullptr);

/// Read a state file; a missing, torn or garbage file is an error value, never an exception.
Result<Report> loadState(const std::string& path);

/// Turn a report loaded from the state file into what `dynmx status` shows while the
/// daemon is down: not running, health recomputed but never better than WARNING, and a
/// reason naming the file and when it was written. Pure.
Report staleReport(Report fromState, const std::string& file, TimePoint writtenAt);

/// The report when there is neither a daemon nor a state file: UNKNOWN.
Report unknownReport(const std::string& why);

}  // namespace dynmx::status
