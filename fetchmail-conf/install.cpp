// The edge of fetchmail-conf: validate a candidate rc with the real fetchmail, then put it
// in place atomically. A daemon-mode fetchmail re-reads a changed rc at its next poll and
// quietly exits if the new one is broken, so nothing reaches `path` before it passed.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "dynmx/atomic_file.hpp"
#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/process.hpp"

namespace dynmx::fetchmail {
namespace {

// Printed by fetchmail whenever it runs as root, whatever the file says. The CLI and the
// daemon validate as root (the file is handed to the fetchmail user afterwards), so this
// line says nothing about the candidate and is the only stderr line we accept.
constexpr std::string_view kRootWarning = "fetchmail: WARNING: Running as root is discouraged.";

std::string currentUserName() {
  const passwd* pw = ::getpwuid(::geteuid());
  if (pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
  return std::to_string(::geteuid());
}

void replaceAll(std::string& text, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (std::size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
}

/// Every `password "..."` value in an rc text, both as written and as fetchmail reads it.
std::vector<std::string> passwordsIn(const std::string& rc) {
  std::vector<std::string> out;
  static constexpr std::string_view kKey = "password ";
  for (std::size_t pos = rc.find(kKey); pos != std::string::npos; pos = rc.find(kKey, pos + 1)) {
    std::size_t start = pos + kKey.size();
    if (start >= rc.size() || (rc[start] != '"' && rc[start] != '\'')) continue;
    std::size_t end = rc.find(rc[start], start + 1);
    if (end == std::string::npos) continue;
    std::string quoted = rc.substr(start, end - start + 1);
    out.push_back(quoted.substr(1, quoted.size() - 2));
    if (auto raw = unquote(quoted); raw.ok() && !raw->empty()) out.push_back(*raw);
  }
  // Longest first, so a secret that contains another is removed whole.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

std::string scrubSecrets(std::string text, const std::string& rcText) {
  for (const auto& secret : passwordsIn(rcText)) replaceAll(text, secret, "********");
  return text;
}

Validator fetchmailValidator(const std::string& fetchmailBinary, const std::string& fetchmailHome) {
  return [fetchmailBinary, fetchmailHome](const std::string& path) {
    Validation v;
    ProcessSpec spec;
    spec.argv = {fetchmailBinary, "--configdump", "--nosyslog", "-f", path};
    // Without FETCHMAILHOME/FETCHMAILUSER fetchmail looks for ~ and the login name, which a
    // service account may not have.
    spec.env = {{"FETCHMAILHOME", fetchmailHome}, {"HOME", fetchmailHome}, {"FETCHMAILUSER", currentUserName()},
                {"LC_ALL", "C"}};
    spec.timeout = std::chrono::seconds(20);
    ProcessResult r = runProcess(spec);
    // stdout is the configuration dump, password included: it is dropped unread.
    std::string rcText;
    if (auto t = readFile(path); t.ok()) rcText = std::move(*t);
    std::ostringstream diag;
    bool warned = false;
    std::istringstream err(r.err);
    for (std::string line; std::getline(err, line);) {
      if (line.empty() || line == kRootWarning) continue;
      warned = true;
      diag << line << '\n';
    }
    if (!r.started) diag << "cannot run " << fetchmailBinary << ": " << r.error << '\n';
    if (r.timedOut) diag << fetchmailBinary << " --configdump did not finish in time\n";
    if (r.signal != 0) diag << fetchmailBinary << " --configdump was killed by signal " << r.signal << '\n';
    v.exitCode = r.exitCode;
    v.ok = r.succeeded() && !warned;
    v.diagnostics = scrubSecrets(diag.str(), rcText);
    return v;
  };
}

Status<> installRc(const std::string& path, std::string_view text, const Validator& validate,
                   const InstallOptions& options) {
  // Created 0600 by mkostemp and owned by us: fetchmail insists on owner-only access, and
  // the password is never readable by anyone else, not even for a moment.
  StagedFile staged(path, text, AtomicWriteOptions{.mode = 0600});
  if (!staged.ok()) return fail(staged.error());
  // Validate while the file is still ours: fetchmail refuses an rc owned by another user,
  // and we run as root when the rc belongs to the fetchmail user.
  Validation v = validate(staged.tempPath());
  if (!v.ok) {
    std::string diag = v.diagnostics;
    replaceAll(diag, staged.tempPath(), path + " (candidate)");
    while (!diag.empty() && diag.back() == '\n') diag.pop_back();
    return fail("fetchmail rejected the new rc for " + path + " (exit " + std::to_string(v.exitCode) +
                "), the previous file is unchanged" + (diag.empty() ? std::string() : ": " + diag));
  }
  if (options.owner || options.group) {
    if (::chown(staged.tempPath().c_str(), options.owner.value_or(static_cast<uid_t>(-1)),
                options.group.value_or(static_cast<gid_t>(-1))) != 0)
      return fail("cannot hand " + path + " to its owner: " + std::strerror(errno));
  }
  return staged.commit();
}

}  // namespace dynmx::fetchmail
