// Render the fetchmail multidrop rc from the policy. Pure: same policy and input give the
// same bytes, with no clock, no files and no environment. Every choice that keeps mail
// from reaching the wrong person is explained in docs/fetchmail.md.
#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "dynmx/fetchmail_conf.hpp"

namespace dynmx::fetchmail {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// A numeric host makes fetchmail append "@<ip>" to bare local names; see smtpaddress.
bool isNumericHost(const std::string& host) {
  if (host.empty()) return false;
  if (host.find(':') != std::string::npos) return true;  // IPv6 literal
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0 || c == '.'; });
}

int defaultPort(MailProtocol p, TlsMode t) {
  if (p == MailProtocol::Pop3) return t == TlsMode::Implicit ? 995 : 110;
  return t == TlsMode::Implicit ? 993 : 143;
}

/// Collects quoting failures with the name of the field, never its value.
class Quoter {
 public:
  std::string operator()(std::string_view field, std::string_view value) {
    auto q = quote(value);
    if (!q.ok()) {
      if (error_.empty()) error_ = std::string(field) + " " + q.error();
      return "\"\"";
    }
    return *q;
  }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  std::string error_;
};

}  // namespace

bool guardActive(const Policy& policy) {
  return policy.delivery.guard && policy.delivery.method != DeliveryMethod::Mda;
}

std::string guardSocket(const Policy& policy) {
  return policy.guard.socket.empty() ? policy.daemon.stateDir + "/guard.sock" : policy.guard.socket;
}

Result<std::string> renderRc(const Policy& policy, const RenderInput& input) {
  const IspMailbox& isp = policy.isp;
  const UsersSection& users = policy.users;
  const DeliverySection& delivery = policy.delivery;

  // Refusals first: each of these would make fetchmail guess, and a guess misroutes mail.
  if (policy.mail.domains.empty()) return fail(std::string("mail.domains is empty: multidrop needs the domains we receive for"));
  if (policy.envelope.header.empty())
    return fail(std::string("envelope.header is not set: without it fetchmail guesses recipients from Received lines, which loses Bcc and list mail"));
  if (policy.envelope.skip < 0) return fail(std::string("envelope.skip must not be negative"));
  if (users.postmaster.empty()) return fail(std::string("users.postmaster is not set: unmapped mail would have nowhere safe to go"));
  if (isp.server.empty()) return fail(std::string("isp.server is not set"));
  if (isp.user.empty()) return fail(std::string("isp.user is not set"));
  if (!input.redactPassword && input.password.empty()) return fail(std::string("the ISP password is empty"));
  if (policy.fetchmail.pollInterval.count() <= 0) return fail(std::string("fetchmail.poll_interval must be positive"));
  if (isp.timeout.count() <= 0) return fail(std::string("isp.timeout must be positive"));
  if (isp.port < 0 || isp.port > 65535) return fail(std::string("isp.port is out of range"));
  switch (delivery.method) {
    case DeliveryMethod::Smtp:
    case DeliveryMethod::Lmtp:
      if (delivery.target.host.empty()) return fail(std::string("delivery host is not set"));
      if (delivery.target.host.front() != '/' && (delivery.target.port <= 0 || delivery.target.port > 65535))
        return fail(std::string("delivery port must be set (1-65535): fetchmail's lmtp has no default port"));
      break;
    case DeliveryMethod::Mda:
      if (delivery.mda.empty()) return fail(std::string("delivery.mda is not set"));
      break;
  }

  // The local-name list. Two or more names (or `*`) is what turns multidrop on; with one
  // name fetchmail would hand EVERY message to that user, so we make sure there are two.
  std::vector<std::pair<std::string, std::string>> names(users.map.begin(), users.map.end());
  std::set<std::string> remotes;
  for (const auto& [remote, local] : users.map) remotes.insert(lower(remote));
  if (!remotes.count("postmaster")) {
    names.emplace_back("postmaster", users.postmaster);
    remotes.insert("postmaster");
  }
  if (names.size() < 2 && !users.wildcard && !remotes.count(lower(users.postmaster)))
    names.emplace_back(users.postmaster, users.postmaster);
  if (names.size() < 2 && !users.wildcard)
    return fail(std::string("users: need at least two names or `*`, else fetchmail runs single-drop and gives every message to one user"));
  std::sort(names.begin(), names.end());

  Quoter q;
  const std::string home = policy.fetchmail.home.empty() ? dirOf(policy.fetchmail.rcPath) : policy.fetchmail.home;
  const std::string idFile = input.idFile.empty() ? home + "/fetchmail.ids" : input.idFile;
  const std::string pidFile = input.pidFile.empty() ? home + "/fetchmail.pid" : input.pidFile;
  const int port = isp.port != 0 ? isp.port : defaultPort(isp.protocol, isp.tls);

  std::ostringstream o;
  o << "# generated by dynmx; do not edit: dynmx rewrites this file from its policy\n"
    << "set daemon " << policy.fetchmail.pollInterval.count() << '\n'
    << "set postmaster " << q("users.postmaster", users.postmaster) << '\n'
    << "set no bouncemail\n"
    << "set no spambounce\n"
    << "set softbounce\n"
    << "set no syslog\n"
    << "set idfile " << q("idfile", idFile) << '\n'
    << "set pidfile " << q("pidfile", pidFile) << '\n'
    << '\n'
    << "poll " << q("isp.server", isp.server) << " with proto "
    << (isp.protocol == MailProtocol::Pop3 ? "pop3" : "imap") << " service " << port
    << " auth password timeout " << isp.timeout.count()
    << (isp.protocol == MailProtocol::Pop3 ? " uidl" : "") << '\n'
    << "    envelope " << policy.envelope.skip << ' ' << q("envelope.header", policy.envelope.header) << '\n'
    << "    aka";
  for (const auto& d : policy.mail.domains) o << ' ' << q("mail.domains", d);
  o << '\n' << "    no dns\n";

  o << "  user " << q("isp.user", isp.user) << " there with password "
    << (input.redactPassword ? std::string("\"********\"") : q("the ISP password", input.password)) << " is\n";
  for (const auto& [remote, local] : names)
    o << "    " << q("users.map", remote) << '=' << q("users.map", local) << '\n';
  if (users.wildcard) o << "    *\n";
  o << "    here\n";

  const std::string& host = delivery.target.host;
  const bool socketPath = !host.empty() && host.front() == '/';
  const bool guarded = guardActive(policy);
  if (guarded) {
    // The envelope guard (docs/guard.md): LMTP on its unix socket, so each recipient gets
    // its own answer after the real MTA answered. smtpaddress: fetchmail would otherwise
    // append "@localhost" to the bare local names.
    o << "    lmtp smtphost " << q("guard.socket", guardSocket(policy)) << " smtpaddress "
      << q("mail.domains", policy.mail.domains.front()) << '\n';
  } else switch (delivery.method) {
    case DeliveryMethod::Smtp:
    case DeliveryMethod::Lmtp: {
      std::string hunt = socketPath ? host : host + "/" + std::to_string(delivery.target.port);
      o << "    " << (delivery.method == DeliveryMethod::Lmtp ? "lmtp " : "") << "smtphost "
        << q("delivery host", hunt);
      if (isNumericHost(host)) o << " smtpaddress " << q("mail.domains", policy.mail.domains.front());
      o << '\n';
      break;
    }
    case DeliveryMethod::Mda:
      o << "    mda " << q("delivery.mda", delivery.mda) << '\n';
      break;
  }

  switch (isp.tls) {
    case TlsMode::Implicit:
      o << "    ssl " << (isp.certificateCheck ? "sslcertck" : "no sslcertck");
      if (!isp.sslProto.empty()) o << " sslproto " << q("isp.sslproto", isp.sslProto);
      o << '\n';
      break;
    case TlsMode::StartTls:
      // No `ssl`: fetchmail 6.4 negotiates STLS/STARTTLS itself and fails if it cannot.
      o << "    " << (isp.certificateCheck ? "sslcertck" : "no sslcertck");
      if (!isp.sslProto.empty()) o << " sslproto " << q("isp.sslproto", isp.sslProto);
      o << '\n';
      break;
    case TlsMode::None:
      o << "    sslproto \"\"\n";
      break;
  }
  // With the guard, fetchmail must pass the ISP's Delivered-To lines through: the guard reads
  // the envelope from them and removes them itself before the MTA sees the message.
  o << "    " << (isp.fetchAll ? "fetchall" : "no fetchall") << ' ' << (isp.keep ? "keep" : "no keep")
    << (guarded ? "\n" : " dropdelivered\n");

  if (!q.error().empty()) return fail(q.error());
  return o.str();
}

}  // namespace dynmx::fetchmail
