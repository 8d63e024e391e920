#pragma once
// Each subcommand registers itself on the CLI app; its callback stores the exit code.
#include <CLI/CLI.hpp>

namespace dynmx::cli {

/// Subcommands write their process exit code here.
struct ExitCode {
  int value = 0;
};

void registerCheck(CLI::App& app, ExitCode& exit);
void registerRenderFetchmail(CLI::App& app, ExitCode& exit);
void registerExplain(CLI::App& app, ExitCode& exit);
void registerUpdate(CLI::App& app, ExitCode& exit);
void registerStatus(CLI::App& app, ExitCode& exit);
void registerRun(CLI::App& app, ExitCode& exit);

}  // namespace dynmx::cli
