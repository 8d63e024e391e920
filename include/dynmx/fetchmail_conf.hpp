#pragma once
// fetchmail multidrop configuration: render the rc from the policy (pure), escape strings
// (pure), and install it: validate with the real fetchmail, then write atomically (edge).
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <sys/types.h>

#include "dynmx/async_process.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/process.hpp"
#include "dynmx/result.hpp"

namespace dynmx::fetchmail {

/// Quote a string for the rc file: "..." with every byte outside [A-Za-z0-9@._+-] as \xHH.
/// Fails (with a message that does not contain the input) if it holds a NUL byte.
Result<std::string> quote(std::string_view raw);

/// Undo quote() following fetchmail's own lexer rules (\xHH, \n \t \r \b \\, \ddd decimal,
/// backslash-newline). Used by tests and the round-trip fuzzer.
Result<std::string> unquote(std::string_view quoted);

/// Inputs to rendering that are not in the policy.
struct RenderInput {
  std::string password;         ///< the ISP password (already read from its file)
  bool redactPassword = false;  ///< print "********" instead (for display)
  std::string idFile;           ///< where fetchmail keeps UIDs (default: <home>/fetchmail.ids)
  std::string pidFile;          ///< default: <home>/fetchmail.pid
};

/// Whether fetchmail delivers to the envelope guard ([delivery] guard, smtp/lmtp only).
bool guardActive(const Policy& policy);

/// The guard's LMTP socket: [guard] socket, or <state dir>/guard.sock.
std::string guardSocket(const Policy& policy);

/// Render the multidrop rc. Fails with a reason if the policy cannot be rendered safely
/// (e.g. no envelope header, no postmaster).
Result<std::string> renderRc(const Policy& policy, const RenderInput& input);

/// Outcome of validating a candidate rc file with the real fetchmail.
struct Validation {
  bool ok = false;
  int exitCode = -1;
  std::string diagnostics;  ///< fetchmail's stderr (warnings or errors), secrets removed
};

/// Validates an rc file at a path. The real one runs `fetchmail --configdump -f PATH`.
using Validator = std::function<Validation(const std::string& path)>;

/// Who runs the validation: the user that will run fetchmail (its idfile, e.g. with
/// `keep`, is readable by it alone). Unset uid: this process's user.
struct ValidateAs {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::string userName;  ///< FETCHMAILUSER; empty: this process's user name
};

/// The real validator: exit status 0 AND no warnings on stderr.
Validator fetchmailValidator(const std::string& fetchmailBinary, const std::string& fetchmailHome,
                             const ValidateAs& as = {});

/// The `fetchmail --configdump` run that validates the rc at `path` (no shell, bounded).
ProcessSpec configdumpSpec(const std::string& fetchmailBinary, const std::string& fetchmailHome,
                           const std::string& path, const ValidateAs& as);

/// Judge a finished configdump run: ok only for exit 0 and no stderr line but the "running
/// as root" notice. `stderrText`: its stderr; `rcText`: the candidate, whose passwords are
/// scrubbed from the diagnostics.
Validation judgeConfigdump(const std::string& fetchmailBinary, bool started, const std::string& startError,
                           int exitCode, int signal, bool timedOut, const std::string& stderrText,
                           const std::string& rcText);

/// Options for installRc.
struct InstallOptions {
  std::optional<uid_t> owner;  ///< the fetchmail user (the rc must be owned by it)
  std::optional<gid_t> group;
};

/// Replace every password found in `rcText` (as written and as fetchmail reads it) in
/// `text` by "********". Used on anything fetchmail prints about a candidate rc.
std::string scrubSecrets(std::string text, const std::string& rcText);

/// Stage the rc next to `path` (0600), validate it, and only then rename it into place.
/// On any failure the previous file is untouched and the error says why (never the password).
Status<> installRc(const std::string& path, std::string_view text, const Validator& validate,
                   const InstallOptions& options = {});

/// installRc on the event loop: the candidate is staged, handed to `options.owner`, checked
/// by `fetchmail --configdump` run as `as` through `launcher` (never blocking the loop),
/// and renamed into place only when it passed. `done` runs once, on the loop.
void installRcAsync(boost::asio::io_context& io, ProcessLauncher& launcher, const std::string& path, std::string text,
                    const std::string& fetchmailBinary, const std::string& fetchmailHome, const ValidateAs& as,
                    const InstallOptions& options, std::function<void(Status<>)> done);

}  // namespace dynmx::fetchmail
