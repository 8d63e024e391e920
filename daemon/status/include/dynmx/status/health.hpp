#pragma once
// Overall health (Nagios codes) of a report: pure, table in docs/status.md.
#include "dynmx/status.hpp"

namespace dynmx::status {

/// Thresholds for computeHealth.
struct HealthOptions {
  /// This many fetchmail restarts with an error still standing count as "keeps failing".
  int fetchmailRestartsCritical = 3;
};

/// Set report.health and report.healthReasons from the rest of the report.
void computeHealth(Report& report);

/// Same, with explicit thresholds.
void computeHealth(Report& report, const HealthOptions& options);

/// The worse of two health values (Unknown counts worse than Warning, better than Critical).
Health worse(Health a, Health b);

}  // namespace dynmx::status
