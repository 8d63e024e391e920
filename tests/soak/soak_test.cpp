// A simulated week on an injected clock: the DDNS planner, response classification and
// health drive maildecision through a scripted world (link flaps, address changes every
// few hours, 911/dnserr/timeout outages, a badauth episode, hijacks, a nameserver outage).
// Every step checks the safety rules against the world's truth; a second test runs the
// real coordinator with fakes for weeks and checks that open fds and the heap stay flat.
#include <dirent.h>
#include <malloc.h>

#include <gtest/gtest.h>

#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "dynmx/coordinator.hpp"
#include "dynmx/ddns/health.hpp"
#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/response.hpp"
#include "dynmx/ddns/schedule.hpp"
#include "dynmx/ddns/state.hpp"
#include "dynmx/maildecision.hpp"
#include "world.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define DYNMX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DYNMX_ASAN 1
#endif
#endif
#ifdef DYNMX_ASAN
// The ASan runtime exports this (GCC ships no header for it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace dynmx;
using namespace std::chrono_literals;

namespace {

constexpr Duration kStep = 30s;
constexpr std::uint32_t kTtl = 300;
const std::vector<std::string> kHosts = {"office.example.test", "mx.example.test"};

Policy soakPolicy(int configGeneration) {
  Policy p;
  p.sourceFile = "/etc/dynmx/dynmx.toml";
  p.mail.mode = MailPolicy::Auto;
  p.mail.domains = {"example.test"};
  p.link.type = LinkType::Dedicated;
  p.health.ddnsFailingMax = 5min;
  p.health.linkDownMax = 2min;
  p.health.holdDown = 1h;
  p.envelope.header = "X-Original-To";
  p.users.postmaster = "postmaster";
  p.users.wildcard = true;
  DdnsAccount a;
  a.name = "main";
  a.provider = "dyn";
  a.username = "office";
  // The admin's fix for badauth is a new password file: a new fingerprint.
  a.passwordFile = "/etc/dynmx/ddns-" + std::to_string(configGeneration) + ".secret";
  a.hosts = kHosts;
  p.ddns.accounts = {a};
  return p;
}

/// The pure DDNS engine and decision for one step, as the daemon wires them.
struct PureDaemon {
  const soak::Timeline& tl;
  soak::ProviderChecker provider{tl};
  ddns::StateStore store;
  mail::DdnsHealth health;
  mail::CurrentMode current{mail::MailMode::Multidrop, {}};
  ddns::AddressSet lastDetected;
  bool forcedThisMismatch = false;
  bool first = true;

  explicit PureDaemon(const soak::Timeline& t) : tl(t) { current.since = t.start; }

  /// One pass: detect, plan, send, classify, apply, verify, health, decide.
  mail::Decision step(TimePoint now) {
    const int gen = tl.configGeneration(now);
    const Policy policy = soakPolicy(gen);
    const DdnsAccount& account = policy.ddns.accounts.front();
    const std::string fp = ddns::configFingerprint(account);
    const bool linkUp = tl.linkUp(now);

    if (linkUp) {
      lastDetected = ddns::AddressSet{ddns::IpAddress::parse(tl.addressAt(now)), std::nullopt};
      // The engine re-asserts once per mismatch episode (a hijack): a forced re-send.
      const bool force = health.code == "ddns.mismatch" && !forcedThisMismatch;
      if (health.code != "ddns.mismatch") forcedThisMismatch = false;
      std::vector<std::string> send;
      std::vector<ddns::UpdateDecision> decisions;
      for (const auto& h : kHosts) {
        auto d = ddns::shouldUpdate(store.get(account.name, h), lastDetected, now, force, first, fp);
        if (d.send) {
          send.push_back(h);
          decisions.push_back(d);
        }
      }
      if (!send.empty()) {
        if (force) forcedThisMismatch = true;
        const std::string myip = lastDetected.toString();
        std::string body;
        auto transport = ddns::TransportFailure::None;
        for (const auto& h : send) {
          auto reply = provider.receive({now, h, myip, fp, force});
          body += reply.body + "\n";
          if (reply.transport != ddns::TransportFailure::None) transport = reply.transport;
        }
        const auto c = ddns::classify(200, body, send, transport);
        EXPECT_EQ(c.hosts.size(), send.size());
        for (std::size_t i = 0; i < send.size() && i < c.hosts.size(); ++i) {
          ddns::ApplyContext ctx;
          ctx.sentAddress = myip;
          ctx.fingerprint = fp;
          ctx.serverErrorRetry = ddns::serverErrorRetry(account);
          ctx.nochgExpected = decisions[i].nochgExpected;
          store.put(ddns::applyResult(store.get(account.name, send[i]), c.hosts[i], now, ctx));
        }
      }
      first = false;
    }

    ddns::HealthInput in;
    in.enabled = true;
    for (const auto& h : kHosts) in.hosts.emplace_back(account.name, h);
    in.states = &store;
    for (const auto& h : kHosts) {
      ddns::Observation obs{account.name, h, lastDetected, {}, now};
      for (const char* ns : {"ns1.example.test (192.0.2.53:53)", "ns2.example.test (198.51.100.53:53)"}) {
        ddns::ServerAnswer a;
        a.server = ns;
        if (!linkUp || !tl.nameserversAnswer(now)) {
          a.error = "timeout";
        } else {
          a.answered = true;
          a.authoritative = true;
          const std::string rec = tl.hijacked(now) ? soak::kHijackAddress : provider.record(h);
          if (!rec.empty()) a.addresses = {rec};
          a.ttl = kTtl;
        }
        obs.answers.push_back(a);
      }
      in.observations.push_back(obs);
    }
    in.previous = health;
    in.now = now;
    health = ddns::evaluateHealth(in);

    mail::DecisionInput di;
    di.policy = &policy;
    di.link = {LinkType::Dedicated, linkUp, tl.linkSince(now)};
    di.ddns = health;
    di.current = current;
    di.now = now;
    return mail::decide(di);
  }
};

/// The world's truth about DNS: what senders would see is not our address.
bool dnsUnsafe(const soak::Timeline& tl, const soak::ProviderChecker& p, TimePoint now) {
  if (tl.hijacked(now) || !tl.nameserversAnswer(now)) return true;
  const std::string addr = tl.addressAt(now);
  for (const auto& h : kHosts)
    if (p.record(h) != addr) return true;
  return false;
}

struct WeekStats {
  int toMultidrop = 0;
  int toDirect = 0;
  Duration direct{0};
  int hijacksCaught = 0;
  std::size_t requests = 0;
  std::vector<std::string> violations;
};

WeekStats runPureWeek(std::uint32_t seed) {
  const TimePoint start = fromUnix(1'800'000'000);
  const auto tl = soak::Timeline::week(seed, start);
  const Policy policy = soakPolicy(0);
  PureDaemon d(tl);
  WeekStats st;
  std::optional<TimePoint> unsafeSince;
  std::vector<bool> hijackCaught(tl.hijacks.size(), false);
  // Grace the decision cannot beat: the TTL grace after our own update, plus one step.
  const Duration slack = Duration{kTtl} + kStep;

  for (TimePoint now = start; now < tl.end; now += kStep) {
    const mail::Decision dec = d.step(now);
    const std::string at = formatTime(now);
    if (dec.mode != d.current.mode) {
      if (dec.mode == mail::MailMode::Direct) {
        ++st.toDirect;
        if (now - d.current.since < policy.health.holdDown)
          st.violations.push_back(at + ": back to direct " +
                                  formatDuration(now - d.current.since) +
                                  " after entering multidrop (hold-down 1h)");
      } else {
        ++st.toMultidrop;
      }
      d.current = {dec.mode, now};
    }

    // Truth, independent of the engine's own view.
    if (dnsUnsafe(tl, d.provider, now)) {
      if (!unsafeSince) unsafeSince = now;
    } else {
      unsafeSince.reset();
    }
    if (d.current.mode == mail::MailMode::Direct) {
      st.direct += kStep;
      if (!tl.linkUp(now) && now - tl.linkDownSince(now) >= policy.health.linkDownMax)
        st.violations.push_back(at + ": direct with the link down since " +
                                formatTime(tl.linkDownSince(now)));
      if (unsafeSince && now - *unsafeSince >= policy.health.ddnsFailingMax + slack)
        st.violations.push_back(at + ": direct while DNS has been wrong since " +
                                formatTime(*unsafeSince));
    } else {
      for (std::size_t i = 0; i < tl.hijacks.size(); ++i)
        if (tl.hijacks[i].covers(now)) hijackCaught[i] = true;
    }
  }
  for (const auto& v : d.provider.violations()) st.violations.push_back("provider: " + v);
  st.hijacksCaught = static_cast<int>(std::count(hijackCaught.begin(), hijackCaught.end(), true));
  st.requests = d.provider.requests().size();

  // The week must actually have exercised what it claims to (so this test can fail).
  EXPECT_GE(d.provider.replies("good"), 20) << "address changes reached the provider";
  EXPECT_GE(d.provider.replies("911") + d.provider.replies("dnserr"), 1) << "an outage met a request";
  EXPECT_GE(d.provider.replies("badauth"), 1) << "the badauth episode met a request";
  EXPECT_EQ(d.provider.replies("badauth"), static_cast<int>(kHosts.size()))
      << "badauth is met once per host and configuration";
  return st;
}

class PureWeek : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(PureWeek, KeepsEverySafetyRule) {
  const WeekStats st = runPureWeek(GetParam());
  std::cout << "soak seed " << GetParam() << ": " << st.requests << " host updates sent, "
            << st.toMultidrop << " switches to multidrop, " << st.toDirect << " back to direct, "
            << formatDuration(st.direct) << " direct of 7d, " << st.violations.size()
            << " violations\n";
  for (const auto& v : st.violations) ADD_FAILURE() << v;
  EXPECT_TRUE(st.violations.empty());
  EXPECT_GE(st.toMultidrop, 3) << "outages and hijacks moved mail to multidrop";
  EXPECT_GE(st.toDirect, 3) << "mail came back to direct after each";
  EXPECT_EQ(st.hijacksCaught, 2) << "each hijack moved mail off direct";
  EXPECT_GT(st.direct, 24h * 3) << "a mostly healthy week is mostly direct";
}

INSTANTIATE_TEST_SUITE_P(Seeds, PureWeek, ::testing::Values(1u, 2u, 3u, 20261123u));

// The violation checks themselves: a world where mail stays direct through a hijack must
// be flagged (guards against a checker that can never fire).
TEST(PureWeekChecker, FlagsAProviderRuleBreak) {
  const auto tl = soak::Timeline::week(1, fromUnix(1'800'000'000));
  soak::ProviderChecker p(tl);
  const auto& outage = *std::find_if(tl.provider.begin(), tl.provider.end(), [](const auto& e) {
    return e.fault == soak::ProviderFault::Error911 || e.fault == soak::ProviderFault::DnsErr;
  });
  p.receive({outage.when.from, "office.example.test", "203.0.113.9", "fp", false});
  p.receive({outage.when.from + 29min, "office.example.test", "203.0.113.9", "fp", true});
  ASSERT_EQ(p.violations().size(), 1u);
  EXPECT_NE(p.violations()[0].find("within 30 min after 911/dnserr"), std::string::npos);
}

// ---- the real coordinator with fakes: fds and heap stay flat over weeks ----

struct WorldLink : coord::LinkSource {
  mail::LinkState state;
  mail::LinkState current() const override { return state; }
  std::string interfaceName() const override { return "wan0"; }
};

struct WorldDdns : coord::DdnsSource {
  mail::DdnsHealth h;
  int offline = 0;
  int passes = 0;
  mail::DdnsHealth health() const override { return h; }
  status::DdnsInfo info() const override {
    status::DdnsInfo i;
    i.health = mail::toString(h.state);
    i.code = h.code;
    i.text = h.text;
    i.since = h.since;
    i.publicAddress = "203.0.113.10";
    return i;
  }
  std::string address() const override { return "203.0.113.10"; }
  void setIntent(ddns::AddressIntent) override { ++offline; }
  void requestPass(bool) override { ++passes; }
};

struct InstantFetcher : coord::MailFetcher {
  boost::asio::io_context& io;
  status::FetchmailInfo i;
  explicit InstantFetcher(boost::asio::io_context& c) : io(c) {}
  void start() override { i.running = true; }
  void stop(std::function<void()> stopped) override {
    i.running = false;
    if (stopped) boost::asio::post(io, std::move(stopped));
  }
  void drain(std::function<void(bool, const std::string&)> done) override {
    i.running = false;
    ++i.polls;
    boost::asio::post(io, [done = std::move(done)] { done(true, "the ISP mailbox is empty"); });
  }
  const status::FetchmailInfo& info() const override { return i; }
};

std::size_t openFds() {
  std::size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

std::size_t heapInUse() {
#ifdef DYNMX_ASAN
  // Under ASan, glibc's arena is not the allocator: ask the sanitizer instead.
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

TEST(CoordinatorSoak, WeeksOfFlappingKeepFdsAndHeapFlat) {
  boost::asio::io_context io;
  TimePoint now = fromUnix(1'800'000'000);
  WorldLink link;
  WorldDdns ddnsFake;
  InstantFetcher fetcher(io);
  status::Report lastPersisted;
  int persists = 0;
  int hookRuns = 0;

  coord::Deps deps;
  deps.now = [&now] { return now; };
  deps.link = &link;
  deps.ddns = &ddnsFake;
  deps.fetcher = &fetcher;
  deps.installRc = [](const Policy&) -> Status<> { return Ok{}; };
  deps.runHooks = [&hookRuns](const std::vector<Hook>&, const hooks::SwitchContext&,
                              std::function<void(std::vector<status::HookRecord>)> done) {
    ++hookRuns;
    status::HookRecord r;
    r.argv0 = "/usr/local/bin/mail-mode-changed";
    r.ok = hookRuns % 3 != 0;
    if (!r.ok) r.error = "exit 1";
    done({r});
  };
  deps.persist = [&](const status::Report& r) {
    lastPersisted = r;
    ++persists;
  };
  deps.computeHealth = [](status::Report&) {};
  Policy policy = soakPolicy(0);
  policy.daemon.hooks = {Hook{{"/usr/local/bin/mail-mode-changed"}, 30s}};
  coord::Coordinator c(io, policy, std::move(deps));

  // One pure world per simulated week feeds the fakes; the coordinator only sees inputs.
  std::optional<TimePoint> multidropSince;
  int toDirect = 0;
  std::vector<std::string> violations;
  auto runWeek = [&](std::uint32_t seed) {
    const auto tl = soak::Timeline::week(seed, now);
    PureDaemon world(tl);
    for (; now < tl.end; now += kStep) {
      const mail::Decision dec = world.step(now);
      // The world's own decision keeps its inputs (health grace) honest.
      if (dec.mode != world.current.mode) world.current = {dec.mode, now};
      link.state = {LinkType::Dedicated, tl.linkUp(now), tl.linkSince(now)};
      ddnsFake.h = world.health;
      const auto before = c.mode();
      c.evaluate();
      io.poll();
      io.restart();
      const auto after = c.mode();
      if (before != after) {
        if (after == mail::MailMode::Direct) {
          ++toDirect;
          if (multidropSince && now - *multidropSince < policy.health.holdDown)
            violations.push_back(formatTime(now) + ": coordinator back to direct within the hold-down");
        } else {
          multidropSince = now;
        }
      }
      if (c.mode() == mail::MailMode::Direct && !tl.linkUp(now) &&
          now - tl.linkDownSince(now) >= policy.health.linkDownMax)
        violations.push_back(formatTime(now) + ": coordinator direct with the link down");
    }
  };

  link.state = {LinkType::Dedicated, true, now - 24h};
  ddnsFake.h = {mail::DdnsState::Unknown, now, "", ""};
  c.start(std::nullopt);
  io.poll();
  io.restart();
  multidropSince = now;

  // Warm up until the journal is full (bounded history), then measure.
  std::uint32_t seed = 100;
  for (int i = 0; i < 12 && c.report().switches.size() < coord::kJournalSize; ++i) runWeek(seed++);
  ASSERT_EQ(c.report().switches.size(), coord::kJournalSize) << "the warm-up filled the journal";
  const std::size_t fds0 = openFds();
  const std::size_t heap0 = heapInUse();
  const int switches0 = toDirect;
  for (int i = 0; i < 4; ++i) runWeek(seed++);
  const std::size_t fds1 = openFds();
  const std::size_t heap1 = heapInUse();

  std::cout << "coordinator soak: " << toDirect << " returns to direct; fds " << fds0 << " -> "
            << fds1 << ", heap " << heap0 << " -> " << heap1 << " bytes\n";
  for (const auto& v : violations) ADD_FAILURE() << v;
  EXPECT_GT(toDirect - switches0, 10) << "the measured weeks switched modes";
  EXPECT_GT(persists, 100);
  EXPECT_EQ(fds1, fds0) << "open file descriptors stay flat";
  // Bounded history and no leaks: allow allocator noise, not growth per switch.
  EXPECT_LT(heap1, heap0 + 64 * 1024) << "heap grew from " << heap0 << " to " << heap1;
  EXPECT_LE(lastPersisted.switches.size(), coord::kJournalSize);
  EXPECT_LE(lastPersisted.hooks.size(), coord::kJournalSize);
}

}  // namespace
