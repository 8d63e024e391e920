// Public entry points of the policy module: parse (pure), names, and the provider list.
#include "dynmx/policy.hpp"

#include <algorithm>

#include "internal.hpp"

namespace dynmx {

PolicyLoad parsePolicy(std::string_view text, const std::string& fileName) {
  policy_detail::Draft d = policy_detail::parseDraft(text, fileName);
  if (d.syntaxOk) policy_detail::checkSemantics(d);
  // File order reads best: the admin fixes the file top to bottom.
  std::stable_sort(d.diagnostics.begin(), d.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair{a.line, a.column} < std::pair{b.line, b.column};
  });
  PolicyLoad out;
  const bool bad = hasErrors(d.diagnostics);
  out.diagnostics = std::move(d.diagnostics);
  if (!bad) out.policy = std::move(d.policy);
  return out;
}

const std::vector<std::string>& knownDdnsProviders() {
  static const std::vector<std::string> names{"dyn", "noip", "dynu", "freedns", "custom", "rfc2136"};
  return names;
}

const char* toString(MailPolicy m) {
  switch (m) {
    case MailPolicy::Direct:
      return "direct";
    case MailPolicy::Multidrop:
      return "multidrop";
    case MailPolicy::Auto:
      return "auto";
  }
  return "?";
}

const char* toString(LinkType t) {
  switch (t) {
    case LinkType::Dedicated:
      return "dedicated";
    case LinkType::Dialup:
      return "dialup";
    case LinkType::Auto:
      return "auto";
  }
  return "?";
}

const char* toString(MailProtocol p) {
  switch (p) {
    case MailProtocol::Pop3:
      return "pop3";
    case MailProtocol::Imap:
      return "imap";
  }
  return "?";
}

const char* toString(TlsMode t) {
  switch (t) {
    case TlsMode::Implicit:
      return "implicit";
    case TlsMode::StartTls:
      return "starttls";
    case TlsMode::None:
      return "none";
  }
  return "?";
}

const char* toString(DeliveryMethod m) {
  switch (m) {
    case DeliveryMethod::Smtp:
      return "smtp";
    case DeliveryMethod::Lmtp:
      return "lmtp";
    case DeliveryMethod::Mda:
      return "mda";
  }
  return "?";
}

}  // namespace dynmx
