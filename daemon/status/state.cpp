#include "dynmx/status/state.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "dynmx/atomic_file.hpp"
#include "dynmx/status/health.hpp"
#include "dynmx/status/json.hpp"

namespace dynmx::status {

std::string stateText(const Report& report) { return dumpJson(toJson(report), 2) + "\n"; }

Status<> saveState(const std::string& path, const Report& report, std::string* lastWritten) {
  AtomicWriteOptions options;
  options.mode = 0640;
  std::string text = stateText(report);
  if (lastWritten != nullptr && text == *lastWritten) return Ok{};
  auto written = writeFileAtomic(path, text, options);
  if (written.ok() && lastWritten != nullptr) *lastWritten = std::move(text);
  return written;
}

Result<Report> loadState(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxStateFileSize) return fail(path + ": too large for a state file");
  auto text = readFile(path);
  if (!text) return fail(text.error());
  auto report = reportFromJson(std::string_view(*text));
  if (!report) return fail(path + ": " + report.error());
  return report;
}

Report staleReport(Report r, const std::string& file, TimePoint writtenAt) {
  r.daemon.running = false;
  r.daemon.pid = 0;
  r.daemon.stateWrittenAt = writtenAt;
  computeHealth(r);
  for (auto& reason : r.healthReasons)
    if (reason.code == "daemon.not_running")
      reason.text = r.daemon.stoppedAt ? "daemon stopped cleanly at " + formatTime(*r.daemon.stoppedAt) +
                                             "; last known state from " + file
                                       : "daemon died or was killed (no clean stop recorded); last known state from " +
                                             file + ", written at " + formatTime(writtenAt);
  return r;
}

Report unknownReport(const std::string& why) {
  Report r;
  r.daemon.running = false;
  r.mode.current = "unknown";
  r.mode.wanted = "unknown";
  r.health = Health::Unknown;
  r.healthReasons.push_back({"daemon.not_running", why, {}});
  return r;
}

}  // namespace dynmx::status
