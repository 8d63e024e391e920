// Cross-key checks: each one guards a way the mail could go to the wrong person, loop, or
// leak a password. They run on the structs; positions come from the draft.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "dynmx/ddns/provider.hpp"
#include "internal.hpp"

namespace dynmx::policy_detail {

SourcePos Positions::key(const std::string& path) const {
  auto it = keys.find(path);
  return it == keys.end() ? SourcePos{} : it->second;
}

SourcePos Positions::table(const std::string& path) const {
  auto it = tables.find(path);
  return it == tables.end() ? SourcePos{} : it->second;
}

SourcePos Positions::first(std::initializer_list<std::string> paths) const {
  for (const auto& p : paths) {
    if (auto k = keys.find(p); k != keys.end()) return k->second;
    if (auto t = tables.find(p); t != tables.end()) return t->second;
  }
  return {};
}

void report(std::vector<Diagnostic>& out, const std::string& file, SourcePos pos, Severity severity,
            std::string message) {
  out.push_back(Diagnostic{file, pos.line, pos.column, severity, std::move(message)});
}

int editDistance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

bool inV4(const std::array<unsigned char, 4>& a, unsigned net, int bits) {
  unsigned v = (unsigned{a[0]} << 24) | (unsigned{a[1]} << 16) | (unsigned{a[2]} << 8) | unsigned{a[3]};
  unsigned mask = bits == 0 ? 0 : ~0U << (32 - bits);
  return (v & mask) == (net & mask);
}

constexpr unsigned v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

}  // namespace

std::string addressProblem(const std::string& text) {
  std::array<unsigned char, 4> a4{};
  std::array<unsigned char, 16> a6{};
  if (inet_pton(AF_INET, text.c_str(), a4.data()) == 1) {
    struct Block {
      unsigned net;
      int bits;
      const char* name;
    };
    static const Block blocks[] = {
        {v4(0, 0, 0, 0), 8, "unspecified"},     {v4(10, 0, 0, 0), 8, "private"},
        {v4(100, 64, 0, 0), 10, "CGNAT"},       {v4(127, 0, 0, 0), 8, "loopback"},
        {v4(169, 254, 0, 0), 16, "link-local"}, {v4(172, 16, 0, 0), 12, "private"},
        {v4(192, 0, 0, 0), 24, "reserved"},     {v4(192, 88, 99, 0), 24, "reserved"},
        {v4(192, 168, 0, 0), 16, "private"},    {v4(198, 18, 0, 0), 15, "benchmark"},
        {v4(224, 0, 0, 0), 4, "multicast"},     {v4(240, 0, 0, 0), 4, "reserved"},
    };
    for (const auto& b : blocks)
      if (inV4(a4, b.net, b.bits)) return b.name;
    return "";
  }
  if (inet_pton(AF_INET6, text.c_str(), a6.data()) == 1) {
    static const std::array<unsigned char, 16> kZero{};
    std::array<unsigned char, 16> one{};
    one[15] = 1;
    if (a6 == kZero) return "unspecified";
    if (a6 == one) return "loopback";
    if (a6[0] == 0xfe && (a6[1] & 0xc0) == 0x80) return "link-local";
    if ((a6[0] & 0xfe) == 0xfc) return "unique-local (private)";
    if (a6[0] == 0xff) return "multicast";
    if ((a6[0] & 0xe0) != 0x20) return "reserved";  // only 2000::/3 is global unicast
    return "";
  }
  return "invalid";
}

bool isLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  std::array<unsigned char, 4> a4{};
  return inet_pton(AF_INET, host.c_str(), a4.data()) == 1 && a4[0] == 127;
}

namespace {

class Checker {
 public:
  explicit Checker(Draft& d) : d_(d), p_(d.policy), pos_(d.pos) {}

  void run() {
    mail();
    multidrop();
    isp();
    delivery();
    fetchmail();
    ddns();
    daemon();
  }

 private:
  void err(SourcePos at, std::string m) {
    report(d_.diagnostics, p_.sourceFile, at, Severity::Error, std::move(m));
  }
  void warn(SourcePos at, std::string m) {
    report(d_.diagnostics, p_.sourceFile, at, Severity::Warning, std::move(m));
  }
  [[nodiscard]] bool needsMultidrop() const { return p_.mail.mode != MailPolicy::Direct; }
  [[nodiscard]] bool canBeDirect() const { return p_.mail.mode != MailPolicy::Multidrop; }
  [[nodiscard]] const char* mode() const { return toString(p_.mail.mode); }
  /// Where the mode was decided: the mode key, else the [mail] header (the default applies).
  [[nodiscard]] SourcePos modeAt() const { return pos_.first({"mail.mode", "mail"}); }

  void absolutePath(const std::string& path, const std::string& value, const char* why) {
    if (!value.empty() && value.front() != '/')
      err(pos_.key(path), path + ": " + quoted(value) + " must be an absolute path (" + why + ")");
  }

  void mail() {
    if (p_.mail.domains.empty() && !pos_.has("mail.domains")) {
      err(pos_.table("mail"),
          "[mail] domains is missing: list the domains this server receives mail for "
          "(e.g. domains = [\"example.com\"])");
    } else if (p_.mail.domains.empty() && pos_.key("mail.domains").line > 0 &&
               std::none_of(d_.diagnostics.begin(), d_.diagnostics.end(),
                            [](const Diagnostic& x) { return x.message.rfind("mail.domains", 0) == 0; })) {
      err(pos_.key("mail.domains"), "mail.domains is empty: list the domains this server receives mail for");
    }
    if (p_.mail.mode == MailPolicy::Direct && p_.link.type == LinkType::Dialup) {
      warn(pos_.first({"mail.mode", "link.type"}),
           "mail mode direct on a dialup link: dynamic DNS is only safe on a dedicated link; while the "
           "line is down or redialled, the MX name can point at a stranger's address");
    }
  }

  // What multidrop (and auto, which may choose it at any time) cannot work without.
  void multidrop() {
    if (p_.envelope.skip < 0)
      err(pos_.key("envelope.skip"), "envelope.skip must be 0 or more (how many matching headers to skip)");
    if (!p_.envelope.header.empty()) {
      const auto& h = p_.envelope.header;
      bool okName =
          std::all_of(h.begin(), h.end(), [](unsigned char c) { return c > 32 && c < 127 && c != ':'; });
      if (!okName)
        err(pos_.key("envelope.header"), "envelope.header: " + quoted(h) +
                                             " is not a header field name (e.g. \"Delivered-To\" or "
                                             "\"X-Original-To\", without the colon)");
    }
    if (!needsMultidrop()) return;
    const SourcePos modeAt = this->modeAt();
    if (p_.envelope.header.empty()) {
      err(pos_.first({"envelope.header", "envelope", "mail.mode", "mail"}),
          std::string("mail mode ") + mode() +
              " needs [envelope] header (e.g. header = \"Delivered-To\"): without the envelope header "
              "fetchmail guesses recipients from To/Cc, so Bcc and mailing-list mail are misrouted or lost");
    }
    const SourcePos ispAt = pos_.table("isp").line > 0 ? pos_.table("isp") : modeAt;
    if (p_.isp.server.empty())
      err(ispAt, std::string("mail mode ") + mode() + " needs [isp] server: the ISP mailbox to fetch from");
    if (p_.isp.user.empty())
      err(ispAt, std::string("mail mode ") + mode() + " needs [isp] user: the login of the ISP mailbox");
    if (p_.isp.passwordFile.empty() && !pos_.has("isp.password") && !externalSecret("isp"))
      err(ispAt, std::string("mail mode ") + mode() + " needs [isp] password_file: the ISP mailbox password");
    const SourcePos usersAt = pos_.table("users").line > 0 ? pos_.table("users") : modeAt;
    if (p_.users.postmaster.empty())
      err(usersAt, std::string("mail mode ") + mode() +
                       " needs [users] postmaster: the local user who receives mail for unknown names");
    if (p_.users.map.empty() && !p_.users.wildcard)
      err(usersAt, std::string("mail mode ") + mode() +
                       " needs [users] map or wildcard = true: otherwise no recipient maps to a local user "
                       "and everything goes to the postmaster");
  }

  /// password_credential or password_env given for `path` (resolved by loadPolicy).
  [[nodiscard]] bool externalSecret(const std::string& path) const {
    return pos_.has(path + ".password_credential") || pos_.has(path + ".password_env");
  }

  void secret(const std::string& path, const std::string& file, const std::optional<std::string>& inlinePw) {
    int sources = (pos_.has(path + ".password") ? 1 : 0) + (file.empty() ? 0 : 1) +
                  (pos_.has(path + ".password_credential") ? 1 : 0) + (pos_.has(path + ".password_env") ? 1 : 0);
    for (const char* key : {".password_credential", ".password_env"}) {
      if (!pos_.has(path + key)) continue;
      if (sources > 1)
        err(pos_.key(path + key), path + ": give the secret one way only: password_file, password_credential, "
                                         "password_env or password");
      sources = 1;  // said once is enough
    }
    const std::string& credential =
        path == "isp" ? p_.isp.passwordCredential : accountAt(path).passwordCredential;
    if (!credential.empty() && (credential.find('/') != std::string::npos || credential == "." || credential == ".."))
      err(pos_.key(path + ".password_credential"),
          path + ".password_credential must be a credential name (as in LoadCredential=NAME:...), not a path");
    if (externalSecret(path)) return;
    if (inlinePw && !file.empty()) {
      err(pos_.key(path + ".password"),
          path + ": both password and password_file are set: keep only password_file");
    } else if (inlinePw && inlinePw->find('\0') != std::string::npos) {
      // Never quote it: the value is a secret. HTTP Basic and fetchmail cut at the NUL.
      err(pos_.key(path + ".password"), path + ".password holds a NUL byte: no server would see the whole secret");
    } else if (inlinePw && inlinePw->empty()) {
      err(pos_.key(path + ".password"), path + ".password is empty");
    } else if (inlinePw) {
      warn(pos_.key(path + ".password"),
           path +
               ".password is written inline: prefer password_file (a file only root can read), so the "
               "policy file can be shared and backed up without the secret");
    }
    absolutePath(path + ".password_file", file, "the daemon does not run in this directory");
  }

  void isp() {
    secret("isp", p_.isp.passwordFile, p_.isp.password);
    if (pos_.has("isp.certificate_check") && !p_.isp.certificateCheck)
      warn(pos_.key("isp.certificate_check"),
           "isp.certificate_check = false: anyone between us and the ISP can pose as the mail server, "
           "read the password and the mail");
    if (p_.isp.tls == TlsMode::None && !p_.isp.server.empty() && !isLoopbackHost(p_.isp.server))
      warn(pos_.key("isp.tls"), "isp.tls = \"none\" with server " + p_.isp.server +
                                    ": the password and the mail travel in clear text");
    if (p_.isp.timeout.count() <= 0) err(pos_.key("isp.timeout"), "isp.timeout must be more than 0s");
  }

  void delivery() {
    const auto& dl = p_.delivery;
    if (dl.method == DeliveryMethod::Mda) {
      if (dl.mda.empty())
        err(pos_.first({"delivery.method"}), "delivery method mda needs delivery.mda: the command to run");
      if (dl.mda.find("sendmail") != std::string::npos &&
          (dl.mda.find(" -t") != std::string::npos || dl.mda.find("\t-t") != std::string::npos))
        err(pos_.key("delivery.mda"),
            "delivery.mda: \"sendmail -t\" takes recipients from the headers, not the envelope: Bcc and list "
            "mail go to the wrong people and mail for our domains can loop; pass the recipient with %T "
            "instead");
      return;
    }
    if (dl.target.host.empty())
      err(pos_.first({"delivery.host", "delivery"}), "delivery.host must not be empty");
    if (dl.method == DeliveryMethod::Lmtp && !pos_.has("delivery.port"))
      err(pos_.first({"delivery.method"}),
          "delivery method lmtp needs an explicit delivery.port (fetchmail has no LMTP default port)");
    std::string host = dl.target.host;
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (std::find(p_.mail.domains.begin(), p_.mail.domains.end(), host) != p_.mail.domains.end())
      err(pos_.key("delivery.host"), "delivery.host " + quoted(dl.target.host) +
                                         " is one of our mail domains: fetched mail would go back to our MX "
                                         "and loop; deliver to the local MTA (e.g. 127.0.0.1)");
  }

  void fetchmail() {
    const auto& f = p_.fetchmail;
    if (f.user == "root" || f.user == "0")
      err(pos_.key("fetchmail.user"),
          "fetchmail.user must not be root: as root, `is * here` makes root the "
          "fallback recipient; use an unprivileged user such as \"fetchmail\"");
    if (f.user.empty()) err(pos_.key("fetchmail.user"), "fetchmail.user must not be empty");
    if (f.pollInterval > kMaxFetchmailPollInterval)
      err(pos_.key("fetchmail.poll_interval"),
          "fetchmail.poll_interval must be at most " + std::to_string(kMaxFetchmailPollInterval.count()) +
              "s: fetchmail reads `set daemon` as a C int, and a larger number wraps (to 0: poll without "
              "pause)");
    if (f.pollInterval < std::chrono::seconds(10))
      err(pos_.key("fetchmail.poll_interval"),
          "fetchmail.poll_interval must be at least 10s (shorter polls hammer the ISP and can get the "
          "mailbox locked)");
    if (f.sweepInterval.count() != 0 && f.sweepInterval < std::chrono::seconds(10))
      err(pos_.key("fetchmail.sweep_interval"),
          "fetchmail.sweep_interval must be 0 (never) or at least 10s (shorter polls hammer the ISP)");
    absolutePath("fetchmail.binary", f.binary, "it is run without a shell or PATH");
    absolutePath("fetchmail.rc_path", f.rcPath, "the daemon does not run in this directory");
    absolutePath("fetchmail.home", f.home, "the daemon does not run in this directory");
  }

  void ddns() {
    const auto& dd = p_.ddns;
    if (dd.staticAddress) {
      std::string problem = addressProblem(*dd.staticAddress);
      if (problem == "invalid")
        err(pos_.key("ddns.static_address"),
            "ddns.static_address: " + quoted(*dd.staticAddress) + " is not a literal IPv4 or IPv6 address");
      else if (!problem.empty())
        err(pos_.key("ddns.static_address"),
            "ddns.static_address: " + *dd.staticAddress + " is a " + problem +
                " address: the internet cannot deliver mail to it; declare the public address");
    }
    if (dd.enabled && dd.accounts.empty() && !dd.staticAddress && canBeDirect())
      err(pos_.first({"ddns.enabled", "ddns", "mail.mode", "mail"}),
          std::string("mail mode ") + mode() +
              " needs a [[ddns.account]] or ddns.static_address: nothing would keep the MX name pointing "
              "at us");
    if (!dd.enabled && !dd.accounts.empty())
      warn(pos_.key("ddns.enabled"), "ddns.enabled = false: the " + std::to_string(dd.accounts.size()) +
                                         " [[ddns.account]] entries are ignored");
    if (p_.health.holdDown.count() <= 0)
      err(pos_.first({"health.hold_down", "health"}),
          "health.hold_down must be more than 0s: without it mail flaps between direct and multidrop");
    for (const auto& [path, value] : {std::pair{"ddns.check_interval", dd.checkInterval},
                                      std::pair{"ddns.request_timeout", dd.requestTimeout},
                                      std::pair{"ddns.detect.timeout", dd.detect.timeout},
                                      std::pair{"ddns.verify.interval", dd.verify.interval},
                                      std::pair{"ddns.verify.timeout", dd.verify.timeout}}) {
      if (value.count() <= 0) err(pos_.key(path), std::string(path) + " must be more than 0s");
    }
    if (dd.enabled && !dd.accounts.empty() && dd.detect.interface.empty() && dd.detect.webSources.empty())
      err(pos_.first({"ddns.detect", "ddns"}),
          "[ddns.detect] needs an interface or web_sources: otherwise our address cannot be found and "
          "the accounts are never updated");
    if (!dd.detect.ipv4 && !dd.detect.ipv6)
      err(pos_.first({"ddns.detect.ipv4", "ddns.detect"}), "[ddns.detect] ipv4 and ipv6 are both false");

    std::set<std::string> names;
    for (std::size_t i = 0; i < dd.accounts.size(); ++i) {
      const auto& a = dd.accounts[i];
      const std::string path = "ddns.account[" + std::to_string(i + 1) + "]";
      if (a.name.empty())
        err(a.pos, path + " needs a name (used in logs, status and the state file)");
      else if (!names.insert(a.name).second)
        err(pos_.key(path + ".name"), "duplicate [[ddns.account]] name " + quoted(a.name));
      if (checkRfc2136Account(d_, a, path)) continue;  // its own keys: policy/rfc2136.cpp
      if (a.provider.empty() && !pos_.has(path + ".provider"))
        err(a.pos, path + " needs a provider (one of dyn, noip, dynu, freedns, custom, rfc2136)");
      if (a.provider == "custom" && a.url.empty()) err(a.pos, path + ": provider custom needs a url");
      bool urlReported = false;
      if (!a.url.empty()) {
        urlReported = (a.url.rfind("http://", 0) == 0 && !a.allowInsecureHttp) ||
                      (a.url.rfind("http://", 0) != 0 && a.url.rfind("https://", 0) != 0);
        if (a.url.rfind("http://", 0) == 0 && !a.allowInsecureHttp)
          err(pos_.key(path + ".url"),
              path +
                  ".url uses http://: the password would travel in clear; use "
                  "https:// or set allow_insecure_http = true (loopback tests only)");
        else if (a.url.rfind("http://", 0) != 0 && a.url.rfind("https://", 0) != 0)
          err(pos_.key(path + ".url"), path + ".url must start with https://");
      }
      if (!a.tlsVerify)
        warn(
            pos_.key(path + ".tls_verify"),
            path + ".tls_verify = false: anyone in the path can take the DDNS password and move our MX name");
      absolutePath(path + ".ca_file", a.caFile, "the daemon does not run in the policy's directory");
      if (a.username.empty()) err(a.pos, path + " needs a username");
      if (a.passwordFile.empty() && !pos_.has(path + ".password") && !externalSecret(path))
        err(a.pos, path + " needs a password_file");
      secret(path, a.passwordFile, a.password);
      if (a.hosts.empty() && !pos_.has(path + ".hosts"))
        err(a.pos, path + " needs hosts: the names this account updates");
      else if (a.hosts.empty())
        err(pos_.key(path + ".hosts"), path + ".hosts is empty");
      accountAsTheEngineSeesIt(a, path, urlReported);
      if (a.retryAfterServerError < std::chrono::minutes(30) && pos_.has(path + ".retry_after_server_error"))
        warn(pos_.key(path + ".retry_after_server_error"),
             path +
                 ".retry_after_server_error below 30m is raised to 30m: providers block clients that "
                 "retry sooner after 911/dnserr");
    }
  }

  // The DDNS engine refuses these at run time, with these very functions: a policy `check`
  // accepts must never be one the daemon cannot use.
  void accountAsTheEngineSeesIt(const DdnsAccount& a, const std::string& path, bool urlReported) {
    const auto preset = ddns::findPreset(a.provider);
    if (!a.provider.empty() && !urlReported && (preset || (a.provider == "custom" && !a.url.empty()))) {
      if (auto e = ddns::endpointFor(a); !e)
        err(pos_.first({path + ".url", path + ".provider"}), path + ".url: " + e.error());
    }
    std::set<std::string> seen;
    for (const auto& h : a.hosts) {
      auto n = ddns::normalizeHostname(h);
      if (!n)
        err(pos_.key(path + ".hosts"), path + ".hosts: \"" + h + "\": " + n.error());
      else if (!seen.insert(*n).second)
        err(pos_.key(path + ".hosts"), path + ".hosts: \"" + h + "\" is listed twice");
    }
    if (a.offlineOnMultidrop && preset && !preset->supportsOffline)
      err(pos_.key(path + ".offline_on_multidrop"),
          path + ".offline_on_multidrop: provider " + a.provider +
              " has no offline=YES; the engine would refuse every update while mail is on multidrop");
    if (pos_.has(path + ".max_hosts_per_request") &&
        (a.maxHostsPerRequest < 1 || a.maxHostsPerRequest > static_cast<int>(ddns::kMaxHostsPerRequest)))
      err(pos_.key(path + ".max_hosts_per_request"),
          path + ".max_hosts_per_request must be 1 to " + std::to_string(ddns::kMaxHostsPerRequest));
    if (a.minInterval) {
      const Duration floor = preset ? preset->minInterval : ddns::kMinSettableInterval;
      if (*a.minInterval < floor)
        err(pos_.key(path + ".min_interval"),
            path + ".min_interval " + formatDuration(*a.minInterval) + " is below " +
                (preset ? "provider " + a.provider + "'s minimum interval of " + formatDuration(floor) +
                              ": more frequent updates read as abuse"
                        : "the least dynmx allows, " + formatDuration(floor)));
    }
    if (preset && p_.ddns.enabled && p_.ddns.checkInterval < preset->minInterval)
      err(pos_.first({"ddns.check_interval", path + ".provider"}),
          "ddns.check_interval " + formatDuration(p_.ddns.checkInterval) + " is below provider " +
              a.provider + "'s minimum interval of " + formatDuration(preset->minInterval) +
              ": more frequent updates read as abuse");
  }

  void daemon() {
    const auto& dm = p_.daemon;
    if (dm.metrics && !isLoopbackHost(dm.metrics->host))
      err(pos_.key("daemon.metrics"),
          "daemon.metrics must listen on loopback (127.0.0.1 or [::1]): the "
          "metrics reveal mail state and addresses");
    absolutePath("daemon.state_dir", dm.stateDir, "the daemon does not run in this directory");
    absolutePath("daemon.control_socket", dm.controlSocket, "the daemon does not run in this directory");
    for (std::size_t i = 0; i < dm.hooks.size(); ++i) {
      const auto& h = dm.hooks[i];
      const std::string path = "daemon.hook[" + std::to_string(i + 1) + "]";
      if (h.argv.empty())
        err(pos_.first({path + ".argv", path}),
            path + ".argv must name a program (e.g. [\"/usr/local/sbin/x\"])");
      else if (h.argv.front().empty() || h.argv.front().front() != '/')
        err(pos_.key(path + ".argv"), path + ".argv[1] must be an absolute path: hooks run without a shell");
      if (h.timeout.count() <= 0) err(pos_.key(path + ".timeout"), path + ".timeout must be more than 0s");
    }
  }

  /// The account a path "ddns.account[N]" names.
  [[nodiscard]] const DdnsAccount& accountAt(const std::string& path) const {
    const std::size_t n = std::stoul(path.substr(path.find('[') + 1));
    return p_.ddns.accounts.at(n - 1);
  }

  Draft& d_;
  const Policy& p_;
  const Positions& pos_;
};

}  // namespace

void checkSemantics(Draft& draft) {
  Checker(draft).run();
}

}  // namespace dynmx::policy_detail
