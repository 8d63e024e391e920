#pragma once
// The one log line per provider answer: host, result, address, and what happens next,
// e.g. "office.example.com: 911 from dyn (203.0.113.7), retry after 2026-11-23T12:30:00Z".
#include <optional>
#include <string>

#include "dynmx/ddns/response.hpp"
#include "dynmx/time.hpp"

namespace dynmx::ddns {

/// One provider answer for one host, as the log needs it.
struct ProviderAnswer {
  std::string host;
  std::string provider;  ///< preset or "custom"
  std::string account;   ///< named when it differs from the provider
  std::string result;    ///< e.g. "good", "911", "badauth", "timeout"
  std::string address;   ///< the address sent
  std::string detail;    ///< the provider's line or the transport error (failures only)
  Consequence consequence = Consequence::Transient;
  std::optional<TimePoint> retryAfter;
};

/// The log line for an answer. Pure.
std::string describeAnswer(const ProviderAnswer& a);

}  // namespace dynmx::ddns
