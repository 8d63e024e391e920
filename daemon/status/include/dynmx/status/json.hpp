#pragma once
// The status report as JSON: the one shape shared by the control socket, `dynmx status
// --json` and the state file (see docs/status.md). snake_case keys, RFC 3339 times,
// absent values as null.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "dynmx/result.hpp"
#include "dynmx/status.hpp"

namespace dynmx::status {

/// The report as a JSON value.
nlohmann::json toJson(const Report& report);

/// The report as a JSON value (strict about types, ignores unknown keys, missing keys keep
/// their defaults). The error names the offending key, e.g. "mode.since: expected ...".
Result<Report> reportFromJson(const nlohmann::json& value);

/// Parse JSON text into a report; never throws, whatever the input.
Result<Report> reportFromJson(std::string_view text);

/// Serialise JSON safely: invalid UTF-8 (e.g. from a child's output) is replaced, never thrown.
std::string dumpJson(const nlohmann::json& value, int indent = -1);

/// Parse "ok" / "warning" / "critical" / "unknown".
std::optional<Health> parseHealth(std::string_view text);

}  // namespace dynmx::status
