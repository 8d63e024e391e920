#pragma once
// Private to policy/: the draft a parse produces before semantic checks decide whether it
// becomes a Policy. Positions are kept by dotted key path so semantic checks, which run on
// the structs, can still point at the line the admin has to edit.
#include <map>
#include <string>
#include <vector>

#include "dynmx/policy.hpp"

namespace dynmx::policy_detail {

/// Where keys and table headers were written, by dotted path ("isp.password", "ddns.account[1]").
struct Positions {
  std::map<std::string, SourcePos> keys;    ///< value positions of keys that were present
  std::map<std::string, SourcePos> tables;  ///< header positions of tables that were present

  /// True if the key was written in the file.
  [[nodiscard]] bool has(const std::string& path) const { return keys.count(path) != 0; }
  /// Position of a key's value; {0,0} (whole file) when absent.
  [[nodiscard]] SourcePos key(const std::string& path) const;
  /// Position of a table header; {0,0} when absent.
  [[nodiscard]] SourcePos table(const std::string& path) const;
  /// The first present position among the paths (keys, then tables); {0,0} when none is.
  [[nodiscard]] SourcePos first(std::initializer_list<std::string> paths) const;
};

/// A policy as parsed, whatever its errors, with every position and finding so far.
struct Draft {
  Policy policy;
  Positions pos;
  std::vector<Diagnostic> diagnostics;
  bool syntaxOk = false;  ///< false: TOML did not parse; the policy is all defaults
};

/// TOML text → Draft: syntax, key names, types, value ranges. Never stops at the first error.
Draft parseDraft(std::string_view text, const std::string& fileName);

/// Cross-key checks that keep mail safe; appends to draft.diagnostics.
void checkSemantics(Draft& draft);

/// Add a diagnostic at `pos`.
void report(std::vector<Diagnostic>& out, const std::string& file, SourcePos pos, Severity severity,
            std::string message);

/// Levenshtein distance, for did-you-mean suggestions.
int editDistance(std::string_view a, std::string_view b);

/// Classify a literal IP address; "" if it is a publishable (public or documentation) address,
/// otherwise the reason ("private", "loopback", ...). nullopt-like "not an address" is "invalid".
std::string addressProblem(const std::string& text);

/// "host:port" or "[v6]:port" → HostPort; nullopt when malformed (policy/parse.cpp).
std::optional<HostPort> parseHostPort(const std::string& s);

/// True for 127.0.0.0/8, ::1 and "localhost".
bool isLoopbackHost(const std::string& host);

/// Checks of the `rfc2136` provider kind's keys (policy/rfc2136.cpp). True when the account is
/// an rfc2136 one (the dyndns2 checks then do not apply); for other providers it reports
/// rfc2136-only keys that were set.
bool checkRfc2136Account(Draft& draft, const DdnsAccount& account, const std::string& path);

/// The rfc2136 accounts' key files: readable, 0600, no symlink, a key that parses.
void checkRfc2136KeyFiles(std::vector<Diagnostic>& out, const Policy& policy);

/// How many characters of a value a message shows before cutting it with "…".
inline constexpr std::size_t kShownValueChars = 60;

/// `value` as a message shows it: its first kShownValueChars characters (UTF-8 aware) and
/// "…" when longer, so a pasted blob or a runaway line does not bury the message.
std::string shortened(std::string_view value);

/// shortened(value) in double quotes, as messages quote the value they complain about.
std::string quoted(std::string_view value);

}  // namespace dynmx::policy_detail
