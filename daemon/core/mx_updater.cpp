// The RFC 2136 updater for MX steering: the ldns updater of ddns/rfc2136, with the domain's
// TSIG key read at every update (a rotated key is picked up; an unreadable one is a Fatal
// outcome naming the file, never the secret).
#include <boost/asio/post.hpp>

#include "dynmx/mx_steering.hpp"

namespace dynmx::mx {
namespace {

class KeyFileUpdater final : public dnsupdate::Updater {
 public:
  KeyFileUpdater(boost::asio::io_context& io, MxDomain domain) : io_(io), domain_(std::move(domain)) {
    for (const auto& s : domain_.verifyServers) resolvers_.emplace_back(s.host, s.port);
    if (resolvers_.empty()) resolvers_ = dnsupdate::systemResolvers();
  }

  void send(dnsupdate::UpdateMessage message, std::function<void(dnsupdate::UpdateOutcome)> done) override {
    auto key = dnsupdate::loadKeyFile(domain_.keyFile);
    if (!key.ok()) {
      dnsupdate::UpdateOutcome o;
      o.verdict = dnsupdate::Verdict::Fatal;
      o.rcode = "key-file";
      o.detail = key.error();
      boost::asio::post(io_, [done = std::move(done), o = std::move(o)]() { done(o); });
      return;
    }
    dnsupdate::UpdaterConfig config;
    if (domain_.server) config.servers.emplace_back(domain_.server->host, domain_.server->port);
    config.resolvers = resolvers_;
    config.key = std::move(*key);
    // One updater per update: it lives until its answer.
    std::shared_ptr<dnsupdate::Updater> updater = dnsupdate::makeUpdater(io_, std::move(config));
    updater->send(std::move(message), [updater, done = std::move(done)](dnsupdate::UpdateOutcome o) mutable {
      done(std::move(o));
      updater.reset();
    });
  }

 private:
  boost::asio::io_context& io_;
  MxDomain domain_;
  std::vector<std::pair<std::string, int>> resolvers_;
};

}  // namespace

Result<std::unique_ptr<dnsupdate::Updater>> makeRfc2136Updater(boost::asio::io_context& io,
                                                               const MxDomain& domain) {
  if (domain.keyFile.empty()) return fail("[[mx]] " + domain.domain + ": no key_file for lever rfc2136");
  return std::unique_ptr<dnsupdate::Updater>(std::make_unique<KeyFileUpdater>(io, domain));
}

}  // namespace dynmx::mx
