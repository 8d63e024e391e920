#include "commands.hpp"
namespace dynmx::cli {
void registerRenderFetchmail(CLI::App& app, ExitCode& exit) {
  auto* sub = app.add_subcommand("render-fetchmail", "not implemented yet");
  sub->callback([&exit] { exit.value = 1; });
}
}  // namespace dynmx::cli
