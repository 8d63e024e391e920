#pragma once
// The DDNS state file as text: per-host records keyed by account and host, with a version.
// Pure: the adapter reads and writes the file (atomically); this only (de)serialises.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "dynmx/ddns/schedule.hpp"
#include "dynmx/result.hpp"

namespace dynmx::ddns {

/// The state file format version this code writes and reads.
inline constexpr int kStateVersion = 1;

/// Where the state file's times stood against the machine's boot clock when it was
/// written: a later process of the same boot can then tell how much time really passed,
/// whatever the wall clock did meanwhile (a back-off carries over exactly, instead of
/// starting again at full length after every restart or cron `dynmx update`).
struct ClockAnchor {
  std::string bootId;            ///< /proc/sys/kernel/random/boot_id
  TimePoint wall{};              ///< the engine's clock when written
  std::int64_t bootSeconds = 0;  ///< CLOCK_BOOTTIME when written (counts suspend too)
  bool operator==(const ClockAnchor&) const = default;
};

/// Every host's state, keyed by (account, host).
struct StateStore {
  std::map<std::pair<std::string, std::string>, HostState> hosts;
  /// Set only on what is written (and on what was read); never compared for "unchanged".
  std::optional<ClockAnchor> anchor;

  /// The record for a host, or nullptr.
  [[nodiscard]] const HostState* find(const std::string& account, const std::string& host) const;
  /// The record for a host, or a fresh one with account and host filled in.
  [[nodiscard]] HostState get(const std::string& account, const std::string& host) const;
  /// Insert or replace (keyed by state.account and state.host).
  void put(HostState state);
  bool operator==(const StateStore&) const = default;
};

/// Serialise to pretty JSON (stable key order, RFC 3339 times).
std::string toJson(const StateStore& store);

/// Parse JSON text. Anything malformed (syntax, wrong types, unknown version or result
/// code, bad time) is an error value naming the problem; never throws.
Result<StateStore> parseState(std::string_view text);

}  // namespace dynmx::ddns
