#include "commands.hpp"
namespace dynmx::cli {
void registerExplain(CLI::App& app, ExitCode& exit) {
  auto* sub = app.add_subcommand("explain", "not implemented yet");
  sub->callback([&exit] { exit.value = 1; });
}
}  // namespace dynmx::cli
