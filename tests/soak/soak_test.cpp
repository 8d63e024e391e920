// A simulated month through the REAL objects: a ddns::Engine and a coord::Coordinator on a
// real io_context, their own timers driven by ManualTime, with fakes only at the edges
// (HTTP to the provider, DNS at the authoritative servers, the interface, the link, the
// fetchmail processes under the real fetchmail::Supervisor). The world is a seeded timeline (address changes, 911/dnserr/
// timeout outages, badauth fixed hours later, hijacks, nameserver outages, link flaps and
// offline periods of hours). After every step the invariants are checked:
// - provider rules: no request inside a 911 back-off, none after badauth with the same
//   credentials, no re-sent confirmed address within 30 min, at most 12 per host an hour;
// - mail safety: never direct while DNS is wrong or the link is down beyond the allowed
//   window; a return to direct only right after a drain that saw the ISP box empty;
// - liveness: in an undisturbed world mail is direct within the hold-down plus a bound.
// Open descriptors and the heap are measured after a warm-up and at the end: flat.
#include <dirent.h>
#include <malloc.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include <csignal>

#include "dynmx/coordinator.hpp"
#include "dynmx/daemon_adapters.hpp"
#include "dynmx/ddns_engine.hpp"
#include "dynmx/fetchmail_supervisor.hpp"
#include "dynmx/time.hpp"
#include "dynmx/timer.hpp"
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
namespace asio = boost::asio;

namespace {

constexpr Duration kStep = 30s;
constexpr std::uint32_t kTtl = 300;
constexpr int kDays = 30;
const std::vector<std::string> kHosts = {"office.example.test", "mx.example.test"};
const std::vector<std::string> kNameservers = {"192.0.2.53", "198.51.100.53"};

DdnsSection ddnsSection(int configGeneration, bool offlineOnMultidrop) {
  DdnsSection d;
  d.detect.interface = "wan0";
  d.verify.servers = {{kNameservers[0], 53}, {kNameservers[1], 53}};
  DdnsAccount a;
  a.name = "main";
  a.provider = "dyn";
  a.username = "office";
  // The admin's fix for badauth is a new password file: new credentials.
  a.passwordFile = "/etc/dynmx/ddns-" + std::to_string(configGeneration) + ".secret";
  a.hosts = kHosts;
  a.offlineOnMultidrop = offlineOnMultidrop;
  d.accounts = {a};
  return d;
}

Policy soakPolicy(bool offlineOnMultidrop) {
  Policy p;
  p.sourceFile = "/etc/dynmx/dynmx.toml";
  // The soak counts the switches' drains and polls; the sweep has its own tests (coordinator,
  // the senders' world).
  p.fetchmail.sweepInterval = Duration{0};
  p.mail.mode = MailPolicy::Auto;
  p.mail.domains = {"example.test"};
  p.link.type = LinkType::Dedicated;
  p.health.ddnsFailingMax = 5min;
  p.health.linkDownMax = 2min;
  p.health.holdDown = 1h;
  p.isp.server = "pop.isp.example";
  p.envelope.header = "X-Original-To";
  p.users.postmaster = "postmaster";
  p.users.wildcard = true;
  p.ddns = ddnsSection(0, offlineOnMultidrop);
  return p;
}

/// The value of `key` in a URL's query ("" when absent).
std::string queryValue(const std::string& url, const std::string& key) {
  const auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::size_t pos = q + 1;
  while (pos < url.size()) {
    const auto amp = url.find('&', pos);
    const std::string kv = url.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return {};
}

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

/// The world every fake reads: the timeline at the current simulated time.
struct World {
  const soak::Timeline& tl;
  soak::ProviderChecker provider{tl};
  TimePoint now{};
  int httpRequests = 0;
  int dnsQueries = 0;
  explicit World(const soak::Timeline& t) : tl(t), now(t.start) {}
};

/// The provider over HTTP: each request reaches the checker (if the office is online).
struct WorldHttp : net::HttpClient {
  asio::io_context& io;
  World& w;
  WorldHttp(asio::io_context& i, World& world) : io(i), w(world) {}
  void request(net::HttpRequest req, net::HttpHandler done) override {
    ++w.httpRequests;
    net::HttpResponse r;
    if (!w.tl.linkUp(w.now)) {
      r.error = net::TransportError::Connect;
      r.errorText = "network is unreachable";
    } else {
      const bool offline = queryValue(req.url, "offline") == "YES";
      const std::string myip = queryValue(req.url, "myip");
      std::string body;
      bool timeout = false;
      for (const auto& host : splitComma(queryValue(req.url, "hostname"))) {
        const auto reply = w.provider.receive({w.now, host, myip, req.password, offline});
        if (reply.transport != ddns::TransportFailure::None) timeout = true;
        body += reply.body + "\n";
      }
      if (timeout) {
        r.error = net::TransportError::Timeout;
        r.errorText = "operation timed out";
      } else {
        r.status = 200;
        r.body = body;
      }
    }
    asio::post(io, [r, done = std::move(done)] { done(r); });
  }
};

/// The zone's authoritative servers: the provider's record, a hijacker's, or silence.
struct WorldDns : net::DnsResolver {
  asio::io_context& io;
  World& w;
  WorldDns(asio::io_context& i, World& world) : io(i), w(world) {}
  void query(net::DnsQuery q, net::DnsHandler done) override {
    ++w.dnsQueries;
    net::DnsResult r;
    if (!w.tl.linkUp(w.now) || !w.tl.nameserversAnswer(w.now)) {
      r.error = net::DnsError::Timeout;
      r.errorText = "timeout";
    } else if (q.type != net::RecordType::A) {
      r.error = net::DnsError::NoData;
      r.authoritative = true;
    } else {
      const std::string rec = w.tl.hijacked(w.now) ? soak::kHijackAddress : w.provider.record(q.name);
      r.authoritative = true;
      if (rec.empty()) {
        r.error = net::DnsError::NoData;
      } else {
        r.values = {rec};
        r.ttl = kTtl;
      }
    }
    asio::post(io, [r, done = std::move(done)] { done(r); });
  }
};

struct WorldLink : coord::LinkSource {
  mail::LinkState state{LinkType::Dedicated, true, {}};
  mail::LinkState current() const override { return state; }
  std::string interfaceName() const override { return "wan0"; }
};

/// fetchmail as processes: each run is one poll (dynmx runs `fetchmail -d 0` on its own
/// timer); it takes a simulated minute (a real Timer) and exits NOMAIL when the office is
/// online, SOCKET when not. The real Supervisor drives them.
struct WorldLauncher : ProcessLauncher {
  struct State {
    bool running = true;
    ChildCallbacks cb;
    std::unique_ptr<Timer> poll;
  };
  struct WorldChild : Child {
    asio::io_context& io;
    std::shared_ptr<State> st;
    int id;
    WorldChild(asio::io_context& i, std::shared_ptr<State> s, int p) : io(i), st(std::move(s)), id(p) {}
    ~WorldChild() override { st->running = false; }  // the handle's end kills it
    int pid() const override { return id; }
    bool running() const override { return st->running; }
    void signal(int sig) override {
      if (!st->running || (sig != SIGTERM && sig != SIGKILL)) return;
      st->running = false;
      asio::post(io, [s = st, sig] { s->cb.onExit(ChildExit{sig == SIGTERM ? 0 : -1, sig == SIGTERM ? 0 : sig, false}); });
    }
  };

  asio::io_context& io;
  World& w;
  int nextPid = 1000;
  int polls = 0;       ///< fetchmail runs started
  int mostAtOnce = 0;  ///< the most fetchmails running at one time (they share one lock)
  std::vector<std::weak_ptr<State>> states;
  std::optional<TimePoint> lastEmptyPoll;  ///< a poll that saw the box empty
  WorldLauncher(asio::io_context& c, World& world) : io(c), w(world) {}

  int runningNow() const {
    int n = 0;
    for (const auto& d : states)
      if (auto s = d.lock(); s && s->running) ++n;
    return n;
  }

  std::unique_ptr<Child> launch(const ProcessSpec& spec, ChildCallbacks cb, std::string&) override {
    EXPECT_NE(std::search(spec.argv.begin(), spec.argv.end(), std::begin(kOnePoll), std::end(kOnePoll)),
              spec.argv.end())
        << "fetchmail runs one poll at a time, never as its own daemon";
    auto st = std::make_shared<State>();
    st->cb = std::move(cb);
    ++polls;
    states.erase(std::remove_if(states.begin(), states.end(), [](const auto& d) { return d.expired(); }),
                 states.end());
    states.push_back(st);
    mostAtOnce = std::max(mostAtOnce, runningNow());
    st->poll = std::make_unique<Timer>(io, 1min);
    st->poll->async_wait([this, wst = std::weak_ptr<State>(st)](const boost::system::error_code& ec) {
      auto s = wst.lock();
      if (ec || !s || !s->running) return;
      s->running = false;
      const bool online = w.tl.linkUp(w.now);
      if (online) lastEmptyPoll = w.now;
      s->cb.onStdout(online ? "fetchmail: No mail for office at pop.isp.example" : "fetchmail: socket error");
      s->cb.onExit(ChildExit{online ? 1 : 2, 0, false});
    });
    return std::make_unique<WorldChild>(io, st, nextPid++);
  }
  static constexpr const char* kOnePoll[] = {"-d", "0"};
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

struct MonthStats {
  int toMultidrop = 0;
  int toDirect = 0;
  Duration direct{0};
  std::size_t requests = 0;
  int hijacksCaught = 0;
  std::size_t fds0 = 0, fds1 = 0, heap0 = 0, heap1 = 0;
  TimePoint measuredFrom{};  ///< when fds0/heap0 were taken
  int fetchmailPolls = 0;    ///< fetchmail runs (the loop's polls, sweeps and drains)
  int fetchmailAtOnce = 0;   ///< the most fetchmails running at one time
  std::vector<std::string> violations;
  std::map<std::string, int> replies;
};

/// One simulated month of the real engine and coordinator in the seeded world.
MonthStats runMonth(std::uint32_t seed, bool offlineOnMultidrop) {
  const TimePoint start = fromUnix(1'800'000'000);
  ManualTime time(start);
  spdlog::set_level((std::getenv("SOAK_LOG_INFO") ? spdlog::level::info : spdlog::level::warn));  // a month of info lines says nothing the stats do not
  const auto tl = soak::Timeline::generate(seed, start, kDays);
  World w(tl);
  asio::io_context io;
  WorldHttp http(io, w);
  WorldDns dns(io, w);
  WorldLink link;
  WorldLauncher launcher(io, w);
  fetchmail::SupervisorConfig sc;
  sc.binary = "/usr/bin/fetchmail";
  sc.rcPath = "/var/lib/dynmx/fetchmailrc";
  sc.home = "/var/lib/dynmx/fetchmail";
  fetchmail::Supervisor supervisor(io, launcher, sc, {});
  coord::SupervisorFetcher fetcher(supervisor);
  MonthStats st;

  const std::string dir = std::filesystem::temp_directory_path() / ("dynmx-soak-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Policy policy = soakPolicy(offlineOnMultidrop);

  ddns::EngineDeps ed;
  ed.http = &http;
  ed.dns = &dns;
  ed.now = steadyNow;  // as `dynmx run` wires it
  ed.readSecret = [](const std::string& file) { return SecretRead{"secret of " + file, ""}; };
  ed.readInterface = [&w](const std::string& name) {
    net::InterfaceInfo i;
    i.name = name;
    i.exists = true;
    i.up = w.tl.linkUp(w.now);
    if (i.up) i.ipv4 = {w.tl.addressAt(w.now)};
    return i;
  };
  ddns::Engine engine(io, policy.ddns, dir + "/" + ddns::kStateFileName, ed);

  coord::Deps deps;
  deps.now = steadyNow;
  deps.link = &link;
  deps.ddns = &engine;
  deps.fetcher = &fetcher;
  deps.installRc = [](const Policy&) -> Status<> { return Ok{}; };
  int persists = 0;
  deps.persist = [&persists](const status::Report&) { ++persists; };
  coord::Coordinator coordinator(io, policy, deps);

  auto settle = [&] {
    io.restart();
    io.poll();
  };

  link.state = {LinkType::Dedicated, tl.linkUp(start), start - 24h};
  coordinator.start(std::nullopt);
  engine.start([&coordinator](const ddns::PassReport&) { coordinator.evaluate(); });
  settle();

  // Slack the decision cannot beat: a verification runs every verify.interval, the TTL
  // grace after our own update, the failing grace itself, and one step.
  const Duration dnsSlack = policy.ddns.verify.interval + Duration{kTtl} + policy.health.ddnsFailingMax + 2 * kStep;
  // Liveness bound after the hold-down: a 911 back-off may still run out (30 min), then a
  // check (5 min), a verification (5 min), the TTL grace and a drain (3 min).
  const Duration livenessBound = 30min + 5min + 5min + Duration{kTtl} + 3min + 2 * kStep;
  std::optional<TimePoint> unsafeSince;
  mail::MailMode mode = coordinator.mode();
  std::vector<bool> hijackCaught(tl.hijacks.size(), false);
  int generation = 0;
  bool linkWasUp = link.state.up;
  std::optional<TimePoint> livenessReported;
  bool measured = false;

  for (TimePoint now = start; now < tl.end;) {
    time.advance(kStep);
    now += kStep;
    w.now = now;
    if (steadyNow() != now) {
      ADD_FAILURE() << "the manual clock and the world disagree";
      break;
    }
    // Measure once the bounded histories are full (the switch journal fills last).
    if (!measured && static_cast<std::size_t>(st.toMultidrop + st.toDirect) > coord::kJournalSize) {
      measured = true;
      st.fds0 = openFds();
      st.heap0 = heapInUse();
      st.measuredFrom = now;
    }
    // Events the daemon would see: the link monitor, the admin's config fix.
    const bool up = tl.linkUp(now);
    if (up != linkWasUp) {
      link.state = {LinkType::Dedicated, up, now};
      linkWasUp = up;
      coordinator.evaluate();
      if (up) engine.requestPass(false);
    }
    if (tl.configGeneration(now) != generation) {
      generation = tl.configGeneration(now);
      engine.reconfigure(ddnsSection(generation, offlineOnMultidrop));
    }
    settle();

    // Mode changes, and the drain that must come right before a return to direct.
    const auto m = coordinator.mode();
    const std::string at = formatTime(now);
    if (m != mode) {
      if (m == mail::MailMode::Direct) {
        ++st.toDirect;
        if (!launcher.lastEmptyPoll || now - *launcher.lastEmptyPoll > kStep)
          st.violations.push_back(at + ": back to direct without a drain that saw the ISP box empty");
      } else {
        ++st.toMultidrop;
      }
      mode = m;
    }

    // Truth, independent of the engine's own view.
    bool dnsWrong = tl.hijacked(now) || !tl.nameserversAnswer(now);
    for (const auto& h : kHosts) dnsWrong = dnsWrong || w.provider.record(h) != tl.addressAt(now);
    if (dnsWrong) {
      if (!unsafeSince) unsafeSince = now;
    } else {
      unsafeSince.reset();
    }
    if (mode == mail::MailMode::Direct) {
      st.direct += kStep;
      if (supervisor.info().wanted)
        st.violations.push_back(at + ": direct while fetchmail's poll loop still runs");
      if (!up && now - tl.linkDownSince(now) >= policy.health.linkDownMax + kStep)
        st.violations.push_back(at + ": direct with the link down since " + formatTime(tl.linkDownSince(now)));
      if (unsafeSince && now - *unsafeSince >= dnsSlack)
        st.violations.push_back(at + ": direct while DNS has been wrong since " + formatTime(*unsafeSince));
    } else {
      for (std::size_t i = 0; i < tl.hijacks.size(); ++i)
        if (tl.hijacks[i].covers(now)) hijackCaught[i] = true;
    }
    // Liveness: an undisturbed world gets mail back to direct (reported once per stretch).
    const TimePoint quietSince = tl.lastDisturbance(now);
    if (tl.environmentHealthy(now) && mode != mail::MailMode::Direct &&
        now - quietSince >= policy.health.holdDown + livenessBound && livenessReported != quietSince) {
      livenessReported = quietSince;
      st.violations.push_back(at + ": still " + std::string(mail::toString(mode)) + " although the world is healthy since " +
                              formatTime(quietSince) + " (ddns: " + engine.health().code + " " +
                              engine.health().text + ")");
    }
  }
  st.fds1 = openFds();
  st.heap1 = heapInUse();
  engine.stop();
  settle();
  for (const auto& v : w.provider.violations()) st.violations.push_back("provider: " + v);
  st.requests = w.provider.requestCount();
  st.hijacksCaught = static_cast<int>(std::count(hijackCaught.begin(), hijackCaught.end(), true));
  for (const char* word : {"good", "nochg", "911", "dnserr", "badauth", "timeout", "offline"})
    st.replies[word] = w.provider.replies(word);
  st.fetchmailPolls = launcher.polls;
  st.fetchmailAtOnce = launcher.mostAtOnce;
  if (launcher.mostAtOnce > 1) st.violations.push_back("two fetchmails ran at once");
  EXPECT_GT(persists, 100);
  std::filesystem::remove_all(dir);
  return st;
}

void expectHealthyMonth(const MonthStats& st, std::uint32_t seed, std::size_t lateReturnsAllowed = 0) {
  std::cout << "soak seed " << seed << " (" << kDays << " days, real engine + coordinator): " << st.requests
            << " host updates sent (good " << st.replies.at("good") << ", nochg " << st.replies.at("nochg")
            << ", 911 " << st.replies.at("911") << ", dnserr " << st.replies.at("dnserr") << ", badauth "
            << st.replies.at("badauth") << ", timeout " << st.replies.at("timeout") << ", offline "
            << st.replies.at("offline") << "), " << st.toMultidrop << " switches to multidrop, " << st.toDirect
            << " back to direct, " << formatDuration(st.direct) << " direct, " << st.fetchmailPolls
            << " fetchmail polls (at most " << st.fetchmailAtOnce << " at once), " << st.violations.size()
            << " violations; from " << formatTime(st.measuredFrom) << " to the end: fds " << st.fds0 << " -> "
            << st.fds1 << ", heap " << st.heap0 << " -> " << st.heap1 << " bytes\n";
  // Safety and provider rules: never. Liveness (a late return to direct): only where a
  // caller pins a measured, known defect, and every late return is still printed.
  std::size_t late = 0;
  for (const auto& v : st.violations) {
    const bool liveness = v.find("although the world is healthy") != std::string::npos;
    if (liveness && late < lateReturnsAllowed) {
      ++late;
      std::cout << "known late return (pinned): " << v << '\n';
      continue;
    }
    ADD_FAILURE() << v;
  }
  // The month must have exercised what it claims to (so this test can fail).
  EXPECT_GE(st.replies.at("good"), 60) << "address changes reached the provider";
  EXPECT_GE(st.replies.at("911") + st.replies.at("dnserr"), 1) << "an outage met a request";
  EXPECT_GE(st.replies.at("badauth"), 1) << "a badauth episode met a request";
  EXPECT_GE(st.toMultidrop, 10) << "outages, hijacks and offline periods moved mail to multidrop";
  EXPECT_GE(st.toDirect, 10) << "mail came back to direct after each";
  EXPECT_GE(st.hijacksCaught, 6) << "hijacks moved mail off direct";
  EXPECT_GT(st.direct, 24h * 15) << "a mostly healthy month is mostly direct";
  ASSERT_GT(st.fds0, 0u) << "the switch journal never filled: nothing was measured";
  EXPECT_EQ(st.fds1, st.fds0) << "open file descriptors stay flat";
  // Bounded histories and no leaks: allow allocator noise, not growth per pass or switch.
  EXPECT_LT(st.heap1, st.heap0 + 64 * 1024) << "heap grew from " << st.heap0 << " to " << st.heap1;
}

class Month : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(Month, RealEngineAndCoordinatorKeepEveryRule) {
  const MonthStats st = runMonth(GetParam(), false);
  expectHealthyMonth(st, GetParam());
}

// One seed here and another in MonthOfflineOnMultidrop: about 40 CPU-seconds a month under
// ASan, so the two fit the CI budget of ~2 minutes on 2 cores.
INSTANTIATE_TEST_SUITE_P(Seeds, Month, ::testing::Values(1u));

// offline_on_multidrop: the hosts are marked offline while mail is on multidrop. The
// offline=YES deadlock (mail never came back after a way back was abandoned with a failed
// plain update, or after a lifted badauth ban while the host was parked) is fixed, and so are
// the late returns this month used to pin (3 of ~80): a plain update that failed while the
// host was parked offline, its back-off long over, was judged a fresh DDNS failure the moment
// the way back set the intent to publish, so the way back aborted itself at once, every hour,
// for up to 8 hours. Now the month keeps every rule and every return is within the bound.
TEST(MonthOfflineOnMultidrop, KeepsEveryRuleAndComesBackAfterTheDeadlockFix) {
  const MonthStats st = runMonth(20261123u, true);
  expectHealthyMonth(st, 20261123u);
  EXPECT_GE(st.replies.at("offline"), 1) << "offline=YES was sent on multidrop";
}

// The checker itself: a request inside a 911 back-off must be flagged (guards against a
// checker that can never fire).
TEST(MonthChecker, FlagsAProviderRuleBreak) {
  const auto tl = soak::Timeline::generate(1, fromUnix(1'800'000'000), 7);
  soak::ProviderChecker p(tl);
  const auto& outage = *std::find_if(tl.provider.begin(), tl.provider.end(), [](const auto& e) {
    return e.fault == soak::ProviderFault::Error911 || e.fault == soak::ProviderFault::DnsErr;
  });
  p.receive({outage.when.from, "office.example.test", "203.0.113.9", "fp", false});
  p.receive({outage.when.from + 29min, "office.example.test", "203.0.113.9", "fp", false});
  ASSERT_EQ(p.violations().size(), 1u);
  EXPECT_NE(p.violations()[0].find("within 30 min after 911/dnserr"), std::string::npos);
}

TEST(MonthChecker, FlagsARequestFloodAndASameCredentialsRetryAfterBadauth) {
  const auto tl = soak::Timeline::generate(1, fromUnix(1'800'000'000), 7);
  soak::ProviderChecker p(tl);
  const auto& bad = *std::find_if(tl.provider.begin(), tl.provider.end(),
                                  [](const auto& e) { return e.fault == soak::ProviderFault::BadAuth; });
  p.receive({bad.when.from, "office.example.test", "203.0.113.9", "fp", false});
  p.receive({bad.when.from + 1min, "office.example.test", "203.0.113.9", "fp", false});
  ASSERT_EQ(p.violations().size(), 1u);
  EXPECT_NE(p.violations()[0].find("after badauth"), std::string::npos);
  for (int i = 0; i <= soak::kMaxRequestsPerHostPerHour; ++i)
    p.receive({bad.when.from + 2min + std::chrono::minutes(i), "mx.example.test",
               "203.0.113." + std::to_string(10 + i), "fp" + std::to_string(i), false});
  EXPECT_NE(p.violations().back().find("requests within an hour"), std::string::npos);
}

}  // namespace
