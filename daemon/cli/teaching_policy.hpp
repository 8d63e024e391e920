#pragma once
// Loading a policy for the teaching commands (`explain`, `render-fetchmail` without
// --write): they read no secret, so a password file that is missing or unreadable is a
// note, not an error. Everything else the policy says is checked as `dynmx check` does.
#include <iostream>
#include <optional>
#include <string>

#include "dynmx/atomic_file.hpp"
#include "dynmx/policy.hpp"

namespace dynmx::cli {

/// Parse `path` for a command that reads no secret: errors go to `err` (nullopt back);
/// the secret-file findings go to `err` as "file:line:col: note: ...".
inline std::optional<Policy> loadPolicyWithoutSecrets(const std::string& path, std::ostream& err) {
  auto text = readFile(path);
  if (!text) {
    err << path << ": error: cannot read the policy file: " << text.error() << '\n';
    return std::nullopt;
  }
  PolicyLoad load = parsePolicy(*text, path);
  for (const auto& d : load.diagnostics)
    if (d.severity == Severity::Error) err << formatDiagnostic(d) << '\n';
  if (!load.policy) return std::nullopt;
  for (auto d : checkPolicyFiles(*load.policy)) {
    std::string line = formatDiagnostic(d);
    const std::string error = ": error: ";
    if (auto at = line.find(error); at != std::string::npos) line.replace(at, error.size(), ": note: ");
    err << line << " (not needed here; `dynmx run` and `render-fetchmail --write` need it)\n";
  }
  return load.policy;
}

}  // namespace dynmx::cli
