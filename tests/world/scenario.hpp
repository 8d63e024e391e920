#pragma once
// Scenarios as data: a timeline of world events, run once per variant (a column of the
// exposure table), each with what must hold afterwards.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/result.hpp"
#include "world.hpp"

namespace dynmx::world {

/// What happens in the world at one moment.
enum class EventKind {
  MoveOffice,        ///< arg: the office's new address (reconnect)
  LinkDown,          ///< the office's link drops, its address with it
  LinkUp,            ///< arg: the address it comes back with ("" = the same)
  StrangerTakes,     ///< arg: an address the stranger now holds
  ProviderAnswers,   ///< arg: the code the provider answers from now on ("" = normal again)
  SetRecord,         ///< arg: where someone else points the office's A record (hijack / admin fix)
  RestartDaemon,     ///< arg: "TERM" or "KILL"
};

/// One event, `at` seconds after the message stream began.
struct Event {
  double at = 0;
  EventKind kind = EventKind::LinkDown;
  std::string arg;
};

/// The measured outcome a variant must reproduce (0 lost and 0 duplicated always hold).
struct Pin {
  int misdirectedMin = 0;  ///< misdirected copies, inclusive band
  int misdirectedMax = 0;
  double exposureMax = 0;  ///< seconds between the first and the last misdirected message
  int atIspMin = 0;        ///< copies left in the ISP box at the end, inclusive band
  int atIspMax = 0;
  /// offline=YES: while the link is down, status must show the name withdrawn (verified at
  /// BIND) at least once; an outage with no address to come back with hides nothing.
  bool withdrawnWhileDown = false;
};

/// A scenario of issue 10 (a..g).
struct Scenario {
  std::string id;     ///< "a_reconnect": test and table name
  std::string title;  ///< one line for the table
  std::string linkType = "dedicated";
  double streamSeconds = 25;  ///< how long the senders keep sending
  std::vector<Event> events;  ///< in time order
  std::map<std::string, Pin> pins;  ///< by variant name
};

/// A column of the table: how dynmx is set up (policy fragment + a hook run on the started world).
struct Variant {
  std::string name;  ///< "dynmx", "baseline", ...
  std::string description;
  DaemonSetup setup;
  std::function<Status<>(World&)> prepare;  ///< optional, after start, before the stream
};

/// The scenarios a..g.
const std::vector<Scenario>& scenarios();
/// The columns: the DDNS-only baseline (direct), dynmx (auto) without a DNS lever, dynmx
/// with MX steering (rfc2136), dynmx with offline=YES. Add rows here for new columns.
const std::vector<Variant>& variants();
/// Find by name; nullptr if unknown.
const Scenario* findScenario(const std::string& id);
const Variant* findVariant(const std::string& name);

/// One row of the table.
struct RowResult {
  std::string scenario;
  std::string variant;
  Account account;
  std::vector<std::string> timeline;  ///< what happened when (for failure messages)
  double startSeconds = 0;  ///< building the world until dynmx was steady
  double totalSeconds = 0;  ///< the whole row, drain included
  /// Stream seconds: when someone else first held an address the office's name had
  /// (StrangerTakes, or SetRecord to the hijacker's), and when dynmx first acted on it as
  /// seen in its status: the multidrop MX set verified at BIND, or the name verified at an
  /// address the stranger does not hold.
  std::optional<double> strangerAt;
  std::optional<double> detectedAt;
  /// Stream seconds when status first showed a DDNS host withdrawn while the link was down.
  std::optional<double> withdrawnWhileDownAt;
};

/// Build the world for `variant`, play `scenario`, drain, count. Fails when the world cannot
/// start or an event cannot be applied (never a skip).
Result<RowResult> runRow(const Scenario& scenario, const Variant& variant, const std::string& dynmxBinary,
                         const std::string& dyndns2dBinary);

/// Check a row against the scenario's pin for its variant; one line per violation.
std::vector<std::string> checkRow(const Scenario& scenario, const RowResult& row);

/// The exposure table (markdown), rows grouped by scenario, one line per variant.
std::string formatTable(const std::vector<nlohmann::json>& rows);
/// A row as JSON (what --row writes and --table reads).
nlohmann::json rowJson(const RowResult& row);

}  // namespace dynmx::world
