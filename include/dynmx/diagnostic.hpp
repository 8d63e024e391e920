#pragma once
// A message about a place in a file, for humans: "file:line:col: severity: message".
#include <string>
#include <vector>

namespace dynmx {

/// How bad a diagnostic is. Errors make a policy invalid; warnings do not.
enum class Severity { Warning, Error };

/// One finding in a file. line/column are 1-based; 0 means "whole file".
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  Severity severity = Severity::Error;
  std::string message;
};

/// "file:line:col: error: message" (line/col omitted when 0).
std::string formatDiagnostic(const Diagnostic& d);

/// True if any diagnostic is an error.
bool hasErrors(const std::vector<Diagnostic>& ds);

}  // namespace dynmx
