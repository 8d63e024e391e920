// dynmx: keep a small office's mail off a stale dynamic address.
#include <iostream>

#include "commands.hpp"
#include "dynmx/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dynmx: switch mail between direct SMTP and fetchmail multidrop on DDNS health"};
  app.set_version_flag("--version", dynmx::kVersion);
  app.require_subcommand(1);
  dynmx::cli::ExitCode exit;
  dynmx::cli::registerCheck(app, exit);
  dynmx::cli::registerRenderFetchmail(app, exit);
  dynmx::cli::registerExplain(app, exit);
  dynmx::cli::registerUpdate(app, exit);
  dynmx::cli::registerStatus(app, exit);
  dynmx::cli::registerRun(app, exit);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit.value;
}
