#pragma once
// Each subcommand registers itself on the CLI app; its callback stores the exit code.
#include <CLI/CLI.hpp>

namespace dynmx::cli {

/// Subcommands write their process exit code here.
struct ExitCode {
  int value = 0;
};

/// The policy file every subcommand reads when `-c` is not given (also in the unit, the man
/// pages and the docs: keep them in step).
inline constexpr const char* kDefaultPolicyFile = "/etc/dynmx/dynmx.toml";

void registerCheck(CLI::App& app, ExitCode& exit);
void registerRenderFetchmail(CLI::App& app, ExitCode& exit);
void registerExplain(CLI::App& app, ExitCode& exit);
void registerUpdate(CLI::App& app, ExitCode& exit);
void registerStatus(CLI::App& app, ExitCode& exit);
void registerRun(CLI::App& app, ExitCode& exit);

}  // namespace dynmx::cli
