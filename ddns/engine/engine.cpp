#include "dynmx/ddns_engine.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <deque>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "dynmx/atomic_file.hpp"
#include "dynmx/ddns/answer_line.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/ddns/schedule.hpp"
#include "dynmx/version.hpp"
#include "publish_rfc2136.hpp"

namespace dynmx::ddns {

namespace {

using HostKey = std::pair<std::string, std::string>;

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The authority of an http(s) URL without userinfo, e.g. "127.0.0.1:8080" or "[::1]".
std::string_view authorityOf(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  return url.substr(0, url.find_first_of("/?#"));
}

// Plain http is only tolerable when the bytes never leave this machine.
bool isLiteralLoopbackHttp(std::string_view url) {
  if (!startsWith(url, "http://")) return false;
  const std::string_view auth = authorityOf(url);
  if (auth.find('@') != std::string_view::npos) return false;
  const auto hostIs = [&](std::string_view host) {
    return auth == host || (startsWith(auth, host) && auth.size() > host.size() &&
                            auth[host.size()] == ':');
  };
  return hostIs("127.0.0.1") || hostIs("[::1]");
}

TransportFailure toFailure(net::TransportError e) {
  switch (e) {
    case net::TransportError::None: return TransportFailure::None;
    case net::TransportError::Timeout: return TransportFailure::Timeout;
    case net::TransportError::Connect: return TransportFailure::Connect;
    case net::TransportError::Tls: return TransportFailure::Tls;
    case net::TransportError::Oversized: return TransportFailure::Oversized;
    case net::TransportError::Protocol: return TransportFailure::Protocol;
    case net::TransportError::Other: return TransportFailure::Other;
  }
  return TransportFailure::Other;
}

const char* transportName(net::TransportError e) {
  switch (e) {
    case net::TransportError::None: return "none";
    case net::TransportError::Timeout: return "timeout";
    case net::TransportError::Connect: return "connect error";
    case net::TransportError::Tls: return "TLS error";
    case net::TransportError::Oversized: return "oversized reply";
    case net::TransportError::Protocol: return "protocol error";
    case net::TransportError::Other: return "transport error";
  }
  return "transport error";
}

// The interface address worth comparing with the web: a publishable one, else the first
// that says something about our path (private, CGNAT), never loopback or link-local noise.
std::optional<IpAddress> interfaceAddress(const std::vector<std::string>& texts) {
  std::optional<IpAddress> fallback;
  for (const auto& t : texts) {
    auto a = IpAddress::parse(t);
    if (!a) continue;
    const AddressClass c = classify(*a);
    if (isPublishable(c)) return a;
    if (!fallback && (c == AddressClass::Private || c == AddressClass::Cgnat ||
                      c == AddressClass::UniqueLocal))
      fallback = a;
  }
  return fallback;
}

int natRank(NatKind k) {
  switch (k) {
    case NatKind::Unknown: return 0;
    case NatKind::None: return 1;
    case NatKind::Nat: return 2;
    case NatKind::Cgnat: return 3;
  }
  return 0;
}

std::string dnsServerLabel(const std::string& name, const net::DnsServer& s) {
  const std::string addr = s.address.find(':') != std::string::npos ? "[" + s.address + "]"
                                                                     : s.address;
  const std::string hp = addr + ":" + std::to_string(s.port);
  return name.empty() ? hp : name + " (" + hp + ")";
}

}  // namespace

bool PassReport::ok() const {
  if (!errors.empty()) return false;
  if (health.state == mail::DdnsState::Failing) return false;
  return std::all_of(hosts.begin(), hosts.end(), [](const HostReport& h) { return h.fine; });
}

Status<> checkWebSourceUrl(const std::string& url) {
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return fail(std::string("url holds spaces or control characters"));
  }
  if (authorityOf(url).find('@') != std::string_view::npos)
    return fail(std::string("url must not hold credentials"));
  if (startsWith(url, "https://")) {
    if (authorityOf(url).empty()) return fail(std::string("url has no host"));
    return Ok{};
  }
  if (isLiteralLoopbackHttp(url)) return Ok{};
  return fail("web source " + url + " must use https:// (http:// only for 127.0.0.1 or [::1])");
}

// ---------------------------------------------------------------------------------------
// One pass: the report being filled and the bookkeeping of outstanding I/O.

struct Engine::Pass {
  PassOptions options;
  PassHandler done;
  PassReport report;
  std::optional<AddressSet> addresses;
  std::map<HostKey, std::size_t> rows;  // (account, normalized host) → report row
  std::size_t pending = 0;
  std::set<HostKey> familyFailed;  // one family's request failed in this pass (single-address providers)

  // Verification: bounded concurrency, and system-resolver answers shared between hosts.
  std::deque<std::pair<net::DnsQuery, net::DnsHandler>> dnsQueue;
  std::size_t dnsInFlight = 0;
  std::map<std::string, net::DnsResult> dnsCache;
  std::map<std::string, std::vector<net::DnsHandler>> dnsWaiting;

  HostReport& row(const std::string& account, const std::string& host) {
    return report.hosts[rows.at({account, host})];
  }
};

namespace {

// Queue-bounded DNS: at most kMaxDnsInFlight queries (and sockets) at a time.
void dnsSubmit(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns,
               net::DnsQuery q, net::DnsHandler done);

void dnsPump(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns) {
  while (pass->dnsInFlight < kMaxDnsInFlight && !pass->dnsQueue.empty()) {
    auto [q, done] = std::move(pass->dnsQueue.front());
    pass->dnsQueue.pop_front();
    ++pass->dnsInFlight;
    dns.query(std::move(q), [pass, &dns, done = std::move(done)](net::DnsResult r) {
      --pass->dnsInFlight;
      done(std::move(r));
      dnsPump(pass, dns);
    });
  }
}

void dnsSubmit(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns,
               net::DnsQuery q, net::DnsHandler done) {
  pass->dnsQueue.emplace_back(std::move(q), std::move(done));
  dnsPump(pass, dns);
}

// A system-resolver query whose answer is shared by every host of the pass that asks it.
void dnsCached(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns,
               net::DnsQuery q, net::DnsHandler done) {
  const std::string key =
      std::to_string(static_cast<int>(q.type)) + "/" + q.name;
  if (auto it = pass->dnsCache.find(key); it != pass->dnsCache.end()) {
    done(it->second);
    return;
  }
  auto& waiting = pass->dnsWaiting[key];
  waiting.push_back(std::move(done));
  if (waiting.size() > 1) return;
  dnsSubmit(pass, dns, std::move(q), [pass, key](net::DnsResult r) {
    pass->dnsCache[key] = r;
    auto handlers = std::move(pass->dnsWaiting[key]);
    pass->dnsWaiting.erase(key);
    for (auto& h : handlers) h(r);
  });
}

struct NamedServer {
  std::string name;  // NS name, empty for explicit servers
  net::DnsServer server;
};
using ServersHandler = std::function<void(std::vector<NamedServer>, std::string error)>;

// Resolve NS names to addresses (A and AAAA) through the system resolver.
void resolveNsNames(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns,
                    std::vector<std::string> names, std::chrono::milliseconds timeout,
                    ServersHandler done) {
  struct Acc {
    std::vector<NamedServer> servers;
    std::vector<std::string> errors;
    std::size_t left = 0;
  };
  auto acc = std::make_shared<Acc>();
  acc->left = names.size() * 2;
  if (acc->left == 0) {
    done({}, "no NS records");
    return;
  }
  for (const auto& name : names) {
    for (auto type : {net::RecordType::A, net::RecordType::AAAA}) {
      net::DnsQuery q{name, type, {}, true, false, timeout, 2};
      dnsCached(pass, dns, q, [acc, name, done, type](net::DnsResult r) {
        if (r.error == net::DnsError::None) {
          for (const auto& v : r.values) acc->servers.push_back({name, {v, 53}});
        } else if (type == net::RecordType::A && r.error != net::DnsError::NoData) {
          acc->errors.push_back(name + ": " + net::toString(r.error));
        }
        if (--acc->left == 0) {
          std::sort(acc->servers.begin(), acc->servers.end(), [](const auto& a, const auto& b) {
            return std::tie(a.name, a.server.address) < std::tie(b.name, b.server.address);
          });
          std::string err;
          for (const auto& e : acc->errors) err += (err.empty() ? "" : "; ") + e;
          done(std::move(acc->servers), acc->servers.empty() && err.empty()
                                            ? std::string("NS names have no addresses")
                                            : err);
        }
      });
    }
  }
}

// Find the authoritative servers of the zone holding `name`: ask NS for the name, then for
// each parent in turn, through the system resolver (with recursion).
void findZoneServers(const std::shared_ptr<Engine::Pass>& pass, net::DnsResolver& dns,
                     std::string name, std::chrono::milliseconds timeout, ServersHandler done) {
  net::DnsQuery q{name, net::RecordType::NS, {}, true, false, timeout, 2};
  dnsCached(pass, dns, q, [pass, &dns, name, timeout, done](net::DnsResult r) {
    if (r.error == net::DnsError::None && !r.values.empty()) {
      resolveNsNames(pass, dns, r.values, timeout, done);
      return;
    }
    if (r.error == net::DnsError::None || r.error == net::DnsError::NoData ||
        r.error == net::DnsError::NxDomain) {
      const std::size_t dot = name.find('.');
      if (dot == std::string::npos || name.find('.', dot + 1) == std::string::npos) {
        done({}, "no NS records found for any parent of the name");
        return;
      }
      findZoneServers(pass, dns, name.substr(dot + 1), timeout, done);
      return;
    }
    done({}, "NS lookup of " + name + " failed: " + net::toString(r.error));
  });
}

/// Back-offs persisted by an earlier process, re-based on this process's timeline.
/// Same boot (the file's clock anchor names this boot): the boot clock says how much time
/// really passed since the file was written, so every stored time moves by however far
/// the wall clock was stepped meanwhile, and a back-off goes on where it was (a cron
/// `dynmx update` every 5 minutes no longer restarts a 30-minute back-off for ever).
/// Another boot, or no anchor: the time already waited is unknown. Count it as none: the
/// whole back-off (retryNotBefore - lastAttempt, as it was decided) runs again from now.
/// Never shorter, whichever way the clock went.
void honourBackoffsAfterRestart(StateStore& store, TimePoint now, const std::optional<ClockAnchor>& current) {
  const std::optional<ClockAnchor> saved = std::exchange(store.anchor, std::nullopt);
  if (saved && current && !saved->bootId.empty() && saved->bootId == current->bootId &&
      current->bootSeconds >= saved->bootSeconds) {
    const Duration step = (current->wall - saved->wall) - Duration(current->bootSeconds - saved->bootSeconds);
    for (auto& [key, st] : store.hosts)
      for (auto* t : {&st.lastAttempt, &st.retryNotBefore})
        if (*t) **t += step;
    return;
  }
  for (auto& [key, st] : store.hosts) {
    if (!st.retryNotBefore || !st.lastAttempt || *st.retryNotBefore <= *st.lastAttempt) continue;
    const Duration length = *st.retryNotBefore - *st.lastAttempt;
    st.lastAttempt = now;
    st.retryNotBefore = now + length;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

Engine::Engine(boost::asio::io_context& io, DdnsSection config, std::string statePath,
               EngineDeps deps)
    : io_(io),
      config_(std::move(config)),
      statePath_(std::move(statePath)),
      deps_(std::move(deps)),
      checkTimer_(io),
      verifyTimer_(io) {
  if (!deps_.readInterface) deps_.readInterface = net::readInterface;
  const TimePoint now = deps_.now();
  health_.state = (!config_.enabled || config_.accounts.empty()) ? mail::DdnsState::Disabled
                                                                  : mail::DdnsState::Unknown;
  health_.since = now;
  std::error_code ec;
  if (!std::filesystem::exists(statePath_, ec)) return;
  auto text = readFile(statePath_);
  if (!text) {
    loadError_ = text.error();
    holdUpdates_ = true;
    return;
  }
  auto parsed = parseState(*text);
  if (parsed) {
    store_ = std::move(*parsed);
    honourBackoffsAfterRestart(store_, now, deps_.clockAnchor ? deps_.clockAnchor(now) : std::nullopt);
    return;
  }
  // A broken file may hold bans we can no longer read: keep it for the admin, and send
  // nothing in the next pass so an unreadable ban does not turn into a hammering.
  const std::string aside = statePath_ + ".broken";
  std::filesystem::rename(statePath_, aside, ec);
  loadError_ = "state file " + statePath_ + " unreadable (" + parsed.error() + "); kept as " +
               aside + ", updates held for one pass";
  holdUpdates_ = true;
}

Engine::~Engine() {
  *alive_ = false;
  checkTimer_.cancel();
  verifyTimer_.cancel();
}

void Engine::runPass(PassOptions options, PassHandler done) {
  queue_.push_back({options, std::move(done)});
  if (!running_) beginNext();
}

void Engine::beginNext() {
  if (queue_.empty()) return;
  applyPendingConfig();  // no pass is in flight here: nothing points into the old accounts
  auto q = std::move(queue_.front());
  queue_.erase(queue_.begin());
  running_ = true;
  auto pass = std::make_shared<Pass>();
  pass->options = q.options;
  pass->done = std::move(q.done);
  if (!loadError_.empty()) {
    pass->report.errors.push_back(loadError_);
    loadError_.clear();
  }
  // Rows for every configured host, in configuration order.
  for (const auto& account : config_.accounts) {
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      const std::string host = n ? *n : h;
      if (pass->rows.count({account.name, host}) != 0) continue;
      HostReport r;
      r.host = host;
      r.account = account.name;
      r.verified = "not checked";
      if (!n) r.detail = "invalid hostname: " + n.error();
      pass->rows[{account.name, host}] = pass->report.hosts.size();
      pass->report.hosts.push_back(std::move(r));
    }
  }
  if (!config_.enabled) {
    finish(pass);
    return;
  }
  detect(pass);
}

void Engine::detect(const std::shared_ptr<Pass>& pass) {
  if (config_.staticAddress) {
    auto a = parseAddressSet(*config_.staticAddress);
    if (!a) {
      pass->report.errors.push_back("static_address \"" + *config_.staticAddress +
                                    "\" is not an address");
    } else {
      pass->addresses = a;
      current_ = a;
    }
    for (auto& r : pass->report.hosts) r.result = "static";
    verify(pass);
    return;
  }
  if (pass->options.verifyOnly) {
    pass->addresses = current_;
    for (auto& r : pass->report.hosts) r.result = "-";
    verify(pass);
    return;
  }

  const auto& d = config_.detect;
  auto answers = std::make_shared<std::vector<std::optional<IpAddress>>>(d.webSources.size());
  auto errors = std::make_shared<std::vector<std::string>>(d.webSources.size());
  auto conclude = [this, pass, answers, errors] {
    const auto& det = config_.detect;
    net::InterfaceInfo iface;
    if (!det.interface.empty()) iface = deps_.readInterface(det.interface);
    if (!det.interface.empty() && !iface.exists)
      pass->report.errors.push_back("interface " + det.interface + " not found");
    const auto agreement = parseAgreement(det.agreement).value_or(Agreement::Majority);
    AddressSet chosen;
    std::optional<NatReport> nat;
    for (const Family fam : {Family::V4, Family::V6}) {
      if ((fam == Family::V4 && !det.ipv4) || (fam == Family::V6 && !det.ipv6)) continue;
      const std::string famName = toString(fam);
      const auto ifAddr = interfaceAddress(fam == Family::V4 ? iface.ipv4 : iface.ipv6);
      std::optional<IpAddress> web;
      if (!det.webSources.empty()) {
        std::vector<SourceAnswer> sa;
        for (std::size_t i = 0; i < det.webSources.size(); ++i) {
          const auto& a = (*answers)[i];
          // Each family agrees on its own: a source that answered in the other family has
          // no vote here (one IPv4 and one IPv6 source each decide their family). A source
          // that failed still counts, against agreement: the safe side.
          if (a && a->family() != fam) continue;
          SourceAnswer s{det.webSources[i], std::nullopt, (*errors)[i]};
          if (a) s.address = a;
          sa.push_back(std::move(s));
        }
        auto agreed = sa.empty() ? Result<IpAddress>(fail(std::string("no web source answered with an ") +
                                                          famName + " address"))
                                 : agree(sa, agreement);
        if (agreed) {
          web = *agreed;
        } else {
          pass->report.errors.push_back(famName + ": " + agreed.error());
        }
      }
      const NatReport n = detectNat(ifAddr, web);
      if (!nat || natRank(n.kind) > natRank(nat->kind)) nat = n;
      // A publishable address on our own interface is what the world reaches us at: publish
      // it (an interface event then takes effect at once). Behind NAT the interface holds a
      // private address, and the web sources say what the world sees.
      const bool ifPublic = ifAddr && isPublishable(*ifAddr);
      const std::optional<IpAddress> pick = ifPublic || det.webSources.empty() ? ifAddr : web;
      if (!pick) {
        if (det.webSources.empty())
          pass->report.errors.push_back(famName + ": no address on interface " +
                                        (det.interface.empty() ? "(none configured)"
                                                               : det.interface));
        continue;
      }
      if (!isPublishable(*pick)) {
        // Never publish what detection got wrong: a private or CGNAT address is no use to
        // the world and would wipe a good record.
        pass->report.errors.push_back(famName + ": refusing to publish " +
                                      toString(classify(*pick)) + " address " +
                                      pick->toString());
        continue;
      }
      (fam == Family::V4 ? chosen.v4 : chosen.v6) = pick;
    }
    pass->report.nat = nat;
    nat_ = nat;
    // A record is only ours while we hold its address: with the interface down or gone, or
    // (without web sources) no publishable address left on it, we know we hold nothing.
    addressLost_.clear();
    if (!det.interface.empty() && !iface.exists)
      addressLost_ = "interface " + det.interface + " not found";
    else if (!det.interface.empty() && !iface.up)
      addressLost_ = "interface " + det.interface + " is down";
    else if (!det.interface.empty() && det.webSources.empty() && chosen.empty())
      addressLost_ = "no publishable address left on " + det.interface;
    if (!addressLost_.empty()) chosen = {};  // an address on a dead interface is not ours to publish
    if (!chosen.empty()) {
      pass->addresses = chosen;
      current_ = chosen;
    } else if (!addressLost_.empty()) {
      current_.reset();
    }
    update(pass);
  };

  if (d.webSources.empty()) {
    conclude();
    return;
  }
  pass->pending = d.webSources.size();
  auto alive = std::weak_ptr<bool>(alive_);
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d.timeout);
  for (std::size_t i = 0; i < d.webSources.size(); ++i) {
    const std::string& url = d.webSources[i];
    auto one = [pass, answers, errors, i, conclude, alive](std::optional<IpAddress> a,
                                                          std::string err) {
      if (alive.expired()) return;
      (*answers)[i] = a;
      (*errors)[i] = std::move(err);
      if (--pass->pending == 0) conclude();
    };
    if (auto ok = checkWebSourceUrl(url); !ok) {
      boost::asio::post(io_, [one, e = ok.error()] { one(std::nullopt, e); });
      continue;
    }
    net::HttpRequest req;
    req.url = url;
    req.userAgent = kUserAgent;
    req.timeout = timeout;
    req.connectTimeout = std::min(timeout, std::chrono::milliseconds(std::chrono::seconds(10)));
    req.maxBody = kMaxIpCheckBody;
    req.allowHttp = isLiteralLoopbackHttp(url);
    deps_.http->request(std::move(req), [one](net::HttpResponse r) {
      if (r.error != net::TransportError::None) {
        one(std::nullopt, std::string(transportName(r.error)) +
                              (r.errorText.empty() ? "" : ": " + r.errorText));
        return;
      }
      if (r.status != 200) {
        one(std::nullopt, "HTTP status " + std::to_string(r.status));
        return;
      }
      auto a = parseIpCheckBody(r.body);
      if (!a) {
        one(std::nullopt, a.error());
        return;
      }
      one(*a, "");
    });
  }
}

bool Engine::shouldReassert(const std::string& account, const std::string& host, const HostState& state,
                            TimePoint now) const {
  // The provider confirmed our address, yet the zone's servers publish something else (a
  // hijack, a provider that lost the record): say it again, but at most once per
  // kReassertInterval, so a provider that keeps answering nochg never sees a flood.
  if (state.confirmedAddress.empty() || !state.lastAttempt) return false;
  if (now - *state.lastAttempt < kReassertInterval) return false;
  for (const auto& o : observations_) {
    if (o.account != account || o.host != host) continue;
    const HostVerification v = verifyHost(o);
    return v.outcome == VerifyOutcome::Mismatch && o.at >= *state.lastAttempt + Duration{v.ttl};
  }
  return false;
}

void Engine::update(const std::shared_ptr<Pass>& pass) {
  const TimePoint now = deps_.now();
  if (holdUpdates_) {
    holdUpdates_ = false;
    for (auto& r : pass->report.hosts) {
      r.result = "held";
      r.blocked = true;
      r.detail = "state file was unreadable; updates held for this pass";
    }
    persist(pass->report);
    verify(pass);
    return;
  }

  struct Outgoing {
    const DdnsAccount* account;
    UpdateRequest request;
    std::string password;
    std::map<std::string, UpdateDecision> decisions;
    std::string secretTag;
  };
  std::vector<Outgoing> outgoing;
  const AddressSet addrs = pass->addresses.value_or(AddressSet{});
  // rfc2136 accounts publish with a DNS UPDATE (publish_rfc2136.cpp), not a dyndns2 request.
  Rfc2136Context rfcCtx{store_, [pass](const std::string& a, const std::string& h) -> HostReport& { return pass->row(a, h); },
                        lastError_, deps_.now, deps_.rfc2136};
  std::vector<Rfc2136Job> rfcJobs = planRfc2136(config_, addrs, pass->options, rfcCtx);

  for (const auto& account : config_.accounts) {
    if (isRfc2136(account)) continue;
    const std::string fp = configFingerprint(account);
    // The secret first: a new password lifts a ban (the state keeps only a short tag of it).
    std::optional<std::string> secret = account.password;
    std::string secretError;
    if (!secret) {
      SecretRead s = deps_.readSecret(account.passwordFile);
      if (s.secret) secret = std::move(s.secret);
      else secretError = std::move(s.error);
    }
    SendRules rules;
    rules.minInterval = minUpdateInterval(account);
    if (secret) rules.secretTag = secretTag(*secret);
    // !donator refuses the option, not the account: once refused (same configuration), the
    // hosts get plain address updates while on multidrop, so the record stays right.
    bool offlineRefused = false;
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      const HostState* st = n ? store_.find(account.name, *n) : nullptr;
      if (st && st->offlineRefused && st->configFingerprint == fp) offlineRefused = true;
    }
    const bool offline = intent_ == AddressIntent::Withdraw && account.offlineOnMultidrop && !offlineRefused;
    std::vector<std::string> send;
    std::map<std::string, UpdateDecision> decisions;
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      if (!n) {
        pass->row(account.name, h).result = "rejected";
        pass->row(account.name, h).blocked = true;
        continue;
      }
      HostReport& row = pass->row(account.name, *n);
      const HostState state = store_.get(account.name, *n);
      if (!state.fatalReason.empty()) row.fatal = state.fatalReason;
      const bool reassert = !offline && shouldReassert(account.name, *n, state, now);
      UpdateDecision d = offline ? shouldSendOffline(state, now, fp, rules)
                                 : shouldUpdate(state, addrs, now, pass->options.force || reassert,
                                                pass->options.firstStart, fp, rules);
      // The address needs no request, but the MX lever wants an MX the provider has not
      // accepted: that alone is worth one request, within the provider's rules.
      const auto wish = mxWanted_.find(*n);
      if (!d.send && wish != mxWanted_.end() &&
          (d.reason == SkipReason::Unchanged || d.reason == SkipReason::Offline)) {
        // The servers contradict what the provider accepted: say it again, at most once per
        // kReassertInterval (as a contradicted address), within every other rule.
        HostState asked = state;
        const bool sayAgain = mxContradicted_.count(*n) != 0 && asked.confirmedMx == wish->second &&
                              (!state.lastAttempt || now - *state.lastAttempt >= kReassertInterval);
        if (sayAgain) asked.confirmedMx.reset();
        const UpdateDecision mx = shouldSendMx(asked, wish->second, now, fp, rules);
        if (mx.send && sayAgain) mxContradicted_.erase(*n);
        if (mx.send || mx.reason != SkipReason::Unchanged) d = mx;
      }
      if (!d.send) {
        row.result = std::string("skip: ") + toString(d.reason);
        row.detail = d.text;
        row.retryAfter = d.notBefore;
        continue;
      }
      row.fatal.clear();
      if (std::find(send.begin(), send.end(), *n) == send.end()) send.push_back(*n);
      decisions[*n] = d;
    }
    if (send.empty()) continue;
    // mx= applies to every hostname of a request: hosts with the same wish (or none) share
    // requests, each other wish gets its own.
    std::vector<std::pair<std::optional<MxSetting>, std::vector<std::string>>> rounds;
    for (const auto& h : send) {
      const auto wish = mxWanted_.find(h);
      std::optional<MxSetting> mx;
      if (wish != mxWanted_.end()) mx = wish->second;
      auto round = std::find_if(rounds.begin(), rounds.end(), [&](const auto& r) { return r.first == mx; });
      if (round == rounds.end())
        round = rounds.insert(rounds.end(), std::make_pair(mx, std::vector<std::string>{}));
      round->second.push_back(h);
    }

    const auto markAll = [&](const std::string& result, const std::string& detail) {
      for (const auto& h : send) {
        HostReport& row = pass->row(account.name, h);
        row.result = result;
        row.detail = detail;
        row.blocked = true;
      }
    };
    if (!secret) {
      const std::string err = "account " + account.name + ": password: " + secretError;
      pass->report.errors.push_back(err);
      markAll("error", err);
      continue;
    }
    const std::string& password = *secret;
    // http:// to a literal loopback host is as private as a pipe; accept it for tests and
    // local relays without the explicit flag the core otherwise requires.
    DdnsAccount effective = account;
    if (isLiteralLoopbackHttp(account.url)) effective.allowInsecureHttp = true;
    for (const auto& [mx, hosts] : rounds) {
      RequestOptions ro;
      ro.offline = offline;
      ro.mx = mx;
      auto plan = buildRequests(effective, hosts, addrs, ro);
      if (!plan) {
        const std::string err = "account " + account.name + ": " + plan.error();
        pass->report.errors.push_back(err);
        for (const auto& h : hosts) {
          HostReport& row = pass->row(account.name, h);
          row.result = addrs.empty() ? "skip: no-address" : "error";
          row.detail = plan.error();
          row.blocked = true;
        }
        continue;
      }
      for (const auto& rej : plan->rejected) {
        auto n = normalizeHostname(rej.host);
        HostReport& row = pass->row(account.name, n ? *n : rej.host);
        row.result = "rejected";
        row.detail = rej.reason;
        row.blocked = true;
      }
      for (auto& req : plan->requests) {
        std::map<std::string, UpdateDecision> ds;
        for (const auto& h : req.hostnames) ds[h] = decisions[h];
        outgoing.push_back({&account, std::move(req), password, std::move(ds), rules.secretTag});
      }
    }
  }

  if (outgoing.empty() && rfcJobs.empty()) {
    persist(pass->report);
    verify(pass);
    return;
  }

  // Every request is handed to curl before any reply can arrive: accounts run concurrently
  // on the one loop, one request per batch of hosts.
  pass->pending = outgoing.size() + rfcJobs.size();
  pass->report.requestsSent = outgoing.size() + rfcJobs.size();
  auto alive = std::weak_ptr<bool>(alive_);
  const auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.requestTimeout);
  for (auto& out : outgoing) {
    net::HttpRequest req;
    req.url = out.request.url;
    req.username = out.request.username;
    req.password = std::move(out.password);
    req.userAgent = kUserAgent;
    req.timeout = timeout;
    req.connectTimeout = std::min(timeout, std::chrono::milliseconds(std::chrono::seconds(10)));
    req.maxBody = kMaxReplyBody;
    req.verifyTls = out.request.tlsVerify;
    req.caFile = out.request.caFile;
    req.allowHttp = out.request.allowInsecureHttp || isLiteralLoopbackHttp(out.request.url);
    const DdnsAccount* account = out.account;
    deps_.http->request(
        std::move(req),
        [this, pass, alive, account, sent = std::move(out.request),
         decisions = std::move(out.decisions), tag = out.secretTag](net::HttpResponse r) {
          if (alive.expired()) return;
          const TimePoint at = deps_.now();
          const Classification c =
              classify(static_cast<int>(r.status), r.body, sent.hostnames, toFailure(r.error));
          ApplyContext ctx;
          ctx.sentAddress = sent.myip;
          ctx.fingerprint = configFingerprint(*account);
          ctx.serverErrorRetry = serverErrorRetry(*account);
          ctx.offlineRequest = sent.offline;
          ctx.secretTag = tag;
          ctx.partialAddress = sent.partialAddress;
          ctx.sentMx = sent.mx;
          for (std::size_t i = 0; i < c.hosts.size() && i < sent.hostnames.size(); ++i) {
            const std::string& host = sent.hostnames[i];
            const HostResult& hr = c.hosts[i];
            const auto dit = decisions.find(host);
            ctx.nochgExpected = dit != decisions.end() && dit->second.nochgExpected;
            if (sent.partialAddress && hr.consequence == Consequence::Ok &&
                pass->familyFailed.count({account->name, host}) != 0) {
              // The other family failed in this pass: its back-off stands; only record
              // that this family is published.
              HostState st = store_.get(account->name, host);
              st.confirmedAddress = mergeFamily(st.confirmedAddress, sent.myip);
              store_.put(st);
              continue;
            }
            if (sent.partialAddress && hr.consequence != Consequence::Ok)
              pass->familyFailed.insert({account->name, host});
            const HostState next = applyResult(store_.get(account->name, host), hr, at, ctx);
            store_.put(next);
            HostReport& row = pass->row(account->name, host);
            // One request per family (single-address providers): a failure of either stays.
            if (row.sent && sent.partialAddress && hr.consequence == Consequence::Ok) continue;
            row.sent = true;
            row.result = toString(hr.code);
            row.detail = hr.detail;
            if (r.error != net::TransportError::None && !r.errorText.empty())
              row.detail = std::string(transportName(r.error)) + ": " + r.errorText;
            row.fatal = next.fatalReason;
            row.retryAfter = next.retryNotBefore;
            if (hr.consequence == Consequence::FatalOption)
              row.detail = std::string("provider refused ") +
                           (next.mxRefused && !sent.offline ? "mx=" : "offline=YES") + " (" +
                           toString(hr.code) + "); only that option is disabled";
            row.nochgUnasked = hr.code == ResultCode::NoChange && !ctx.nochgExpected;
            if (row.nochgUnasked)
              row.detail = "unexpected nochg: the provider already had " + sent.myip +
                           " (repeated nochg gets hosts blocked)";
            if (hr.consequence == Consequence::Ok) {
              lastError_.erase({account->name, host});
            } else {
              lastError_[{account->name, host}] = row.detail.empty() ? toString(hr.code) : row.detail;
            }
            spdlog::log(hr.consequence == Consequence::Ok ? spdlog::level::info : spdlog::level::warn, "{}",
                        describeAnswer({host, account->provider, account->name, row.result, sent.myip, row.detail,
                                        hr.consequence, next.retryNotBefore}));
          }
          if (--pass->pending == 0) {
            persist(pass->report);
            verify(pass);
          }
        });
  }
  sendRfc2136(std::move(rfcJobs), addrs, rfcCtx, [this, pass] {
    if (--pass->pending == 0) {
      persist(pass->report);
      verify(pass);
    }
  }, alive);
}

void Engine::verify(const std::shared_ptr<Pass>& pass) {
  // Hosts to check, each against the address we want published.
  struct Target {
    std::string account;
    std::string host;
    AddressSet expected;
    AddressIntent intent = AddressIntent::Publish;
  };
  std::vector<Target> targets;
  for (const auto& account : config_.accounts) {
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      if (!n) continue;
      const HostState* st = store_.find(account.name, *n);
      if (st && st->offline) {
        // Withdrawn (or still offline after a withdraw): its effect is checked, the name
        // must no longer resolve to the address we held; never confirmed (withdrawn from
        // the start, as a dial-up office is), to the address we sent or hold now.
        auto old = parseAddressSet(st->confirmedAddress);
        if (!old || old->empty()) old = parseAddressSet(st->lastAddressSent);
        if ((!old || old->empty()) && current_ && !current_->empty()) old = *current_;
        if (old && !old->empty() &&
            std::none_of(targets.begin(), targets.end(), [&](const Target& t) {
              return t.account == account.name && t.host == *n;
            }))
          targets.push_back({account.name, *n, *old, AddressIntent::Withdraw});
        continue;
      }
      // Only what we hold is verified: a record naming an address we lost is stale.
      std::optional<AddressSet> expected = pass->addresses;
      if (!expected && addressLost_.empty() && st && !st->confirmedAddress.empty())
        expected = parseAddressSet(st->confirmedAddress);
      if (!expected) continue;
      if (std::any_of(targets.begin(), targets.end(), [&](const Target& t) {
            return t.account == account.name && t.host == *n;
          }))
        continue;
      targets.push_back({account.name, *n, *expected, AddressIntent::Publish});
    }
  }
  if (targets.empty()) {
    finish(pass);
    return;
  }

  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      config_.verify.timeout);
  const bool askA = config_.detect.ipv4;
  const bool askAaaa = config_.detect.ipv6;
  auto alive = std::weak_ptr<bool>(alive_);
  pass->pending = targets.size();

  auto hostDone = [this, pass, alive](Observation obs) {
    if (alive.expired()) return;
    obs.at = deps_.now();
    if (obs.intent == AddressIntent::Withdraw) {
      const HostVerification v = verifyHost(obs);
      if (v.outcome == VerifyOutcome::Verified)
        withdrawalCacheTtl_ = std::max(withdrawalCacheTtl_, std::min<Duration>(Duration{v.cacheTtl}, kMaxTtlGrace));
    }
    auto it = std::find_if(observations_.begin(), observations_.end(), [&](const auto& o) {
      return o.account == obs.account && o.host == obs.host;
    });
    if (it != observations_.end()) {
      *it = std::move(obs);
    } else {
      observations_.push_back(std::move(obs));
    }
    if (--pass->pending == 0) finish(pass);
  };

  for (auto& t : targets) {
    auto askServers = [this, pass, t, askA, askAaaa, timeout, hostDone](
                          std::vector<NamedServer> servers, std::string error) {
      Observation obs;
      obs.account = t.account;
      obs.host = t.host;
      obs.expected = t.expected;
      obs.intent = t.intent;
      if (servers.empty()) {
        obs.answers.push_back({"authoritative servers", false, {}, 0,
                               error.empty() ? "none found" : error, false});
        hostDone(std::move(obs));
        return;
      }
      std::vector<net::RecordType> types;
      if (askA || t.expected.v4) types.push_back(net::RecordType::A);
      if (askAaaa || t.expected.v6) types.push_back(net::RecordType::AAAA);
      struct Acc {
        Observation obs;
        std::vector<std::size_t> left;  // per server
        std::size_t total = 0;
      };
      auto acc = std::make_shared<Acc>();
      acc->obs = std::move(obs);
      acc->total = servers.size() * types.size();
      for (const auto& s : servers) {
        ServerAnswer a;
        a.server = dnsServerLabel(s.name, s.server);
        a.answered = true;
        a.authoritative = true;  // cleared by any answer of this server without the AA bit
        acc->obs.answers.push_back(std::move(a));
      }
      for (std::size_t si = 0; si < servers.size(); ++si) {
        for (auto type : types) {
          net::DnsQuery q{t.host, type, {servers[si].server}, false, false, timeout, 2};
          dnsSubmit(pass, *deps_.dns, q, [acc, si, hostDone](net::DnsResult r) {
            ServerAnswer& a = acc->obs.answers[si];
            const bool answered = r.error == net::DnsError::None ||
                                  r.error == net::DnsError::NoData ||
                                  r.error == net::DnsError::NxDomain;
            if (!answered) {
              a.answered = false;
              a.error += (a.error.empty() ? "" : ", ") + std::string(net::toString(r.error));
            } else if (!r.authoritative) {
              a.authoritative = false;
            }
            if (answered && !r.values.empty()) {
              a.ttl = a.addresses.empty() ? r.ttl : std::min(a.ttl, r.ttl);
              a.addresses.insert(a.addresses.end(), r.values.begin(), r.values.end());
            }
            if (answered && r.values.empty() && r.negativeTtl)
              a.negativeTtl = std::max(a.negativeTtl.value_or(0), *r.negativeTtl);
            if (--acc->total == 0) {
              for (auto& ans : acc->obs.answers)
                if (!ans.answered) ans.addresses.clear();
              hostDone(std::move(acc->obs));
            }
          });
        }
      }
    };

    if (!config_.verify.servers.empty()) {
      std::vector<NamedServer> servers;
      for (const auto& hp : config_.verify.servers)
        servers.push_back({"", {hp.host, hp.port == 0 ? 53 : hp.port}});
      askServers(std::move(servers), "");
    } else {
      findZoneServers(pass, *deps_.dns, t.host, timeout, askServers);
    }
  }
}

bool Engine::withdrawing(const DdnsAccount& account, const std::string& host) const {
  if (intent_ != AddressIntent::Withdraw || !account.offlineOnMultidrop) return false;
  // A provider that refused the option (same configuration) keeps the host published.
  const HostState* st = store_.find(account.name, host);
  return !(st && st->offlineRefused && st->configFingerprint == configFingerprint(account));
}

HealthInput Engine::healthInput(TimePoint now) const {
  HealthInput in;
  in.enabled = config_.enabled;
  for (const auto& account : config_.accounts)
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      if (!n) continue;
      in.hosts.emplace_back(account.name, *n);
      if (withdrawing(account, *n)) in.withdrawing.emplace_back(account.name, *n);
    }
  in.states = &store_;
  in.observations = observations_;
  in.nat = nat_;
  in.previous = health_;
  in.now = now;
  in.current = current_;
  in.addressLost = addressLost_;
  return in;
}

void Engine::finish(const std::shared_ptr<Pass>& pass) {
  const TimePoint now = deps_.now();
  const HealthInput in = healthInput(now);
  health_ = evaluateHealth(in);
  judged_ = judgeHosts(in);
  pass->report.health = health_;
  if (pass->addresses) pass->report.address = pass->addresses->toString();

  for (auto& row : pass->report.hosts) {
    const HostState* st = store_.find(row.account, row.host);
    if (st) {
      if (row.address.empty())
        row.address = st->confirmedAddress.empty() ? st->lastAddressSent : st->confirmedAddress;
      row.fatal = st->fatalReason;
      if (st->retryNotBefore && now < *st->retryNotBefore) row.retryAfter = st->retryNotBefore;
    }
    if (pass->addresses && row.result != "skip: fatal") row.address = pass->addresses->toString();
    // One typed model decides: the host judged against the intent, plus what this pass
    // could not do for it and a provider that keeps answering nochg unasked.
    const auto j = std::find_if(judged_.begin(), judged_.end(), [&](const HostHealth& h) {
      return h.account == row.account && h.host == row.host;
    });
    if (j == judged_.end()) {
      row.fine = false;
      continue;
    }
    row.condition = j->condition;
    row.verification = j->text;
    switch (j->condition) {
      case HostCondition::Verified: row.verified = "yes"; break;
      case HostCondition::Withdrawn: row.verified = "withdrawn"; break;
      case HostCondition::WithdrawalPending: row.verified = "withdrawal pending"; break;
      case HostCondition::Pending: row.verified = "not checked"; break;
      case HostCondition::Grace: row.verified = "grace"; break;
      case HostCondition::NoAddress: row.verified = "not checked"; break;
      case HostCondition::Stale: row.verified = "stale"; break;
      default: row.verified = "no"; break;
    }
    row.fine = j->fine() && !row.blocked && row.fatal.empty() && !row.nochgUnasked;
  }

  scheduleHeldSends(now);
  last_ = pass->report;
  running_ = false;
  auto done = std::move(pass->done);
  if (done) done(pass->report);
  if (daemon_ && onPass_) onPass_(pass->report);
  if (mxListener_ && !mxWanted_.empty()) mxListener_();
  if (!running_) beginNext();
}

void Engine::persist(PassReport& report) {
  std::error_code ec;
  const auto dir = std::filesystem::path(statePath_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  // Unchanged state is not written again: no fsync (and no wake-up of the disk) per idle pass.
  std::string text = toJson(store_);
  if (text == persisted_ || (deps_.stateWriter != nullptr && text == writing_)) {
    if (!saveError_.empty()) report.errors.push_back("cannot save DDNS state: " + saveError_);
    return;
  }
  std::string written = text;
  if (deps_.clockAnchor) {
    if (auto anchor = deps_.clockAnchor(deps_.now())) {
      StateStore anchored = store_;
      anchored.anchor = std::move(anchor);
      written = toJson(anchored);
    }
  }
  if (deps_.stateWriter == nullptr) {
    if (auto w = writeFileAtomic(statePath_, written, deps_.stateFile); !w) {
      saveError_ = w.error();
      report.errors.push_back("cannot save DDNS state: " + w.error());
    } else {
      saveError_.clear();
      persisted_ = std::move(text);
    }
    return;
  }
  // Off the loop: the result comes back as a fact (stateSaveError), in the order written.
  // Until then the report carries the last known save error, if any.
  if (!saveError_.empty()) report.errors.push_back("cannot save DDNS state: " + saveError_);
  writing_ = text;
  std::weak_ptr<bool> alive = alive_;
  deps_.stateWriter->writeAtomic(statePath_, std::move(written), deps_.stateFile,
                                 [this, alive, text = std::move(text)](Status<> w) {
                                   if (alive.expired()) return;
                                   if (writing_ == text) writing_.clear();
                                   const std::string before = saveError_;
                                   if (!w) {
                                     saveError_ = w.error();
                                   } else {
                                     saveError_.clear();
                                     persisted_ = text;
                                   }
                                   if (saveError_ != before && deps_.stateSaveChanged) deps_.stateSaveChanged();
                                 });
}

void Engine::start(PassHandler onPass) {
  daemon_ = true;
  onPass_ = std::move(onPass);
  runPass({false, true, false}, {});
  scheduleCheck();
  scheduleVerify();
}

void Engine::stop() {
  daemon_ = false;
  checkTimer_.cancel();
  verifyTimer_.cancel();
}

void Engine::scheduleCheck() {
  if (!daemon_ || !config_.enabled) return;
  checkTimer_.expires_after(config_.checkInterval);
  auto alive = std::weak_ptr<bool>(alive_);
  checkTimer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired() || !daemon_) return;
    requestPass(false);
    scheduleCheck();
  });
}

void Engine::scheduleHeldSends(TimePoint now) {
  // A back-off may hold the withdrawal exactly when it is needed, and the minimum interval
  // may hold an MX change: send it the moment the provider allows, not up to a check
  // interval later.
  if (!daemon_) return;
  std::optional<TimePoint> earliest;
  const auto consider = [&](std::optional<TimePoint> t) {
    if (t && *t > now && (!earliest || *t < *earliest)) earliest = t;
  };
  for (const auto& account : config_.accounts)
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      if (!n) continue;
      const HostState* st = store_.find(account.name, *n);
      if (intent_ == AddressIntent::Withdraw && withdrawing(account, *n) && st && !st->offline &&
          !st->fatal())
        consider(st->retryNotBefore);
    }
  for (const auto& [host, wish] : mxWanted_)
    if (auto p = mxPublication(host); p && p->state == MxPublicationState::Waiting) consider(p->notBefore);
  if (!earliest || *earliest - now >= config_.checkInterval) return;
  checkTimer_.cancel();
  checkTimer_.expires_after(*earliest - now + std::chrono::seconds(1));
  auto alive = std::weak_ptr<bool>(alive_);
  checkTimer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired() || !daemon_) return;
    requestPass(false);
    scheduleCheck();
  });
}

void Engine::scheduleVerify() {
  if (!daemon_ || !config_.enabled) return;
  verifyTimer_.expires_after(config_.verify.interval);
  auto alive = std::weak_ptr<bool>(alive_);
  verifyTimer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired() || !daemon_) return;
    runPass({false, false, true}, {});
    scheduleVerify();
  });
}

void Engine::requestPass(bool force) {
  // Coalesce: one waiting full pass is enough, it will see the newest address.
  for (auto& q : queue_) {
    if (!q.options.verifyOnly && !q.done) {
      q.options.force = q.options.force || force;
      return;
    }
  }
  runPass({force, false, false}, {});
}

std::size_t Engine::resetHost(const std::string& host) {
  auto n = normalizeHostname(host);
  const std::string key = n ? *n : host;
  std::size_t count = 0;
  for (auto& [k, st] : store_.hosts) {
    if (k.second != key) continue;
    st.fatalReason.clear();
    st.unexpectedNochg = 0;
    ++count;
  }
  if (count > 0) {
    PassReport scratch;
    persist(scratch);
    if (!scratch.errors.empty()) loadError_ = scratch.errors.front();
  }
  return count;
}

void Engine::reconfigure(DdnsSection config) {
  pendingConfig_ = std::move(config);
  requestPass(false);  // applied when that pass begins; an edited account lifts its bans
}

void Engine::applyPendingConfig() {
  if (!pendingConfig_) return;
  config_ = std::move(*pendingConfig_);
  pendingConfig_.reset();
  if (daemon_) {  // new intervals (or DDNS switched on) take effect now
    checkTimer_.cancel();
    verifyTimer_.cancel();
    scheduleCheck();
    scheduleVerify();
  }
}

void Engine::setIntent(AddressIntent intent) {
  if (intent_ == intent) return;
  intent_ = intent;
  // A new withdrawal: what senders may cache is learnt afresh (publish keeps it: the way
  // back waits for it).
  if (intent == AddressIntent::Withdraw) withdrawalCacheTtl_ = Duration{0};
  bool any = false;
  for (const auto& a : config_.accounts) any = any || a.offlineOnMultidrop;
  // Withdraw: offline=YES goes out in the next pass; publish: hosts marked offline are
  // re-sent by shouldUpdate. Either way the verdict is judged against the new intent now.
  judged_ = judgeHosts(healthInput(deps_.now()));
  if (!any) return;
  // From the loop, never inside the caller: a pass that completes at once would tell the
  // coordinator about it while the coordinator is still handing out its intent.
  auto alive = std::weak_ptr<bool>(alive_);
  boost::asio::post(io_, [this, alive] {
    if (!alive.expired()) requestPass(false);
  });
}

const DdnsAccount* Engine::dyndns2AccountOf(const std::string& host) const {
  for (const auto& account : config_.accounts) {
    if (isRfc2136(account)) continue;
    for (const auto& h : account.hosts)
      if (auto n = normalizeHostname(h); n && *n == host) return &account;
  }
  return nullptr;
}

void Engine::wantMx(const std::string& host, std::optional<MxSetting> wanted) {
  auto n = normalizeHostname(host);
  const std::string key = n ? *n : host;
  const auto it = mxWanted_.find(key);
  if (!wanted) {
    if (it != mxWanted_.end()) mxWanted_.erase(it);
    return;
  }
  if (it != mxWanted_.end() && it->second == *wanted) return;
  mxWanted_[key] = *wanted;
  mxContradicted_.erase(key);  // a new wish is sent anyway
  // From the loop, never inside the caller (see setIntent).
  auto alive = std::weak_ptr<bool>(alive_);
  boost::asio::post(io_, [this, alive] {
    if (!alive.expired()) requestPass(false);
  });
}

void Engine::mxContradicted(const std::string& host) {
  auto n = normalizeHostname(host);
  const std::string key = n ? *n : host;
  if (mxWanted_.count(key) == 0 || !mxContradicted_.insert(key).second) return;
  spdlog::warn("{}: the authoritative servers contradict the MX the provider accepted; it is sent again "
               "(no sooner than {} after the last request)",
               key, formatDuration(kReassertInterval));
  auto alive = std::weak_ptr<bool>(alive_);
  boost::asio::post(io_, [this, alive] {
    if (!alive.expired()) requestPass(false);
  });
}

std::optional<MxPublication> Engine::mxPublication(const std::string& host) const {
  const DdnsAccount* account = dyndns2AccountOf(host);
  if (account == nullptr) return std::nullopt;
  const auto wish = mxWanted_.find(host);
  if (wish == mxWanted_.end()) return MxPublication{MxPublicationState::Pending, "no MX asked for", {}, {}};
  const HostState state = store_.get(account->name, host);
  SendRules rules;
  rules.minInterval = minUpdateInterval(*account);
  // The planner's own answer: what the next pass would do is what the lever reports.
  const UpdateDecision d = shouldSendMx(state, wish->second, deps_.now(), configFingerprint(*account), rules);
  MxPublication p;
  p.text = d.text;
  if (d.send) {
    p.state = MxPublicationState::Pending;
    const auto e = lastError_.find({account->name, host});
    p.text = d.text + " (next request)" + (e == lastError_.end() ? "" : "; last answer: " + e->second);
    return p;
  }
  switch (d.reason) {
    case SkipReason::Unchanged:
      p.state = MxPublicationState::Accepted;
      p.text = "provider " + account->provider + " accepted " + toString(wish->second);
      p.acceptedAt = state.lastSuccess;
      break;
    case SkipReason::Backoff:
      p.state = MxPublicationState::Waiting;
      p.notBefore = d.notBefore;
      break;
    default:
      p.state = MxPublicationState::Refused;
      break;
  }
  return p;
}

void Engine::onMxFacts(std::function<void()> listener) {
  mxListener_ = std::move(listener);
}

mail::DdnsHealth Engine::health() const { return health_; }

std::string Engine::address() const { return current_ ? current_->toString() : std::string(); }

status::DdnsInfo Engine::info() const {
  status::DdnsInfo out;
  out.health = mail::toString(health_.state);
  out.code = health_.code;
  out.text = health_.text;
  out.since = health_.since;
  out.publicAddress = address();
  if (nat_ && (nat_->kind == NatKind::Nat || nat_->kind == NatKind::Cgnat))
    out.natNote = nat_->text;
  out.intent = toString(intent_);
  out.intentMet = !judged_.empty() && std::all_of(judged_.begin(), judged_.end(),
                                                   [](const HostHealth& h) { return h.intentMet(); });
  out.withdrawalCacheTtl = withdrawalCacheTtl_;
  for (const auto& account : config_.accounts) {
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      const std::string host = n ? *n : h;
      status::DdnsHostInfo hi;
      hi.host = host;
      hi.account = account.name;
      hi.provider = account.provider;
      if (const HostState* st = store_.find(account.name, host)) {
        hi.address = st->confirmedAddress.empty() ? st->lastAddressSent : st->confirmedAddress;
        if (st->lastResult) hi.lastResult = toString(*st->lastResult);
        hi.lastUpdate = st->lastAttempt;
        hi.retryAfter = st->retryNotBefore;
        hi.fatal = st->fatalReason;
      }
      if (auto e = lastError_.find({account.name, host}); e != lastError_.end()) hi.lastError = e->second;
      for (const auto& j : judged_) {
        if (j.account != account.name || j.host != host) continue;
        hi.verified = j.fine();
        hi.verification = j.text;
        hi.condition = toString(j.condition);
        hi.withdrawn = j.withdrawalVerified;
      }
      out.hosts.push_back(std::move(hi));
    }
  }
  return out;
}

std::optional<ClockAnchor> readClockAnchor(TimePoint now) {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!std::getline(in, id) || id.empty()) return std::nullopt;
  timespec ts{};
  if (::clock_gettime(CLOCK_BOOTTIME, &ts) != 0) return std::nullopt;
  return ClockAnchor{id, now, static_cast<std::int64_t>(ts.tv_sec)};
}

}  // namespace dynmx::ddns
