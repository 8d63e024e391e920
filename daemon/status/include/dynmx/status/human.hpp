#pragma once
// The report for humans (`dynmx status`): pure, `now` only for "for 2h13m".
#include <string>

#include "dynmx/status.hpp"

namespace dynmx::status {

/// A readable multi-line report; the first line is a one-line summary.
std::string renderHuman(const Report& report, TimePoint now);

/// The one-line summary, e.g. "dynmx: WARNING: mail via multidrop since ... (code: text)".
std::string summaryLine(const Report& report);

}  // namespace dynmx::status
