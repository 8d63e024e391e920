#pragma once
// MX steering at the edge: publish the MX set the coordinator wants for each [[mx]] domain
// (RFC 2136 through dnsupdate::Updater, or dyndns2 mx=/backmx= through the DDNS engine,
// which owns every request to the provider) and verify it at every authoritative server of
// the zone, with the AA bit required, the same way for either lever. Intent down (setIntent), facts up
// (facts(), `changed`). The comparison itself is pure (verifyMx) and tested on its own.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dynmx/coordinator.hpp"
#include "dynmx/ddns/mx_lever.hpp"
#include "dynmx/dnsupdate.hpp"
#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/result.hpp"
#include "dynmx/status.hpp"
#include "dynmx/time.hpp"

namespace dynmx::mx {

/// What one authoritative server said about a domain's MX.
struct MxAnswer {
  std::string server;                ///< "ns1.example.com (192.0.2.53:53)"
  bool answered = false;             ///< an answer came (NODATA counts, empty)
  bool authoritative = false;        ///< the AA bit was set
  std::vector<std::string> records;  ///< "10 mx.isp.example"
  std::string error;                 ///< why there is no answer
};

/// The comparison of every server's answer with the wanted set.
struct MxVerdict {
  bool verified = false;  ///< every server answered with AA and exactly the wanted set
  std::string text;       ///< the first server that differs and how, or "verified at N servers"
  bool contradicted = false;  ///< some server answered with AA and another set (not just silence)
};

/// Pure: the wanted set is verified only when every server answered authoritatively with
/// exactly that set (one stale secondary still sends senders the old way).
MxVerdict verifyMx(const std::vector<MxRecord>& wanted, const std::vector<MxAnswer>& answers);

/// The update that publishes `records` as the domain's MX RRset (replacing what is there).
dnsupdate::UpdateMessage mxUpdate(const MxDomain& domain, const std::vector<MxRecord>& records);

/// Effects the steering uses; tests replace each one.
struct SteeringDeps {
  net::DnsResolver* dns = nullptr;
  std::function<TimePoint()> now;
  /// Run `fn` after `delay` on the loop (production: a steady_timer; tests: a fake clock).
  std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)> after;
  /// The updater for one domain's zone; an error says why there is none (e.g. the key file).
  std::function<Result<std::unique_ptr<dnsupdate::Updater>>(const MxDomain&)> makeUpdater;
  /// The facts changed (the coordinator re-evaluates).
  std::function<void()> changed;
  /// The DDNS engine, for lever = "dyndns2" (null: such domains report "refused").
  ddns::HostMxLever* hostMx = nullptr;
  std::chrono::milliseconds retryStart{std::chrono::seconds(10)};  ///< first retry after a failed update
  std::chrono::milliseconds retryCap{std::chrono::minutes(30)};    ///< longest wait between retries
  std::chrono::milliseconds verifyRetry{std::chrono::seconds(5)};  ///< first re-check of a set not yet seen
  std::chrono::milliseconds reverify{std::chrono::minutes(5)};     ///< re-check of a verified set
  std::chrono::milliseconds queryTimeout{std::chrono::seconds(3)};
};

/// The MX lever for every [[mx]] domain. Single-threaded: call from the io_context.
class Steering : public coord::MxSource {
 public:
  Steering(std::vector<MxDomain> domains, SteeringDeps deps);
  ~Steering() override;
  Steering(const Steering&) = delete;
  Steering& operator=(const Steering&) = delete;

  void setIntent(std::vector<coord::MxIntent> intents) override;
  std::vector<status::MxInfo> facts() const override;
  /// A reloaded policy's [[mx]] tables; the current intent is published again where changed.
  void reconfigure(std::vector<MxDomain> domains);

 private:
  struct Domain;
  void send(Domain& d);
  /// dyndns2: read what the engine made of the domain's wish and act on it.
  void takeEngineFacts(Domain& d);
  void verify(Domain& d);
  void retryLater(Domain& d, bool longWait);
  void notify();
  Domain* find(const std::string& name);

  std::vector<std::unique_ptr<Domain>> domains_;
  SteeringDeps deps_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// The RFC 2136 updater for one [[mx]] domain: its TSIG key file, its server (or the SOA's
/// primary). An error says why there is none; the domain then reports "refused".
Result<std::unique_ptr<dnsupdate::Updater>> makeRfc2136Updater(boost::asio::io_context& io,
                                                               const MxDomain& domain);

/// A SteeringDeps::after for production: steady_timers on `io`.
std::function<void(std::chrono::milliseconds, std::function<void()>)> asioAfter(boost::asio::io_context& io);

}  // namespace dynmx::mx
