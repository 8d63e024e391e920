#include "dynmx/mx_steering.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <set>

namespace dynmx::mx {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "no MX" : out;
}

std::vector<std::string> texts(const std::vector<MxRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(toString(r));
  return out;
}

// The updater's sentence, prefixed with the code and the server unless it already says them.
std::string outcomeText(const dnsupdate::UpdateOutcome& o, const std::string& where) {
  if (o.detail.empty()) return o.rcode + where;
  if (o.detail.rfind(o.rcode, 0) == 0) return o.detail;
  return o.rcode + where + ": " + o.detail;
}

std::string serverLabel(const std::string& name, const net::DnsServer& s) {
  const std::string addr = s.address.find(':') != std::string::npos ? "[" + s.address + "]" : s.address;
  const std::string hp = addr + ":" + std::to_string(s.port);
  return name.empty() ? hp : name + " (" + hp + ")";
}

}  // namespace

MxVerdict verifyMx(const std::vector<MxRecord>& wanted, const std::vector<MxAnswer>& answers) {
  const auto wantTexts = texts(wanted);
  const std::set<std::string> want(wantTexts.begin(), wantTexts.end());
  if (answers.empty()) return {false, "no authoritative servers to ask"};
  bool contradicted = false;
  for (const auto& a : answers)
    contradicted = contradicted || (a.answered && a.authoritative &&
                                    std::set<std::string>(a.records.begin(), a.records.end()) != want);
  for (const auto& a : answers) {
    if (!a.answered)
      return {false, a.server + ": " + (a.error.empty() ? std::string("no answer") : a.error), contradicted};
    if (!a.authoritative) return {false, a.server + ": answer without the AA bit (no proof)", contradicted};
    const std::set<std::string> got(a.records.begin(), a.records.end());
    if (got != want)
      return {false, a.server + " shows " + join(a.records) + ", expected " + join(wantTexts), contradicted};
  }
  return {true,
          join(wantTexts) + " verified at " + std::to_string(answers.size()) + " authoritative server(s)", false};
}

dnsupdate::UpdateMessage mxUpdate(const MxDomain& domain, const std::vector<MxRecord>& records) {
  dnsupdate::UpdateMessage m;
  m.zone = domain.zone.empty() ? domain.domain : domain.zone;
  dnsupdate::Change c;
  c.kind = dnsupdate::Change::Kind::ReplaceRRset;
  c.rrset.name = domain.domain;
  c.rrset.type = dnsupdate::RecordType::MX;
  c.rrset.ttl =
      static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(domain.ttl).count());
  for (const auto& r : records) c.rrset.records.push_back(std::to_string(r.preference) + " " + r.host + ".");
  m.changes.push_back(std::move(c));
  return m;
}

struct Steering::Domain {
  MxDomain config;
  std::optional<ddns::MxSetting> hostMx;  ///< dyndns2: the wanted set as mx=/backmx=
  std::optional<coord::MxIntent> wanted;
  std::unique_ptr<dnsupdate::Updater> updater;
  std::string updaterError;
  status::MxInfo info;
  unsigned generation = 0;  ///< bumps with every new intent: stale completions are dropped
  int failures = 0;
  int unverified = 0;  ///< verification rounds in a row that did not see the set
};

Steering::Steering(std::vector<MxDomain> domains, SteeringDeps deps) : deps_(std::move(deps)) {
  if (deps_.hostMx != nullptr) {
    std::weak_ptr<bool> alive = alive_;
    deps_.hostMx->onMxFacts([this, alive] {
      if (alive.expired()) return;
      for (auto& d : domains_)
        if (d->config.lever == MxLever::Dyndns2 && d->hostMx) takeEngineFacts(*d);
    });
  }
  reconfigure(std::move(domains));
}

Steering::~Steering() {
  *alive_ = false;  // the engine's listener holds a weak_ptr to this: it goes quiet
}

Steering::Domain* Steering::find(const std::string& name) {
  for (auto& d : domains_)
    if (d->config.domain == name) return d.get();
  return nullptr;
}

void Steering::reconfigure(std::vector<MxDomain> domains) {
  std::vector<std::unique_ptr<Domain>> next;
  // A host no longer steered through dyndns2 keeps whatever MX it has; the engine stops asking.
  for (auto& old : domains_) {
    const bool kept = std::any_of(domains.begin(), domains.end(), [&](const MxDomain& m) {
      return m.domain == old->config.domain && m.lever == MxLever::Dyndns2;
    });
    if (old->config.lever == MxLever::Dyndns2 && !kept && deps_.hostMx != nullptr)
      deps_.hostMx->wantMx(old->config.domain, std::nullopt);
  }
  for (auto& cfg : domains) {
    auto d = std::make_unique<Domain>();
    if (Domain* old = find(cfg.domain)) {
      d->wanted = old->wanted;
      d->info = old->info;
      d->generation = old->generation + 1;
    }
    d->config = std::move(cfg);
    d->info.domain = d->config.domain;
    d->info.lever = toString(d->config.lever);
    if (d->config.lever == MxLever::Rfc2136) {
      auto u = deps_.makeUpdater
                   ? deps_.makeUpdater(d->config)
                   : Result<std::unique_ptr<dnsupdate::Updater>>(fail(std::string("no updater")));
      if (u)
        d->updater = std::move(*u);
      else
        d->updaterError = u.error();
    }
    if (d->config.lever == MxLever::Dyndns2 && deps_.hostMx == nullptr)
      d->updaterError = "no DDNS engine runs";
    next.push_back(std::move(d));
  }
  domains_ = std::move(next);
  for (auto& d : domains_) {
    if (!d->wanted) continue;
    auto w = *d->wanted;
    d->wanted.reset();
    setIntent({w});
  }
}

void Steering::setIntent(std::vector<coord::MxIntent> intents) {
  for (auto& intent : intents) {
    Domain* d = find(intent.domain);
    if (d == nullptr) continue;
    if (d->wanted && d->wanted->records == intent.records && d->wanted->mode == intent.mode) continue;
    d->wanted = intent;
    ++d->generation;
    d->failures = 0;
    d->unverified = 0;
    d->info.wanted = intent.mode;
    d->info.records = texts(intent.records);
    d->info.verified = false;
    d->info.publishedAt.reset();
    d->info.verifiedAt.reset();
    if (d->config.lever == MxLever::None) {
      d->info.state = "no-lever";
      d->info.detail = "no MX lever configured: the " + intent.mode + " set is not published";
      continue;
    }
    if (d->config.lever == MxLever::Dyndns2) {
      // The one rule `dynmx check` applies too: a set dyndns2 cannot express is refused here.
      auto setting = ddns::mxSettingFor(d->config.domain, intent.records, intent.mode == "direct");
      d->hostMx.reset();
      if (!setting || !d->updaterError.empty()) {
        d->info.state = "refused";
        d->info.detail = "cannot publish through dyndns2: " + (setting ? d->updaterError : setting.error());
        continue;
      }
      d->hostMx = *setting;
    } else if (!d->updater) {
      d->info.state = "refused";
      d->info.detail = "cannot send updates: " + d->updaterError;
      continue;
    }
    send(*d);
  }
  notify();
}

void Steering::send(Domain& d) {
  if (d.config.lever == MxLever::Dyndns2) {
    // The engine owns the request (and the provider's back-offs): hand it the wish, then
    // follow what it reports after each pass.
    d.info.state = "publishing";
    spdlog::info("MX {}: asking the DDNS engine for the {} set ({}: {})", d.config.domain, d.info.wanted,
                 join(d.info.records), ddns::toString(*d.hostMx));
    deps_.hostMx->wantMx(d.config.domain, d.hostMx);
    takeEngineFacts(d);
    return;
  }
  d.info.state = "publishing";
  const unsigned gen = d.generation;
  const std::string name = d.config.domain;
  std::weak_ptr<bool> alive = alive_;
  spdlog::info("MX {}: publishing the {} set ({})", name, d.info.wanted, join(d.info.records));
  d.updater->send(
      mxUpdate(d.config, d.wanted->records), [this, alive, gen, name](dnsupdate::UpdateOutcome o) {
        if (alive.expired()) return;
        Domain* dom = find(name);
        if (dom == nullptr || dom->generation != gen) return;
        const std::string where = o.server.empty() ? "" : " from " + o.server;
        switch (o.verdict) {
          case dnsupdate::Verdict::Applied:
            dom->failures = 0;
            dom->info.publishedAt = deps_.now();
            dom->info.state = "verifying";
            dom->info.detail = "update accepted" + where + "; verifying at every authoritative server";
            notify();
            verify(*dom);
            return;
          case dnsupdate::Verdict::Fatal:
            dom->info.state = "refused";
            dom->info.detail = outcomeText(o, where);
            spdlog::error("MX {}: update refused: {}", name, dom->info.detail);
            notify();
            return;
          case dnsupdate::Verdict::PrereqFailed:
          case dnsupdate::Verdict::Retry:
          case dnsupdate::Verdict::BackOff:
            dom->info.state = "retrying";
            dom->info.detail = outcomeText(o, where);
            spdlog::warn("MX {}: update failed, retrying: {}", name, dom->info.detail);
            notify();
            retryLater(*dom, o.verdict == dnsupdate::Verdict::BackOff);
            return;
        }
      });
}

void Steering::takeEngineFacts(Domain& d) {
  // Only a set not yet accepted is the engine's business; verification runs on its own.
  if (d.info.state != "publishing" && d.info.state != "retrying" && d.info.state != "refused") return;
  const auto p = deps_.hostMx->mxPublication(d.config.domain);
  const std::string before = d.info.state + d.info.detail;
  if (!p) {
    d.info.state = "refused";
    d.info.detail = "no dyndns2 account updates " + d.config.domain;
  } else {
    switch (p->state) {
      case ddns::MxPublicationState::Pending:
        d.info.state = "publishing";
        d.info.detail = p->text;
        break;
      case ddns::MxPublicationState::Waiting:
        d.info.state = "retrying";
        d.info.detail = "the provider's rules hold the request: " + p->text;
        break;
      case ddns::MxPublicationState::Refused:
        d.info.state = "refused";
        d.info.detail = p->text;
        break;
      case ddns::MxPublicationState::Accepted:
        // Our clock, not the engine's: publishedAt + TTL bounds the senders' caches.
        d.info.publishedAt = deps_.now();
        d.info.state = "verifying";
        d.info.detail = p->text + "; verifying at every authoritative server";
        notify();
        verify(d);
        return;
    }
  }
  if (d.info.state + d.info.detail != before) notify();
}

void Steering::retryLater(Domain& d, bool longWait) {
  ++d.failures;
  std::chrono::milliseconds wait = deps_.retryStart;
  for (int i = 1; i < d.failures && wait < deps_.retryCap; ++i) wait *= 2;
  if (longWait || wait > deps_.retryCap) wait = deps_.retryCap;
  const unsigned gen = d.generation;
  const std::string name = d.config.domain;
  std::weak_ptr<bool> alive = alive_;
  deps_.after(wait, [this, alive, gen, name] {
    if (alive.expired()) return;
    Domain* dom = find(name);
    if (dom != nullptr && dom->generation == gen) send(*dom);
  });
}

void Steering::verify(Domain& d) {
  const unsigned gen = d.generation;
  const std::string name = d.config.domain;
  std::weak_ptr<bool> alive = alive_;
  const auto timeout = deps_.queryTimeout;

  // Ask every server for the MX, then judge; `servers` are (label, server).
  auto askAll = [this, alive, gen, name, timeout](std::vector<std::pair<std::string, net::DnsServer>> servers,
                                                  std::string error) {
    if (alive.expired()) return;
    struct Acc {
      std::vector<MxAnswer> answers;
      std::size_t left = 0;
    };
    auto acc = std::make_shared<Acc>();
    auto judge = [this, alive, gen, name](std::vector<MxAnswer> answers) {
      if (alive.expired()) return;
      Domain* dom = find(name);
      if (dom == nullptr || dom->generation != gen || !dom->wanted) return;
      const MxVerdict v = verifyMx(dom->wanted->records, answers);
      const TimePoint now = deps_.now();
      std::chrono::milliseconds next = deps_.reverify;
      if (v.verified) {
        dom->unverified = 0;
        if (!dom->info.verified) {
          dom->info.verifiedAt = now;
          spdlog::info("MX {}: {}", name, v.text);
        }
        dom->info.verified = true;
        dom->info.state = "verified";
        dom->info.detail = v.text;
      } else {
        const bool wasVerified = dom->info.verified;
        dom->info.verified = false;
        dom->info.verifiedAt.reset();
        dom->info.state = "verifying";
        dom->info.detail = v.text;
        ++dom->unverified;
        next = deps_.verifyRetry;
        for (int i = 1; i < dom->unverified && next < deps_.reverify; ++i) next *= 2;
        next = std::min(next, deps_.reverify);
        // dyndns2: the provider believes it has the set, so asking for it again sends nothing;
        // a set the servers contradict (changed behind our back, or never applied) past its
        // TTL is told to the engine, which re-sends it within the provider's rules.
        if (v.contradicted && dom->config.lever == MxLever::Dyndns2 && deps_.hostMx != nullptr &&
            (wasVerified || (dom->info.publishedAt && now >= *dom->info.publishedAt + dom->config.ttl)))
          deps_.hostMx->mxContradicted(name);
        if (wasVerified) {
          // Someone changed the set behind our back: say it again.
          spdlog::warn("MX {}: the published set changed ({}); publishing again", name, v.text);
          notify();
          send(*dom);
          return;
        }
      }
      notify();
      deps_.after(next, [this, alive, gen, name] {
        if (alive.expired()) return;
        Domain* dd = find(name);
        if (dd != nullptr && dd->generation == gen && dd->info.state != "publishing") verify(*dd);
      });
    };
    if (servers.empty()) {
      judge({MxAnswer{"authoritative servers", false, false, {}, error.empty() ? "none found" : error}});
      return;
    }
    acc->left = servers.size();
    acc->answers.resize(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      acc->answers[i].server = servers[i].first;
      net::DnsQuery q{name, net::RecordType::MX, {servers[i].second}, false, false, timeout, 2};
      deps_.dns->query(std::move(q), [acc, i, judge](net::DnsResult r) {
        MxAnswer& a = acc->answers[i];
        a.answered = r.error == net::DnsError::None || r.error == net::DnsError::NoData ||
                     r.error == net::DnsError::NxDomain;
        a.authoritative = r.authoritative;
        if (a.answered)
          a.records = r.values;
        else
          a.error = net::toString(r.error);
        if (--acc->left == 0) judge(std::move(acc->answers));
      });
    }
  };

  if (!d.config.verifyServers.empty()) {
    std::vector<std::pair<std::string, net::DnsServer>> servers;
    for (const auto& hp : d.config.verifyServers) {
      net::DnsServer s{hp.host, hp.port == 0 ? 53 : hp.port};
      servers.emplace_back(serverLabel("", s), s);
    }
    askAll(std::move(servers), "");
    return;
  }
  // The zone's NS, each asked on its own addresses.
  const std::string zone = d.config.zone.empty() ? d.config.domain : d.config.zone;
  net::DnsQuery ns{zone, net::RecordType::NS, {}, true, false, timeout, 2};
  deps_.dns->query(std::move(ns), [this, alive, askAll, timeout, zone](net::DnsResult r) {
    if (alive.expired()) return;
    if (r.error != net::DnsError::None || r.values.empty()) {
      askAll({}, "NS lookup of " + zone + " failed: " + net::toString(r.error));
      return;
    }
    struct Acc {
      std::vector<std::pair<std::string, net::DnsServer>> servers;
      std::size_t left = 0;
    };
    auto acc = std::make_shared<Acc>();
    acc->left = r.values.size() * 2;
    for (const auto& nsName : r.values) {
      for (auto type : {net::RecordType::A, net::RecordType::AAAA}) {
        net::DnsQuery q{nsName, type, {}, true, false, timeout, 2};
        deps_.dns->query(std::move(q), [acc, nsName, askAll](net::DnsResult a) {
          if (a.error == net::DnsError::None)
            for (const auto& v : a.values)
              acc->servers.emplace_back(serverLabel(nsName, {v, 53}), net::DnsServer{v, 53});
          if (--acc->left == 0) {
            std::sort(acc->servers.begin(), acc->servers.end(),
                      [](const auto& x, const auto& y) { return x.first < y.first; });
            askAll(std::move(acc->servers), "the NS names have no addresses");
          }
        });
      }
    }
  });
}

std::vector<status::MxInfo> Steering::facts() const {
  std::vector<status::MxInfo> out;
  for (const auto& d : domains_) out.push_back(d->info);
  return out;
}

void Steering::notify() {
  if (deps_.changed) deps_.changed();
}

std::function<void(std::chrono::milliseconds, std::function<void()>)> asioAfter(boost::asio::io_context& io) {
  return [&io](std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<boost::asio::steady_timer>(io, delay);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  };
}

}  // namespace dynmx::mx
