// The coordinator with every effect faked: a fake clock, link, DDNS engine and fetcher.
// The real maildecision makes the decisions. Time is ManualTime: the test only moves the
// clock and polls the io_context; the coordinator's own review and retry timers do the
// rest (the test calls evaluate() only where the engine or the link would: an event).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "dynmx/coordinator.hpp"
#include "dynmx/time.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

namespace {

struct FakeLink : coord::LinkSource {
  mail::LinkState state{LinkType::Dedicated, true, fromUnix(0)};
  mail::LinkState current() const override { return state; }
  std::string interfaceName() const override { return "wan0"; }
};

struct FakeDdns : coord::DdnsSource {
  mail::DdnsHealth h{mail::DdnsState::Healthy, fromUnix(0), "", ""};
  std::vector<ddns::AddressIntent> intents;
  status::DdnsInfo i;  ///< hosts empty by default: nothing to publish or withdraw
  int passes = 0;
  mail::DdnsHealth health() const override { return h; }
  status::DdnsInfo info() const override { return i; }
  std::string address() const override { return "203.0.113.7"; }
  void setIntent(ddns::AddressIntent intent) override {
    intents.push_back(intent);
    i.intent = ddns::toString(intent);
    i.intentMet = false;  // the engine has yet to carry it out and verify it
  }
  void requestPass(bool) override { ++passes; }
};

// The MX lever: records each intent; the test says when the set is verified.
struct FakeMx : coord::MxSource {
  std::vector<std::vector<coord::MxIntent>> intents;
  std::vector<status::MxInfo> f;
  void setIntent(std::vector<coord::MxIntent> in) override {
    intents.push_back(in);
    f.clear();
    for (const auto& m : in) {
      status::MxInfo i;
      i.domain = m.domain;
      i.lever = "rfc2136";
      i.wanted = m.mode;
      for (const auto& r : m.records) i.records.push_back(toString(r));
      i.state = "publishing";
      f.push_back(i);
    }
  }
  std::vector<status::MxInfo> facts() const override { return f; }
  std::string lastMode() const { return intents.empty() ? "" : intents.back().front().mode; }
  void verify(TimePoint at) {
    for (auto& i : f) {
      i.state = "verified";
      i.verified = true;
      i.publishedAt = at;
      i.verifiedAt = at;
    }
  }
};

struct FakeFetcher : coord::MailFetcher {
  status::FetchmailInfo i;
  int starts = 0;
  int drains = 0;
  std::function<void(bool, const std::string&)> pendingDrain;
  void start() override {
    ++starts;
    // As the real supervisor: a poll in progress holds the mailbox's lock, the daemon
    // cannot start beside it.
    if (!pendingDrain) i.running = true;
  }
  void stop(std::function<void()> stopped) override {
    i.running = false;
    if (stopped) stopped();
  }
  void drain(std::function<void(bool, const std::string&)> done) override {
    ++drains;
    i.running = false;
    pendingDrain = std::move(done);
  }
  const status::FetchmailInfo& info() const override { return i; }
  void finishDrain(bool ok) {
    auto d = std::move(pendingDrain);
    pendingDrain = nullptr;
    d(ok, ok ? "the ISP mailbox is empty" : "the ISP mailbox was not seen empty after 10 polls");
  }
};

Policy autoPolicy() {
  Policy p;
  p.sourceFile = "/etc/dynmx/dynmx.toml";
  p.fetchmail.sweepInterval = Duration{0};  // the Sweep tests below turn it on
  p.mail.mode = MailPolicy::Auto;
  p.mail.domains = {"example.com"};
  p.link.type = LinkType::Dedicated;
  p.health.ddnsFailingMax = 5min;
  p.health.linkDownMax = 2min;
  p.health.holdDown = 1h;
  p.isp.server = "pop.isp.example";
  p.envelope.header = "X-Original-To";
  p.users.postmaster = "postmaster";
  p.users.wildcard = true;
  DdnsAccount a;
  a.name = "main";
  a.provider = "dyn";
  a.hosts = {"office.example.com"};
  a.offlineOnMultidrop = true;
  p.ddns.accounts = {a};
  p.daemon.hooks = {Hook{{"/usr/local/bin/mail-mode-changed"}, 30s}};
  return p;
}

struct Fixture : ::testing::Test {
  boost::asio::io_context io;
  ManualTime time{fromUnix(1'800'000'000)};
  FakeLink link;
  FakeDdns ddns;
  FakeFetcher fetcher;
  int rcInstalls = 0;
  bool rcFails = false;
  std::vector<hooks::SwitchContext> hookRuns;
  std::vector<status::Report> persisted;
  FakeMx mx;
  bool withMx = false;
  std::unique_ptr<coord::Coordinator> c;

  /// Now on the coordinator's timeline (what the daemon wires: steadyNow).
  static TimePoint now() { return steadyNow(); }

  void make(Policy p = autoPolicy(), std::function<TimePoint()> clock = steadyNow) {
    coord::Deps deps;
    if (withMx) deps.mx = &mx;
    deps.now = std::move(clock);
    deps.link = &link;
    deps.ddns = &ddns;
    deps.fetcher = &fetcher;
    deps.installRc = [this](const Policy&) -> Status<> {
      ++rcInstalls;
      if (rcFails) return fail(std::string("fetchmail --configdump: exit 5"));
      return Ok{};
    };
    deps.runHooks = [this](const std::vector<Hook>&, const hooks::SwitchContext& ctx,
                           std::function<void(std::vector<status::HookRecord>)> done) {
      hookRuns.push_back(ctx);
      status::HookRecord r;
      r.argv0 = "/usr/local/bin/mail-mode-changed";
      r.ok = false;  // a failing hook must never block the switch
      r.error = "exit 1";
      done({r});
    };
    deps.persist = [this](const status::Report& r) { persisted.push_back(r); };
    c = std::make_unique<coord::Coordinator>(io, std::move(p), std::move(deps));
  }
  /// Run whatever is ready on the loop (timers that are due on the manual clock).
  void settle() {
    io.restart();
    io.poll();
  }
  /// Time passes: only the coordinator's own timers act on it.
  void advance(std::chrono::nanoseconds d) {
    time.advance(d);
    settle();
  }
  /// The engine finished a pass or the link monitor saw a change: the daemon's event.
  void inputsChanged() {
    c->evaluate();
    settle();
  }
};

}  // namespace

TEST_F(Fixture, FreshStartIsMultidropUntilHoldDownThenDrainsBackToDirect) {
  ddns.h = {mail::DdnsState::Healthy, now(), "", ""};
  link.state.since = now() - 24h;
  make();
  c->start(std::nullopt);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.starts, 1);
  EXPECT_EQ(rcInstalls, 1);
  advance(60min - 1s);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.drains, 0) << "the review timer must not fire inside the hold-down";
  advance(2s);
  ASSERT_EQ(fetcher.drains, 1) << "hold-down over: the review timer drains the ISP box before returning";
  EXPECT_TRUE(c->switching());
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop) << "not direct before the drain finished";
  fetcher.finishDrain(true);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_FALSE(c->switching());
  auto r = c->report();
  ASSERT_EQ(r.switches.size(), 1u);
  EXPECT_EQ(r.switches[0].from, "multidrop");
  EXPECT_EQ(r.switches[0].to, "direct");
  ASSERT_EQ(hookRuns.size(), 1u);
  EXPECT_EQ(hookRuns[0].mode, "direct");
  EXPECT_EQ(hookRuns[0].previousMode, "multidrop");
  EXPECT_EQ(hookRuns[0].address, "203.0.113.7");
  EXPECT_EQ(ddns.intents, (std::vector<ddns::AddressIntent>{ddns::AddressIntent::Withdraw,
                                                             ddns::AddressIntent::Publish}));
}

TEST_F(Fixture, FailureOutlastingItsThresholdLeavesDirectAtOnceEvenIfHooksFail) {
  make();
  status::Report saved;
  saved.mode.current = "direct";
  saved.mode.since = now() - 48h;
  c->start(saved);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(fetcher.starts, 0);
  ddns.h = {mail::DdnsState::Failing, now(), "ddns.mismatch", "office.example.com resolves to 198.51.100.9"};
  inputsChanged();  // the engine's pass reports the mismatch, once
  advance(5min - 1s);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct) << "within the grace period";
  advance(2s);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop) << "the review timer ends the grace without a new event";
  EXPECT_EQ(fetcher.starts, 1);
  EXPECT_EQ(ddns.intents, (std::vector<ddns::AddressIntent>{ddns::AddressIntent::Publish,
                                                             ddns::AddressIntent::Withdraw}));
  ASSERT_EQ(hookRuns.size(), 1u);
  EXPECT_EQ(hookRuns[0].mode, "multidrop");
  EXPECT_NE(hookRuns[0].reason.find("ddns"), std::string::npos) << hookRuns[0].reason;
  auto r = c->report();
  ASSERT_EQ(r.hooks.size(), 1u);
  EXPECT_FALSE(r.hooks[0].ok);
  EXPECT_EQ(r.mode.current, "multidrop");
}

TEST_F(Fixture, FailedDrainKeepsMultidropAndFetching) {
  ddns.h = {mail::DdnsState::Healthy, now() - 2h, "", ""};
  link.state.since = now() - 24h;
  make();
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 2h;
  c->start(saved);
  ASSERT_EQ(fetcher.drains, 1);
  fetcher.finishDrain(false);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.starts, 2) << "fetchmail restarted after the failed drain";
  EXPECT_EQ(fetcher.drains, 1) << "a failed drain is not retried at once (no busy loop)";
  advance(coord::kRetryAfterFailure - 1s);
  EXPECT_EQ(fetcher.drains, 1);
  advance(1s);
  EXPECT_EQ(fetcher.drains, 2) << "the retry timer tries again after kRetryAfterFailure";
  auto r = c->report();
  bool sawDrainReason = false;
  for (const auto& reason : r.mode.reasons) sawDrainReason |= reason.code == "drain.failed";
  EXPECT_TRUE(sawDrainReason);
  EXPECT_TRUE(r.switches.empty());
}

TEST_F(Fixture, FailureDuringDrainCancelsTheReturn) {
  ddns.h = {mail::DdnsState::Healthy, now() - 2h, "", ""};
  link.state.since = now() - 24h;
  make();
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 2h;
  c->start(saved);
  ASSERT_EQ(fetcher.drains, 1);
  EXPECT_EQ(fetcher.starts, 1);
  link.state = {LinkType::Dedicated, false, now()};  // the link drops while we drain
  fetcher.finishDrain(true);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_FALSE(c->switching());
  EXPECT_EQ(fetcher.starts, 2) << "fetchmail runs again after the cancelled return";
  EXPECT_TRUE(fetcher.i.running);
  EXPECT_TRUE(c->report().switches.empty()) << "no switch was journaled";
}

TEST_F(Fixture, RcInstallFailureStillKeepsMailOffDirect) {
  rcFails = true;
  make();
  status::Report saved;
  saved.mode.current = "direct";
  saved.mode.since = now() - 48h;
  c->start(saved);
  link.state = {LinkType::Dedicated, false, now()};
  inputsChanged();  // the link monitor's event
  advance(2min + 1s);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.starts, 0);
  EXPECT_EQ(rcInstalls, 1);
  auto r = c->report();
  bool sawRc = false;
  for (const auto& reason : r.mode.reasons) sawRc |= reason.code == "fetchmail.rc_failed";
  EXPECT_TRUE(sawRc);
  // The retry timer installs again after kRetryAfterFailure, and fetchmail starts once it works.
  advance(coord::kRetryAfterFailure - 1s);
  EXPECT_EQ(rcInstalls, 1);
  rcFails = false;
  advance(1s);
  EXPECT_EQ(rcInstalls, 2);
  EXPECT_EQ(fetcher.starts, 1);
}

TEST_F(Fixture, RestartResumesPersistedModeWithoutFlapping) {
  make();
  status::Report saved;
  saved.mode.current = "direct";
  saved.mode.since = now() - 10h;
  saved.switches.push_back({now() - 10h, "multidrop", "direct", {"auto.healthy"}, ""});
  ddns.h = {mail::DdnsState::Unknown, now(), "", ""};  // nothing checked yet after the restart
  c->start(saved);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(fetcher.starts, 0);
  EXPECT_EQ(c->report().switches.size(), 1u);
  ddns.h = {mail::DdnsState::Healthy, now(), "", ""};
  inputsChanged();
  advance(1min);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(c->report().switches.size(), 1u);
}

TEST_F(Fixture, InvalidReloadKeepsRunningPolicyAndReportsErrors) {
  make();
  c->start(std::nullopt);
  PolicyLoad bad;
  bad.diagnostics.push_back({"/etc/dynmx/dynmx.toml", 3, 8, Severity::Error, "unknown mail mode 'sometimes'"});
  c->reload(bad);
  EXPECT_EQ(c->policy().mail.mode, MailPolicy::Auto);
  auto r = c->report();
  ASSERT_EQ(r.daemon.policyErrors.size(), 1u);
  EXPECT_EQ(r.daemon.policyErrors[0], "/etc/dynmx/dynmx.toml:3:8: error: unknown mail mode 'sometimes'");
  PolicyLoad good;
  good.policy = autoPolicy();
  good.policy->mail.mode = MailPolicy::Multidrop;
  c->reload(good);
  EXPECT_EQ(c->policy().mail.mode, MailPolicy::Multidrop);
  EXPECT_TRUE(c->report().daemon.policyErrors.empty());
}

TEST_F(Fixture, ExplicitMultidropNeverDrains) {
  Policy p = autoPolicy();
  p.mail.mode = MailPolicy::Multidrop;
  ddns.h = {mail::DdnsState::Healthy, now() - 48h, "", ""};
  make(p);
  c->start(std::nullopt);
  advance(72h);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.drains, 0);
}

TEST_F(Fixture, DirectPolicyWithoutIspStartsDirectAndNeverFetches) {
  Policy p = autoPolicy();
  p.mail.mode = MailPolicy::Direct;
  p.isp = {};
  make(p);
  c->start(std::nullopt);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(rcInstalls, 0);
  EXPECT_EQ(fetcher.starts, 0);
  EXPECT_EQ(fetcher.drains, 0);
  advance(1h);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(fetcher.drains, 0);
  EXPECT_TRUE(c->report().switches.empty());
}

TEST_F(Fixture, DirectPolicyResumingFromMultidropWithoutIspSwitchesWithoutDraining) {
  Policy p = autoPolicy();
  p.mail.mode = MailPolicy::Direct;
  p.isp = {};
  make(p);
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 2h;
  c->start(saved);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(fetcher.drains, 0) << "no ISP mailbox: nothing to drain";
  ASSERT_EQ(c->report().switches.size(), 1u);
}

// Item 2: a stepped wall clock (NTP, an admin) changes no window. The daemon wires
// steadyNow; the same test with the wall clock wired in fails (the control below).
TEST_F(Fixture, WallClockStepsNeitherSkipNorStretchTheHoldDown) {
  ddns.h = {mail::DdnsState::Healthy, now(), "", ""};
  link.state.since = now() - 24h;
  make();
  c->start(std::nullopt);
  time.stepWall(3h);  // forward: a wall-clock hold-down would be over at once
  inputsChanged();    // and the next DDNS pass would see it
  advance(30min);
  EXPECT_EQ(fetcher.drains, 0) << "a forward step skipped the hold-down";
  time.stepWall(-7h);  // back: a wall-clock hold-down would last 4 more hours
  inputsChanged();
  advance(30min - 1s);
  EXPECT_EQ(fetcher.drains, 0);
  advance(2s);
  EXPECT_EQ(fetcher.drains, 1) << "a backward step stretched the hold-down";
}

TEST_F(Fixture, WallClockStepsDoNotShortenTheRetryAfterAFailedDrain) {
  ddns.h = {mail::DdnsState::Healthy, now() - 2h, "", ""};
  link.state.since = now() - 24h;
  make();
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 2h;
  c->start(saved);
  ASSERT_EQ(fetcher.drains, 1);
  fetcher.finishDrain(false);
  time.stepWall(2h);
  inputsChanged();
  advance(coord::kRetryAfterFailure - 1s);
  EXPECT_EQ(fetcher.drains, 1) << "a forward step shortened the retry window";
  advance(1s);
  EXPECT_EQ(fetcher.drains, 2);
}

// The control: wired to the wall clock (as before the Clock seam) the same steps skip the
// hold-down, so the test above can fail.
TEST_F(Fixture, WallClockWiringWouldSkipTheHoldDown) {
  ddns.h = {mail::DdnsState::Healthy, wallNow(), "", ""};
  link.state.since = wallNow() - 24h;
  make(autoPolicy(), wallNow);
  c->start(std::nullopt);
  time.stepWall(3h);
  inputsChanged();
  EXPECT_EQ(fetcher.drains, 1) << "the wall-clock wiring is the bug this guards against";
}

// Issue 12 item 6: with the asynchronous rc install (the daemon's), the coordinator does
// not wait for `fetchmail --configdump`: it returns at once, fetchmail starts only once the
// rc passed, and repeated evaluations while the check runs start no second one.
TEST_F(Fixture, RcInstallRunsOffTheLoopAndFetchmailStartsWhenItPassed) {
  ddns.h = {mail::DdnsState::Healthy, now(), "", ""};
  link.state.since = now() - 24h;
  make();
  std::vector<std::function<void(Status<>)>> pending;
  // Replace the synchronous install with an asynchronous one that completes when told.
  coord::Deps deps;
  deps.now = steadyNow;
  deps.link = &link;
  deps.ddns = &ddns;
  deps.fetcher = &fetcher;
  deps.installRc = [this](const Policy&) -> Status<> {
    ++rcInstalls;
    return Ok{};
  };
  deps.installRcAsync = [&pending](const Policy&, std::function<void(Status<>)> done) {
    pending.push_back(std::move(done));
  };
  deps.runHooks = [](const std::vector<Hook>&, const hooks::SwitchContext&,
                     std::function<void(std::vector<status::HookRecord>)> done) { done({}); };
  deps.persist = [](const status::Report&) {};
  c = std::make_unique<coord::Coordinator>(io, autoPolicy(), std::move(deps));
  c->start(std::nullopt);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(rcInstalls, 0) << "the blocking install is not used";
  EXPECT_EQ(fetcher.starts, 0) << "fetchmail waits for the rc check";
  advance(1min);
  advance(1min);
  EXPECT_EQ(pending.size(), 1u) << "no second check while one runs";
  auto done = std::move(pending.front());
  pending.clear();
  done(Ok{});
  EXPECT_EQ(fetcher.starts, 1);
}

// ---------------------------------------------------------------------------------------
// MX steering: the coordinator's intent per mode, and the way back to direct step by step.

namespace {

Policy steeredPolicy(MxLever lever = MxLever::Rfc2136) {
  Policy p = autoPolicy();
  MxDomain m;
  m.domain = "example.com";
  m.zone = "example.com";
  m.direct = {{10, "office.example.com"}, {20, "mx.isp.example"}};
  m.multidrop = {{10, "mx.isp.example"}};
  m.ttl = 10min;
  m.lever = lever;
  if (lever == MxLever::Rfc2136) m.keyFile = "/etc/dynmx/example.com.key";
  p.mx = {m};
  return p;
}

std::vector<std::string> stepNames(const status::Report& r) {
  std::vector<std::string> out;
  for (const auto& s : r.steps) out.push_back(s.step);
  return out;
}

struct Steering : Fixture {
  /// Time passes, then the engine's next pass reports (it verifies the zone periodically):
  /// the steering steps wait on the engine's and the lever's facts, which arrive as events.
  void advance(std::chrono::nanoseconds d) {
    Fixture::advance(d);
    inputsChanged();
  }
  void SetUp() override {
    withMx = true;
    status::DdnsHostInfo h;
    h.host = "office.example.com";
    h.account = "main";
    ddns.i.hosts = {h};
  }
  // Direct for two days, then DDNS fails for five minutes: multidrop.
  void startDirectThenFail(Policy p = steeredPolicy()) {
    make(p);
    status::Report saved;
    saved.mode.current = "direct";
    saved.mode.since = now() - 48h;
    link.state.since = now() - 48h;
    c->start(saved);
    ddns.h = {mail::DdnsState::Failing, now(), "ddns.mismatch", "office.example.com resolves to 198.51.100.9"};
    advance(5min);
    ASSERT_EQ(c->mode(), mail::MailMode::Multidrop);
  }
  // DDNS healthy again for the hold-down: the way back begins.
  void healAndHoldDown() {
    ddns.h = {mail::DdnsState::Healthy, now(), "", ""};
    advance(1h);
  }
};

TEST_F(Steering, MultidropPublishesTheMultidropSetAndReportsExposureUntilVerified) {
  startDirectThenFail();
  ASSERT_EQ(mx.intents.size(), 2u);
  EXPECT_EQ(mx.intents[0].front().mode, "direct");
  EXPECT_EQ(mx.intents[1].front().mode, "multidrop");
  EXPECT_EQ(mx.intents[1].front().records, (std::vector<MxRecord>{{10, "mx.isp.example"}}));
  EXPECT_EQ(ddns.intents.back(), ddns::AddressIntent::Withdraw);

  auto r = c->report();
  EXPECT_TRUE(r.exposure.exposed);
  EXPECT_EQ(r.exposure.text,
            "exposed: senders still use office.example.com (MX of example.com), which may no longer "
            "point here (the withdrawal of example.com's direct MX is not verified)");
  EXPECT_FALSE(r.mode.multidropActive) << "fetchmail runs, but the MX withdrawal is not verified";
  EXPECT_TRUE(r.fetchmail.running);

  const TimePoint publishedAt = now();
  mx.verify(publishedAt);
  c->evaluate();
  r = c->report();
  EXPECT_FALSE(r.exposure.exposed);
  EXPECT_TRUE(r.mode.multidropActive);
  ASSERT_TRUE(r.exposure.directMxUntil);
  EXPECT_EQ(*r.exposure.directMxUntil, publishedAt + 10min) << "the direct set's TTL";
  advance(10min);
  EXPECT_FALSE(c->report().exposure.directMxUntil) << "senders' caches of the direct set expired";
}

TEST_F(Steering, WayBackPublishesAddressThenMxThenWaitsTheOldTtlThenDrains) {
  startDirectThenFail();
  mx.verify(now());
  healAndHoldDown();
  auto r = c->report();
  EXPECT_EQ(r.mode.step, "publish-address");
  EXPECT_EQ(ddns.intents.back(), ddns::AddressIntent::Publish);
  EXPECT_EQ(mx.lastMode(), "multidrop") << "the MX follows only once the address is verified";

  ddns.i.intentMet = true;  // the engine verified the address at every authoritative server
  c->evaluate();
  EXPECT_EQ(c->report().mode.step, "publish-mx");
  EXPECT_EQ(mx.lastMode(), "direct");
  EXPECT_EQ(mx.intents.back().front().records,
            (std::vector<MxRecord>{{10, "office.example.com"}, {20, "mx.isp.example"}}));
  EXPECT_EQ(fetcher.drains, 0);

  mx.verify(now());
  c->evaluate();
  r = c->report();
  EXPECT_EQ(r.mode.step, "sender-caches");
  ASSERT_TRUE(r.mode.stepUntil);
  EXPECT_EQ(*r.mode.stepUntil, now() + 10min) << "the multidrop set's TTL";
  EXPECT_TRUE(fetcher.i.running) << "fetchmail keeps polling while senders' caches hold the old set";

  advance(10min - 1s);
  EXPECT_EQ(fetcher.drains, 0);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  advance(1s);
  ASSERT_EQ(fetcher.drains, 1);
  EXPECT_EQ(c->report().mode.step, "drain");
  fetcher.finishDrain(true);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  r = c->report();
  EXPECT_EQ(r.mode.step, "");
  EXPECT_EQ(stepNames(r),
            (std::vector<std::string>{"publish-address", "publish-mx", "sender-caches", "drain"}));
  EXPECT_EQ(mx.lastMode(), "direct");
  EXPECT_EQ(ddns.intents.back(), ddns::AddressIntent::Publish);
}

TEST_F(Steering, FailureDuringTheWayBackAbortsAndWithdrawsAgain) {
  startDirectThenFail();
  mx.verify(now());
  healAndHoldDown();
  ddns.i.intentMet = true;
  c->evaluate();
  mx.verify(now());
  c->evaluate();
  ASSERT_EQ(c->report().mode.step, "sender-caches");
  ddns.h = {mail::DdnsState::Failing, now(), "ddns.mismatch", "office.example.com resolves to 198.51.100.9"};
  advance(5min);
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop);
  EXPECT_EQ(fetcher.drains, 0);
  auto r = c->report();
  EXPECT_EQ(r.mode.step, "");
  EXPECT_EQ(stepNames(r).back(), "aborted");
  EXPECT_EQ(mx.lastMode(), "multidrop");
  EXPECT_EQ(ddns.intents.back(), ddns::AddressIntent::Withdraw);
}

TEST_F(Steering, RestartResumesThePersistedStep) {
  withMx = true;
  make(steeredPolicy());
  ddns.h = {mail::DdnsState::Healthy, now() - 3h, "", ""};
  link.state.since = now() - 48h;
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 4h;
  saved.mode.step = "sender-caches";
  saved.mode.stepSince = now() - 6min;
  saved.mode.stepUntil = now() + 4min;
  c->start(saved);
  EXPECT_EQ(ddns.intents.front(), ddns::AddressIntent::Publish) << "past the address step";
  EXPECT_EQ(mx.lastMode(), "direct");
  EXPECT_EQ(c->report().mode.step, "sender-caches");
  EXPECT_EQ(fetcher.drains, 0);
  EXPECT_TRUE(fetcher.i.running);
  advance(4min);
  EXPECT_EQ(fetcher.drains, 1);
}

TEST_F(Steering, RestartDuringMultidropWithdrawsBeforeTheEngineRuns) {
  make(steeredPolicy());
  ddns.h = {mail::DdnsState::Failing, now() - 1h, "ddns.mismatch", "x"};
  status::Report saved;
  saved.mode.current = "multidrop";
  saved.mode.since = now() - 1h;
  c->start(saved);
  EXPECT_EQ(ddns.intents, std::vector<ddns::AddressIntent>{ddns::AddressIntent::Withdraw});
  EXPECT_EQ(mx.lastMode(), "multidrop");
}

TEST_F(Steering, WithoutALeverTheOfficeIsExposedUntilItsNameIsWithdrawn) {
  startDirectThenFail(steeredPolicy(MxLever::None));
  auto r = c->report();
  EXPECT_TRUE(r.exposure.exposed);
  EXPECT_EQ(r.exposure.text,
            "exposed: senders still use office.example.com (MX of example.com), which may no longer "
            "point here (no MX lever configured for example.com)");
  EXPECT_FALSE(r.mode.multidropActive);
  // offline=YES verified: the name no longer resolves to our old address, senders fall back
  // to the next MX.
  ddns.i.hosts[0].condition = "withdrawn";
  ddns.i.hosts[0].withdrawn = true;
  r = c->report();
  EXPECT_FALSE(r.exposure.exposed) << r.exposure.text;
  // During an outage (no address to come back with) the withdrawal still protects.
  ddns.i.hosts[0].condition = "no-address";
  r = c->report();
  EXPECT_FALSE(r.exposure.exposed) << r.exposure.text;
  ddns.i.hosts[0].withdrawn = false;
  EXPECT_TRUE(c->report().exposure.exposed);
}

// offline=YES left "no such record" in the senders' resolvers for the zone's negative-caching
// TTL: until it runs out they skip our name and deliver to the ISP, so fetchmail keeps
// polling that long after our address is verified, even without an MX lever.
TEST_F(Steering, WayBackWaitsOutTheWithdrawnNamesNegativeCacheWithoutALever) {
  startDirectThenFail(steeredPolicy(MxLever::None));
  ddns.i.withdrawalCacheTtl = 15min;  // the engine verified the withdrawal: SOA minimum 900
  healAndHoldDown();
  ASSERT_EQ(c->report().mode.step, "publish-address");
  ddns.i.intentMet = true;
  c->evaluate();
  auto r = c->report();
  ASSERT_EQ(r.mode.step, "sender-caches");
  ASSERT_TRUE(r.mode.stepUntil);
  EXPECT_EQ(*r.mode.stepUntil, now() + 15min);
  ASSERT_FALSE(r.steps.empty());
  EXPECT_NE(r.steps.back().detail.find("the withdrawn name's negative-caching TTL, 15m"), std::string::npos)
      << r.steps.back().detail;
  EXPECT_TRUE(fetcher.i.running);
  advance(15min - 1s);
  EXPECT_EQ(fetcher.drains, 0);
  advance(1s);
  ASSERT_EQ(fetcher.drains, 1);
  fetcher.finishDrain(true);
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(stepNames(c->report()),
            (std::vector<std::string>{"publish-address", "publish-mx", "sender-caches", "drain"}));
}

// With both, the longer wins: the multidrop set's TTL (10 min) and the negative cache (20 min).
TEST_F(Steering, WayBackWaitsTheLongerOfTheMxTtlAndTheNegativeCache) {
  startDirectThenFail();
  mx.verify(now());
  ddns.i.withdrawalCacheTtl = 20min;
  healAndHoldDown();
  ddns.i.intentMet = true;
  c->evaluate();
  mx.verify(now());
  c->evaluate();
  auto r = c->report();
  ASSERT_EQ(r.mode.step, "sender-caches");
  ASSERT_TRUE(r.mode.stepUntil);
  EXPECT_EQ(*r.mode.stepUntil, now() + 20min);
  EXPECT_NE(r.steps.back().detail.find("the multidrop set's TTL, 10m and the withdrawn name's"),
            std::string::npos)
      << r.steps.back().detail;
}

TEST_F(Steering, ARefusedUpdateLeavesTheOfficeExposedAndSaysWhy) {
  startDirectThenFail();
  mx.f[0].state = "refused";
  mx.f[0].detail = "NOTAUTH from 192.0.2.53:53: the server is not authoritative for example.com";
  const auto r = c->report();
  EXPECT_TRUE(r.exposure.exposed);
  EXPECT_NE(r.exposure.text.find("NOTAUTH from 192.0.2.53:53"), std::string::npos) << r.exposure.text;
}

}  // namespace

namespace {

/// Direct from the start (a persisted direct mode), with a sweep every 15 minutes.
Policy sweepingPolicy() {
  Policy p = autoPolicy();
  p.fetchmail.sweepInterval = 15min;
  return p;
}

status::Report directReport() {
  status::Report r;
  r.mode.current = "direct";
  r.mode.since = steadyNow() - 48h;
  return r;
}

}  // namespace

// What the ISP's backup MX took while mail is direct (our server briefly unreachable, or
// senders still holding a cached answer after a return) is fetched by a sweep, on the
// manual clock: one at every sweep_interval, the mode staying direct, the rc checked first.
TEST_F(Fixture, DirectModeSweepsTheIspMailboxEverySweepInterval) {
  ddns.h = {mail::DdnsState::Healthy, now() - 48h, "", ""};
  link.state.since = now() - 48h;
  make(sweepingPolicy());
  c->start(directReport());
  settle();
  ASSERT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_EQ(fetcher.drains, 0);
  auto sweep = c->report().sweep;
  EXPECT_EQ(sweep.interval, 15min);
  EXPECT_FALSE(sweep.last);
  ASSERT_TRUE(sweep.next) << "status says when the first sweep is due";
  const TimePoint firstDue = *sweep.next;
  advance(15min - 1s);
  EXPECT_EQ(fetcher.drains, 0) << "no sweep before the interval";
  advance(2s);
  EXPECT_LE(firstDue, now());
  ASSERT_EQ(fetcher.drains, 1) << "the sweep polls the ISP box";
  EXPECT_EQ(rcInstalls, 1) << "the rc is rendered and checked before the poll";
  EXPECT_EQ(fetcher.starts, 0) << "a sweep never starts fetchmail's daemon";
  fetcher.finishDrain(true);
  settle();
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  EXPECT_TRUE(c->report().switches.empty()) << "a sweep is not a switch";
  advance(15min + 1s);
  EXPECT_EQ(fetcher.drains, 2) << "and again one interval later";
  sweep = c->report().sweep;
  ASSERT_TRUE(sweep.last);
  EXPECT_TRUE(sweep.lastOk);
  fetcher.finishDrain(false);  // a failed sweep: said, and tried again at the next interval
  settle();
  EXPECT_EQ(c->mode(), mail::MailMode::Direct);
  sweep = c->report().sweep;
  EXPECT_FALSE(sweep.lastOk) << "status keeps the failure until a sweep succeeds";
  EXPECT_EQ(sweep.failures, 1);
  ASSERT_TRUE(sweep.next);
  EXPECT_EQ(*sweep.next, now() + 15min);
  advance(15min + 1s);
  EXPECT_EQ(fetcher.drains, 3);
  fetcher.finishDrain(true);
  settle();
  sweep = c->report().sweep;
  EXPECT_TRUE(sweep.lastOk);
  EXPECT_EQ(sweep.failures, 0);
}

TEST_F(Fixture, WithoutASweepIntervalDirectModeNeverPolls) {
  ddns.h = {mail::DdnsState::Healthy, now() - 48h, "", ""};
  link.state.since = now() - 48h;
  make();  // sweep_interval 0
  c->start(directReport());
  advance(24h);
  EXPECT_EQ(fetcher.drains, 0);
  EXPECT_EQ(rcInstalls, 0);
}

// Mail leaves direct while a sweep polls: the switch is not held back, and fetchmail's
// daemon, which could not start beside the sweep's poll, starts when the poll ends.
TEST_F(Fixture, ASwitchDuringASweepStartsFetchmailOnceThePollEnds) {
  ddns.h = {mail::DdnsState::Healthy, now() - 48h, "", ""};
  link.state.since = now() - 48h;
  make(sweepingPolicy());
  c->start(directReport());
  advance(15min + 1s);
  ASSERT_EQ(fetcher.drains, 1);
  const int startsBefore = fetcher.starts;
  ddns.h = {mail::DdnsState::Failing, now() - 10min, "ddns.mismatch", "office.example.com resolves to 198.51.100.66"};
  inputsChanged();
  EXPECT_EQ(c->mode(), mail::MailMode::Multidrop) << "a sweep never holds back the switch";
  EXPECT_GT(fetcher.starts, startsBefore);
  EXPECT_FALSE(fetcher.i.running) << "not beside the sweep's poll";
  fetcher.finishDrain(true);
  settle();
  EXPECT_TRUE(fetcher.i.running) << "fetchmail's daemon starts once the sweep's poll ended";
}
