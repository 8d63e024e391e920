#include "commands.hpp"
namespace dynmx::cli {
void registerCheck(CLI::App& app, ExitCode& exit) {
  auto* sub = app.add_subcommand("check", "not implemented yet");
  sub->callback([&exit] { exit.value = 1; });
}
}  // namespace dynmx::cli
