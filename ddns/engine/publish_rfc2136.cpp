// The rfc2136 provider kind in the engine: plan (which hosts, pure), build the guarded
// UPDATE (pure), send through the Rfc2136Sender seam, classify into a HostResult.
#include "publish_rfc2136.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>

namespace dynmx::ddns {
namespace {

std::vector<std::string> family(const std::optional<IpAddress>& a) {
  if (!a) return {};
  return {a->toString()};
}

std::string hash16(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: a fingerprint, not a secret
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  static const char* hex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = hex[h & 0xf];
  return out;
}

}  // namespace

bool isRfc2136(const DdnsAccount& account) {
  return account.provider == kRfc2136;
}

std::string rfc2136Fingerprint(const DdnsAccount& account) {
  const auto& r = account.rfc2136;
  // The key file's identity too (never its content): replacing a wrong key lifts a BADKEY
  // or BADSIG stop at the next pass, without editing the policy.
  struct stat st {};
  std::string keyId = "-";
  if (::stat(r.keyFile.c_str(), &st) == 0)
    keyId = std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
            std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
  return configFingerprint(account) + "-" +
         hash16(r.keyFile + '\n' + r.zone + '\n' + r.server + '\n' + std::to_string(r.ttl) + '\n' + keyId);
}

dnsupdate::UpdateMessage rfc2136Message(const DdnsAccount& account, const std::string& host,
                                        const AddressSet& addresses, const HostState& state) {
  using dnsupdate::Change;
  using dnsupdate::Prerequisite;
  using dnsupdate::RecordType;
  using dnsupdate::RRset;
  dnsupdate::UpdateMessage m;
  m.zone = account.rfc2136.zone;
  const auto ttl = static_cast<std::uint32_t>(account.rfc2136.ttl);
  const AddressSet confirmed = parseAddressSet(state.confirmedAddress).value_or(AddressSet{});
  const auto one = [&](RecordType type, const std::optional<IpAddress>& want,
                       const std::optional<IpAddress>& had) {
    if (!want && !had) return;
    if (had)
      m.prerequisites.push_back({Prerequisite::Kind::RRsetEquals, RRset{host, type, 0, family(had)}});
    else
      m.prerequisites.push_back({Prerequisite::Kind::RRsetNotExists, RRset{host, type, 0, {}}});
    if (want)
      m.changes.push_back({Change::Kind::ReplaceRRset, RRset{host, type, ttl, family(want)}});
    else
      m.changes.push_back({Change::Kind::DeleteRRset, RRset{host, type, 0, {}}});
  };
  one(RecordType::A, addresses.v4, confirmed.v4);
  one(RecordType::AAAA, addresses.v6, confirmed.v6);
  return m;
}

HostResult rfc2136Result(const std::string& host, const dnsupdate::UpdateOutcome& o) {
  using dnsupdate::Verdict;
  HostResult r;
  r.host = host;
  r.detail = o.detail;
  switch (o.verdict) {
    case Verdict::Applied:
      r.code = ResultCode::Good;
      r.consequence = Consequence::Ok;
      break;
    case Verdict::PrereqFailed:
      r.code = ResultCode::NotYours;
      r.consequence = Consequence::RetryLater;
      r.detail = o.rcode + " from " + o.server + ": " + host +
                 " holds records dynmx did not publish (or changed since); not overwriting them. Remove them "
                 "once (nsupdate: update delete " +
                 host + " A) and dynmx publishes at the next try";
      break;
    case Verdict::Retry:
      r.code = o.rcode == "timeout"              ? ResultCode::Timeout
               : o.rcode == "connection-refused" ? ResultCode::ConnectError
                                                 : ResultCode::DnsErr;
      r.consequence = Consequence::Transient;
      break;
    case Verdict::BackOff:
      r.code = ResultCode::DnsErr;
      r.consequence = Consequence::RetryLater;
      break;
    case Verdict::Fatal:
      r.code = o.rcode == "REFUSED" ? ResultCode::NotYours : ResultCode::BadAuth;
      r.consequence = o.rcode == "REFUSED" ? Consequence::FatalHost : Consequence::FatalAccount;
      break;
  }
  return r;
}

std::vector<Rfc2136Job> planRfc2136(const DdnsSection& config, const AddressSet& addresses,
                                    const PassOptions& options, const Rfc2136Context& ctx) {
  std::vector<Rfc2136Job> jobs;
  const TimePoint now = ctx.now();
  for (const auto& account : config.accounts) {
    if (!isRfc2136(account)) continue;
    const std::string fp = rfc2136Fingerprint(account);
    for (const auto& h : account.hosts) {
      auto n = normalizeHostname(h);
      if (!n) {
        ctx.row(account.name, h).result = "rejected";
        continue;
      }
      HostReport& row = ctx.row(account.name, *n);
      const HostState state = ctx.store.get(account.name, *n);
      if (!state.fatalReason.empty()) row.fatal = state.fatalReason;
      const UpdateDecision d = shouldUpdate(state, addresses, now, options.force, options.firstStart, fp);
      if (!d.send) {
        row.result = std::string("skip: ") + toString(d.reason);
        row.detail = d.text;
        row.retryAfter = d.notBefore;
        continue;
      }
      row.fatal.clear();
      if (std::none_of(jobs.begin(), jobs.end(),
                       [&](const Rfc2136Job& j) { return j.account == &account && j.host == *n; }))
        jobs.push_back({&account, *n, fp, d});
    }
  }
  return jobs;
}

void sendRfc2136(std::vector<Rfc2136Job> jobs, const AddressSet& addresses, Rfc2136Context ctx,
                 std::function<void()> oneDone, std::weak_ptr<bool> alive) {
  for (auto& job : jobs) {
    const HostState before = ctx.store.get(job.account->name, job.host);
    auto message = rfc2136Message(*job.account, job.host, addresses, before);
    auto finish = [ctx, oneDone, alive, job, sent = addresses.toString()](dnsupdate::UpdateOutcome o) {
      if (alive.expired()) return;
      const HostResult hr = rfc2136Result(job.host, o);
      ApplyContext actx;
      actx.sentAddress = sent;
      actx.fingerprint = job.fingerprint;
      actx.serverErrorRetry = std::max(job.account->retryAfterServerError, kMinServerErrorRetry);
      HostState next = applyResult(ctx.store.get(job.account->name, job.host), hr, ctx.now(), actx);
      // Name the DNS answer itself, not the dyndns2 word it maps to.
      if (next.fatal()) next.fatalReason = o.rcode + ": " + hr.detail;
      ctx.store.put(next);
      HostReport& row = ctx.row(job.account->name, job.host);
      row.sent = true;
      row.result = o.rcode;
      row.detail = hr.detail + (o.overTcp ? " (over TCP)" : "");
      row.fatal = next.fatalReason;
      row.retryAfter = next.retryNotBefore;
      if (hr.consequence == Consequence::Ok)
        ctx.lastError.erase({job.account->name, job.host});
      else
        ctx.lastError[{job.account->name, job.host}] = o.rcode + ": " + hr.detail;
      oneDone();
    };
    if (!ctx.send) {
      dnsupdate::UpdateOutcome o;
      o.verdict = dnsupdate::Verdict::Fatal;
      o.rcode = "no-dns-update";
      o.detail = "this build of the engine was given no DNS UPDATE sender";
      finish(o);
      continue;
    }
    ctx.send(*job.account, std::move(message), std::move(finish));
  }
}

Rfc2136Sender makeRfc2136Sender(boost::asio::io_context& io, const DdnsSection& ddns) {
  std::vector<std::pair<std::string, int>> resolvers;
  for (const auto& s : ddns.verify.servers) resolvers.emplace_back(s.host, s.port);
  if (resolvers.empty()) resolvers = dnsupdate::systemResolvers();
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min<Duration>(ddns.requestTimeout, std::chrono::seconds(10)));
  return [&io, resolvers = std::move(resolvers), timeout](
             const DdnsAccount& account, dnsupdate::UpdateMessage message,
             std::function<void(dnsupdate::UpdateOutcome)> done) {
    auto key = dnsupdate::loadKeyFile(account.rfc2136.keyFile);
    if (!key.ok()) {
      dnsupdate::UpdateOutcome o;
      o.verdict = dnsupdate::Verdict::Fatal;
      o.rcode = "key-file";
      o.detail = key.error();
      boost::asio::post(io, [done = std::move(done), o = std::move(o)]() { done(o); });
      return;
    }
    dnsupdate::UpdaterConfig config;
    if (!account.rfc2136.server.empty())
      if (auto s = dnsupdate::parseServer(account.rfc2136.server)) config.servers.push_back(*s);
    config.resolvers = resolvers;
    config.key = std::move(*key);
    config.timeout = timeout;
    // One updater per update: it lives until its answer (the updater drops `done` once destroyed).
    std::shared_ptr<dnsupdate::Updater> updater = dnsupdate::makeUpdater(io, std::move(config));
    updater->send(std::move(message), [updater, done = std::move(done)](dnsupdate::UpdateOutcome o) mutable {
      done(std::move(o));
      updater.reset();
    });
  };
}

}  // namespace dynmx::ddns
