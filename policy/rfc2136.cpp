// The `rfc2136` provider kind's policy keys: key_file, zone, server, ttl. A provider is a
// kind with its own schema; these checks replace the dyndns2 ones (username, password)
// for such accounts.
#include <string>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/policy.hpp"
#include "internal.hpp"

namespace dynmx::policy_detail {
namespace {

bool inZone(const std::string& name, const std::string& zone) {
  return name == zone ||
         (name.size() > zone.size() + 1 && name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
          name[name.size() - zone.size() - 1] == '.');
}

}  // namespace

bool checkRfc2136Account(Draft& d, const DdnsAccount& a, const std::string& path) {
  const Positions& pos = d.pos;
  auto err = [&](SourcePos at, std::string m) {
    report(d.diagnostics, d.policy.sourceFile, at, Severity::Error, std::move(m));
  };
  auto warn = [&](SourcePos at, std::string m) {
    report(d.diagnostics, d.policy.sourceFile, at, Severity::Warning, std::move(m));
  };
  static const char* const kOwnKeys[] = {"key_file", "zone", "server", "ttl"};
  if (a.provider != "rfc2136") {
    for (const char* k : kOwnKeys)
      if (pos.has(path + "." + k))
        err(pos.key(path + "." + k), path + "." + k + " is for provider = \"rfc2136\" only");
    return false;
  }

  static const char* const kHttpKeys[] = {
      "url", "username", "password", "password_file", "ca_file", "allow_insecure_http", "tls_verify"};
  for (const char* k : kHttpKeys)
    if (pos.has(path + "." + k))
      err(pos.key(path + "." + k),
          path + "." + k + " does not apply to provider rfc2136: it signs DNS updates with key_file");

  const Rfc2136Account& r = a.rfc2136;
  if (r.keyFile.empty())
    err(pos.has(path + ".key_file") ? pos.key(path + ".key_file") : a.pos,
        path + " needs key_file: the TSIG key (tsig-keygen -a hmac-sha256 NAME > FILE; chmod 600 FILE)");
  else if (r.keyFile.front() != '/')
    err(pos.key(path + ".key_file"),
        path + ".key_file: \"" + r.keyFile +
            "\" must be an absolute path (the daemon does not run in the policy's directory)");

  if (r.zone.empty())
    err(pos.has(path + ".zone") ? pos.key(path + ".zone") : a.pos,
        path + " needs zone: the DNS zone the hosts are in (e.g. \"example.com\")");
  if (!r.server.empty() && !dnsupdate::parseServer(r.server))
    err(pos.key(path + ".server"),
        path + ".server: \"" + r.server +
            "\" is not an IP address with an optional port (e.g. \"192.0.2.53:53\" or "
            "\"[2001:db8::53]:53\")");
  if (r.ttl < 1 || r.ttl > 86400)
    err(pos.key(path + ".ttl"),
        path + ".ttl: " + std::to_string(r.ttl) + " is not between 1 and 86400 seconds");
  else if (r.ttl > 3600)
    warn(pos.key(path + ".ttl"), path + ".ttl: " + std::to_string(r.ttl) +
                                     " s: senders keep a stale address that long after the address changes");

  if (a.hosts.empty() && !pos.has(path + ".hosts"))
    err(a.pos, path + " needs hosts: the names this account updates");
  else if (a.hosts.empty())
    err(pos.key(path + ".hosts"), path + ".hosts is empty");
  if (!r.zone.empty())
    for (const auto& h : a.hosts)
      if (!inZone(h, r.zone))
        err(pos.key(path + ".hosts"), path + ".hosts: \"" + h + "\" is not inside zone " + r.zone);
  if (a.offlineOnMultidrop)
    warn(pos.key(path + ".offline_on_multidrop"),
         path + ".offline_on_multidrop is not supported by provider rfc2136 yet and is ignored");
  return true;
}

void checkRfc2136KeyFiles(std::vector<Diagnostic>& out, const Policy& policy) {
  for (std::size_t i = 0; i < policy.ddns.accounts.size(); ++i) {
    const auto& a = policy.ddns.accounts[i];
    if (a.provider != "rfc2136" || a.rfc2136.keyFile.empty() || a.rfc2136.keyFile.front() != '/') continue;
    auto key = dnsupdate::loadKeyFile(a.rfc2136.keyFile);
    if (!key.ok())
      report(out, policy.sourceFile, a.rfc2136.keyFilePos, Severity::Error,
             "ddns.account[" + std::to_string(i + 1) + "].key_file: " + key.error());
  }
}

}  // namespace dynmx::policy_detail
