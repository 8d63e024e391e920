// The policy's edge: reading the policy file and the password files. Messages name paths
// and modes, never what a secret file contains.
#include <fcntl.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dynmx/atomic_file.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/privileges.hpp"
#include "internal.hpp"

namespace dynmx {
namespace {

constexpr std::size_t kMaxSecret = 4096;

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

/// The one rule for a secret file, in code, docs/security.md, docs/configuration.md and the
/// example: a regular file (never a symbolic link) that the daemon user owns and nobody
/// else can read (no group or other bits: mode 0600 or 0400).
struct SecretOwner {
  uid_t uid = 0;
  std::string name;  ///< for the message
};

std::string ownerName(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
  return "uid " + std::to_string(uid);
}

/// Open `path` for reading a secret and check it against the rule. `owner`: who must own it
/// (unset: whoever we are may read it, which for a non-root reader already means owning it).
/// Returns the fd (caller closes) or -1 with `error` set.
int openSecret(const std::string& path, std::string& error, const std::optional<SecretOwner>& owner = {}) {
  // O_NOFOLLOW: a link is refused, never followed (a link to /etc/shadow must not be read,
  // nor its target "fixed" with chmod).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    struct stat lst {};
    if (e == ELOOP || (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)))
      error = "password file " + path +
              " is a symbolic link: point password_file at the file itself (links are refused)";
    else
      error = e == ENOENT ? "password file " + path + " does not exist"
                          : "password file " + path + " cannot be read: " + std::strerror(e);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = "password file " + path + " cannot be read: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "password file " + path + " is not a regular file";
    ::close(fd);
    return -1;
  }
  if (owner && st.st_uid != owner->uid) {
    error = "password file " + path + " belongs to " + ownerName(st.st_uid) + ", not to the daemon user " +
            owner->name + " who must read it: run chown " + owner->name + " " + path;
    ::close(fd);
    return -1;
  }
  if ((st.st_mode & 077) != 0) {
    error = "password file " + path + " is readable by group/other (mode " + octal(st.st_mode) +
            "): run chmod 600 " + path;
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Read a whole secret from an open fd (closes it); the error never holds the content.
SecretRead readOpenSecret(int fd, const std::string& path, const char* what) {
  SecretRead r;
  std::string data;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = std::string(what) + " " + path + " cannot be read: " + std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxSecret) {
      r.error = std::string(what) + " " + path + " is larger than 4096 bytes: is it the right file?";
      ::close(fd);
      return r;
    }
  }
  ::close(fd);
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (data.empty()) {
    r.error = std::string(what) + " " + path + " is empty";
    return r;
  }
  if (data.find('\0') != std::string::npos) {
    r.error = std::string(what) + " " + path + " holds a NUL byte: no server would see the whole secret";
    return r;
  }
  r.secret = std::move(data);
  return r;
}

/// Who must own secret files when this process checks them: as root, the daemon user (the
/// daemon reads them after dropping root); otherwise nobody in particular, since a file we
/// can read with no group/other bits is ours. nullopt with `note` when the daemon user is unknown.
std::optional<SecretOwner> expectedOwner(const Policy& p, std::string& note) {
  if (::geteuid() != 0) return std::nullopt;
  auto user = lookupUser(p.daemon.user);
  if (!user.ok()) {
    note = "daemon.user " + p.daemon.user + " does not exist: cannot check that it can read the password files";
    return std::nullopt;
  }
  return SecretOwner{user->uid, user->name};
}

void checkOne(std::vector<Diagnostic>& out, const Policy& p, const std::string& key, const std::string& path,
              SourcePos pos, const std::optional<SecretOwner>& owner) {
  if (path.empty()) return;
  std::string error;
  int fd = openSecret(path, error, owner);
  if (fd >= 0) {
    // Read it too, with the very function the daemon uses: an empty file must fail here.
    SecretRead r = readOpenSecret(fd, path, "password file");
    if (r.secret) return;
    error = r.error;
  }
  policy_detail::report(out, p.sourceFile, pos, Severity::Error, key + ": " + error);
}

/// password_credential / password_env → the secret, resolved where the daemon runs.
void resolveSecretSource(std::vector<Diagnostic>& out, const Policy& p, const std::string& key,
                         const std::string& credential, const std::string& env, SourcePos pos,
                         std::optional<std::string>& password) {
  if (!credential.empty()) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      policy_detail::report(out, p.sourceFile, pos, Severity::Warning,
                            key + ".password_credential \"" + credential +
                                "\" cannot be read here: $CREDENTIALS_DIRECTORY is not set (systemd sets it for "
                                "the service with LoadCredential=)");
      return;
    }
    const std::string path = std::string(dir) + "/" + credential;
    std::string error;
    // systemd owns the rule for its credentials directory (only the service can read it).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0) {
      policy_detail::report(out, p.sourceFile, pos, Severity::Error,
                            key + ".password_credential: credential " + path + " cannot be read: " +
                                std::strerror(errno));
      return;
    }
    SecretRead r = readOpenSecret(fd, path, "credential");
    if (!r.secret) {
      policy_detail::report(out, p.sourceFile, pos, Severity::Error, key + ".password_credential: " + r.error);
      return;
    }
    password = std::move(r.secret);
    return;
  }
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == '\0') {
      policy_detail::report(out, p.sourceFile, pos, Severity::Warning,
                            key + ".password_env: $" + env +
                                " is not set here (set it in the service's Environment= or EnvironmentFile=)");
      return;
    }
    password = std::string(value);
  }
}

}  // namespace

std::vector<Diagnostic> checkPolicyFiles(const Policy& policy) {
  std::vector<Diagnostic> out;
  std::string note;
  const auto owner = expectedOwner(policy, note);
  const bool anyFile = !policy.isp.passwordFile.empty() ||
                       std::any_of(policy.ddns.accounts.begin(), policy.ddns.accounts.end(),
                                   [](const DdnsAccount& a) { return !a.passwordFile.empty(); });
  if (!note.empty() && anyFile) policy_detail::report(out, policy.sourceFile, {}, Severity::Warning, note);
  checkOne(out, policy, "isp.password_file", policy.isp.passwordFile, policy.isp.passwordFilePos, owner);
  for (std::size_t i = 0; i < policy.ddns.accounts.size(); ++i) {
    const auto& a = policy.ddns.accounts[i];
    checkOne(out, policy, "ddns.account[" + std::to_string(i + 1) + "].password_file", a.passwordFile,
             a.passwordFilePos, owner);
    if (!a.caFile.empty() && ::access(a.caFile.c_str(), R_OK) != 0) {
      const std::string key = "ddns.account[" + std::to_string(i + 1) + "].ca_file";
      policy_detail::report(out, policy.sourceFile, a.pos, Severity::Error,
                            key + ": " + a.caFile + " cannot be read: " + std::strerror(errno));
    }
  }
  policy_detail::checkRfc2136KeyFiles(out, policy);
  return out;
}

SecretRead readSecretFile(const std::string& path) {
  SecretRead r;
  int fd = openSecret(path, r.error);
  if (fd < 0) return r;
  return readOpenSecret(fd, path, "password file");
}

namespace {

/// Credentials and environment secrets become the in-memory password, as an inline one would.
void resolveSecretSources(policy_detail::Draft& d) {
  Policy& policy = d.policy;
  const auto at = [&](const std::string& path) {
    return d.pos.first({path + ".password_credential", path + ".password_env", path});
  };
  resolveSecretSource(d.diagnostics, policy, "isp", policy.isp.passwordCredential, policy.isp.passwordEnv,
                      at("isp"), policy.isp.password);
  for (std::size_t i = 0; i < policy.ddns.accounts.size(); ++i) {
    auto& a = policy.ddns.accounts[i];
    const std::string path = "ddns.account[" + std::to_string(i + 1) + "]";
    resolveSecretSource(d.diagnostics, policy, path, a.passwordCredential, a.passwordEnv, at(path),
                        a.password);
  }
}

}  // namespace

PolicyLoad loadPolicy(const std::string& path) {
  PolicyLoad out;
  auto text = readFile(path);
  if (!text) {
    out.unreadable = true;
    out.diagnostics.push_back(
        Diagnostic{path, 0, 0, Severity::Error, "cannot read the policy file: " + text.error()});
    return out;
  }
  policy_detail::Draft d = policy_detail::parseDraft(*text, path);
  if (d.syntaxOk) {
    policy_detail::checkSemantics(d);
    // Run the file checks on the draft even when it has errors: report everything at once.
    auto files = checkPolicyFiles(d.policy);
    d.diagnostics.insert(d.diagnostics.end(), files.begin(), files.end());
    resolveSecretSources(d);
  }
  std::stable_sort(d.diagnostics.begin(), d.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair{a.line, a.column} < std::pair{b.line, b.column};
  });
  const bool bad = hasErrors(d.diagnostics);
  out.diagnostics = std::move(d.diagnostics);
  if (!bad) out.policy = std::move(d.policy);
  return out;
}

}  // namespace dynmx
