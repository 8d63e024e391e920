// The edge of fetchmail-conf: validate a candidate rc with the real fetchmail, then put it
// in place atomically. A daemon-mode fetchmail re-reads a changed rc at its next poll and
// quietly exits if the new one is broken, so nothing reaches `path` before it passed.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include <boost/asio/post.hpp>

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

ProcessSpec configdumpSpec(const std::string& fetchmailBinary, const std::string& fetchmailHome,
                           const std::string& path, const ValidateAs& as) {
  ProcessSpec spec;
  spec.argv = {fetchmailBinary, "--configdump", "--nosyslog", "-f", path};
  // Without FETCHMAILHOME/FETCHMAILUSER fetchmail looks for ~ and the login name, which a
  // service account may not have.
  spec.env = {{"FETCHMAILHOME", fetchmailHome},
              {"HOME", fetchmailHome},
              {"FETCHMAILUSER", as.userName.empty() ? currentUserName() : as.userName},
              {"LC_ALL", "C"}};
  spec.uid = as.uid;
  spec.gid = as.gid;
  spec.timeout = std::chrono::seconds(20);
  return spec;
}

Validation judgeConfigdump(const std::string& fetchmailBinary, bool started, const std::string& startError,
                           int exitCode, int signal, bool timedOut, const std::string& stderrText,
                           const std::string& rcText) {
  Validation v;
  std::ostringstream diag;
  bool warned = false;
  std::istringstream err(stderrText);
  for (std::string line; std::getline(err, line);) {
    if (line.empty() || line == kRootWarning) continue;
    warned = true;
    diag << line << '\n';
  }
  if (!started) diag << "cannot run " << fetchmailBinary << ": " << startError << '\n';
  if (timedOut) diag << fetchmailBinary << " --configdump did not finish in time\n";
  if (signal != 0) diag << fetchmailBinary << " --configdump was killed by signal " << signal << '\n';
  v.exitCode = exitCode;
  v.ok = started && !timedOut && signal == 0 && exitCode == 0 && !warned;
  v.diagnostics = scrubSecrets(diag.str(), rcText);
  return v;
}

Validator fetchmailValidator(const std::string& fetchmailBinary, const std::string& fetchmailHome,
                             const ValidateAs& as) {
  return [fetchmailBinary, fetchmailHome, as](const std::string& path) {
    ProcessResult r = runProcess(configdumpSpec(fetchmailBinary, fetchmailHome, path, as));
    // stdout is the configuration dump, password included: it is dropped unread.
    std::string rcText;
    if (auto t = readFile(path); t.ok()) rcText = std::move(*t);
    return judgeConfigdump(fetchmailBinary, r.started, r.error, r.exitCode, r.signal, r.timedOut, r.err, rcText);
  };
}

namespace {

Status<> rejected(const std::string& path, const std::string& tempPath, const Validation& v) {
  std::string diag = v.diagnostics;
  replaceAll(diag, tempPath, path + " (candidate)");
  while (!diag.empty() && diag.back() == '\n') diag.pop_back();
  return fail("fetchmail rejected the new rc for " + path + " (exit " + std::to_string(v.exitCode) +
              "), the previous file is unchanged" + (diag.empty() ? std::string() : ": " + diag));
}

Status<> handOver(const std::string& path, const std::string& tempPath, const InstallOptions& options) {
  if (!options.owner && !options.group) return Ok{};
  if (::chown(tempPath.c_str(), options.owner.value_or(static_cast<uid_t>(-1)),
              options.group.value_or(static_cast<gid_t>(-1))) != 0)
    return fail("cannot hand " + path + " to its owner: " + std::strerror(errno));
  return Ok{};
}

}  // namespace

Status<> installRc(const std::string& path, std::string_view text, const Validator& validate,
                   const InstallOptions& options) {
  // Created 0600 by mkostemp and owned by us: fetchmail insists on owner-only access, and
  // the password is never readable by anyone else, not even for a moment.
  StagedFile staged(path, text, AtomicWriteOptions{.mode = 0600});
  if (!staged.ok()) return fail(staged.error());
  // Handed to its owner first, so the validator can run as that user (fetchmail refuses an
  // rc owned by anyone else, and only that user may read its idfile, e.g. with `keep`).
  if (auto h = handOver(path, staged.tempPath(), options); !h.ok()) return h;
  Validation v = validate(staged.tempPath());
  if (!v.ok) return rejected(path, staged.tempPath(), v);
  return staged.commit();
}

void installRcAsync(boost::asio::io_context& io, ProcessLauncher& launcher, const std::string& path, std::string text,
                    const std::string& fetchmailBinary, const std::string& fetchmailHome, const ValidateAs& as,
                    const InstallOptions& options, std::function<void(Status<>)> done) {
  struct Job {
    std::unique_ptr<StagedFile> staged;
    std::unique_ptr<Child> child;
    std::string rcText;
    std::string err;
    std::function<void(Status<>)> done;
  };
  auto job = std::make_shared<Job>();
  job->rcText = std::move(text);
  job->done = std::move(done);
  job->staged = std::make_unique<StagedFile>(path, job->rcText, AtomicWriteOptions{.mode = 0600});
  if (!job->staged->ok()) {
    job->done(fail(job->staged->error()));
    return;
  }
  if (auto h = handOver(path, job->staged->tempPath(), options); !h.ok()) {
    job->done(h);
    return;
  }
  const ProcessSpec spec = configdumpSpec(fetchmailBinary, fetchmailHome, job->staged->tempPath(), as);
  std::string error;
  ChildCallbacks cb;
  // stdout is the configuration dump, password included: it is dropped unread.
  cb.onStdout = [](const std::string&) {};
  cb.onStderr = [job](const std::string& line) {
    if (job->err.size() < 16 * 1024) job->err += line + "\n";
  };
  cb.onExit = [&io, job, path, fetchmailBinary](const ChildExit& e) {
    const Validation v = judgeConfigdump(fetchmailBinary, true, "", e.exitCode, e.signal, e.timedOut, job->err,
                                         job->rcText);
    Status<> result = v.ok ? job->staged->commit() : rejected(path, job->staged->tempPath(), v);
    job->staged.reset();  // an uncommitted candidate is removed here
    auto finished = std::move(job->done);
    finished(std::move(result));
    // Not from inside its own callback: the handle (whose callbacks hold the job) goes later.
    boost::asio::post(io, [job] { job->child.reset(); });
  };
  job->child = launcher.launch(spec, std::move(cb), error);
  if (!job->child) {
    const Validation v = judgeConfigdump(fetchmailBinary, false, error, -1, 0, false, "", job->rcText);
    Status<> result = rejected(path, job->staged->tempPath(), v);
    job->staged.reset();
    job->done(std::move(result));
  }
}

}  // namespace dynmx::fetchmail
