// The [daemon] paths of a policy that does not load as a whole: `dynmx status` must still
// find the running daemon (which keeps its last good policy) after a bad edit.
#include <toml++/toml.h>

#include <sstream>

#include "dynmx/policy.hpp"

namespace dynmx {
namespace {

std::optional<toml::table> parseToml(std::string_view text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

bool isTableHeader(const std::string& line) {
  const auto first = line.find_first_not_of(" \t");
  return first != std::string::npos && line[first] == '[';
}

bool isDaemonHeader(const std::string& line) {
  std::string compact;
  for (char c : line) {
    if (c == '#') break;
    if (c != ' ' && c != '\t' && c != '\r') compact += c;
  }
  return compact == "[daemon]";
}

}  // namespace

std::optional<DaemonPaths> salvageDaemonPaths(std::string_view text) {
  auto root = parseToml(text);
  if (!root) {
    // A syntax error elsewhere: parse the [daemon] table on its own.
    std::istringstream in{std::string(text)};
    std::string section;
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
      if (isTableHeader(line)) inside = isDaemonHeader(line);
      if (inside) section += line + "\n";
    }
    if (section.empty()) return std::nullopt;
    root = parseToml(section);
    if (!root) return std::nullopt;
  }
  DaemonPaths out;
  const DaemonSection defaults;
  out.stateDir = (*root)["daemon"]["state_dir"].value_or(defaults.stateDir);
  out.controlSocket = (*root)["daemon"]["control_socket"].value_or(defaults.controlSocket);
  return out;
}

}  // namespace dynmx
