#include "dynmx/ddns/answer_line.hpp"

namespace dynmx::ddns {

std::string describeAnswer(const ProviderAnswer& a) {
  std::string line = a.host + ": " + a.result + " from " + a.provider;
  if (!a.account.empty() && a.account != a.provider) line += " (account " + a.account + ")";
  if (!a.address.empty()) line += " for " + a.address;
  const bool ok = a.consequence == Consequence::Ok;
  if (!ok && !a.detail.empty() && a.detail != a.result) line += " (" + a.detail + ")";
  const std::string retry =
      a.retryAfter ? "retry after " + formatTime(*a.retryAfter) : "retry at the next check";
  switch (a.consequence) {
    case Consequence::Ok:
      return line + ", next: verify at the authoritative servers";
    case Consequence::RetryLater:
    case Consequence::Transient:
      return line + ", " + retry;
    case Consequence::FatalHost:
      return line + ", updates for this host stop until its configuration changes";
    case Consequence::FatalAccount:
      return line + ", updates for every host of this account stop until its configuration changes";
    case Consequence::FatalOption:
      return line + ", offline=YES is off for this account; updates go on";
  }
  return line;
}

}  // namespace dynmx::ddns
