// The policy's edge: reading the policy file and the password files. Messages name paths
// and modes, never what a secret file contains.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dynmx/atomic_file.hpp"
#include "dynmx/policy.hpp"
#include "internal.hpp"

namespace dynmx {
namespace {

constexpr std::size_t kMaxSecret = 4096;

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

/// Open `path` for reading a secret and check it: regular file, no group/other bits.
/// Returns the fd (caller closes) or -1 with `error` set.
int openSecret(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
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
  if ((st.st_mode & 077) != 0) {
    error = "password file " + path + " is readable by group/other (mode " + octal(st.st_mode) +
            "): run chmod 600 " + path;
    ::close(fd);
    return -1;
  }
  return fd;
}

void checkOne(std::vector<Diagnostic>& out, const Policy& p, const std::string& key, const std::string& path,
              SourcePos pos) {
  if (path.empty()) return;
  std::string error;
  int fd = openSecret(path, error);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  policy_detail::report(out, p.sourceFile, pos, Severity::Error, key + ": " + error);
}

}  // namespace

std::vector<Diagnostic> checkPolicyFiles(const Policy& policy) {
  std::vector<Diagnostic> out;
  checkOne(out, policy, "isp.password_file", policy.isp.passwordFile, policy.isp.passwordFilePos);
  for (std::size_t i = 0; i < policy.ddns.accounts.size(); ++i) {
    const auto& a = policy.ddns.accounts[i];
    checkOne(out, policy, "ddns.account[" + std::to_string(i + 1) + "].password_file", a.passwordFile,
             a.passwordFilePos);
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
  std::string data;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = "password file " + path + " cannot be read: " + std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxSecret) {
      r.error = "password file " + path + " is larger than 4096 bytes: is it the right file?";
      ::close(fd);
      return r;
    }
  }
  ::close(fd);
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (data.empty()) {
    r.error = "password file " + path + " is empty";
    return r;
  }
  r.secret = std::move(data);
  return r;
}

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
