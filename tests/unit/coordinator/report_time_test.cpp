// The status report's reason texts are worded when the report is printed, not when the
// decision was taken: a daemon that went direct two hours ago and has decided nothing since
// must not print "healthy for 0s" beside "direct ..., for 2h". Asserted on the printed
// report (human and JSON) of the real coordinator, with a fake clock.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "dynmx/coordinator.hpp"
#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

namespace {

struct StillLink : coord::LinkSource {
  mail::LinkState state{LinkType::Dedicated, true, fromUnix(0)};
  mail::LinkState current() const override { return state; }
  std::string interfaceName() const override { return "wan0"; }
};

struct StillDdns : coord::DdnsSource {
  mail::DdnsHealth h{mail::DdnsState::Healthy, fromUnix(0), "", ""};
  mail::DdnsHealth health() const override { return h; }
  status::DdnsInfo info() const override {
    status::DdnsInfo i;
    i.health = "healthy";
    i.since = h.since;
    return i;
  }
  std::string address() const override { return "203.0.113.7"; }
  void setIntent(ddns::AddressIntent) override {}
  void requestPass(bool) override {}
};

struct IdleFetcher : coord::MailFetcher {
  status::FetchmailInfo i;
  void start() override { i.running = true; }
  void stop(std::function<void()> stopped) override {
    i.running = false;
    if (stopped) stopped();
  }
  void drain(std::function<void(bool, const std::string&)> done) override {
    done(true, "the ISP mailbox is empty");
  }
  const status::FetchmailInfo& info() const override { return i; }
};

TEST(ReportTime, ReasonDurationsAreWordedWhenTheReportIsPrinted) {
  boost::asio::io_context io;
  TimePoint now = *parseTime("2026-11-23T10:00:00Z");
  StillLink link;
  link.state.since = now - 24h;
  StillDdns ddns;
  ddns.h.since = now;  // verified again just now, after a restart
  IdleFetcher fetcher;
  Policy p;
  p.sourceFile = "/etc/dynmx/dynmx.toml";
  p.fetchmail.sweepInterval = Duration{0};
  p.mail.mode = MailPolicy::Auto;
  p.link.type = LinkType::Dedicated;
  DdnsAccount a;
  a.name = "main";
  a.provider = "dyn";
  a.hosts = {"office.example.com"};
  p.ddns.accounts = {a};
  coord::Deps deps;
  deps.now = [&] { return now; };
  deps.link = &link;
  deps.ddns = &ddns;
  deps.fetcher = &fetcher;
  deps.installRc = [](const Policy&) -> Status<> { return Ok{}; };
  deps.computeHealth = [](status::Report& r) { status::computeHealth(r); };
  coord::Coordinator c(io, p, std::move(deps));
  status::Report restored;
  restored.mode.current = "direct";
  restored.mode.since = now - 3h;
  c.start(restored);
  ASSERT_EQ(c.mode(), mail::MailMode::Direct);

  now += 2h;  // nothing happened: no new decision was taken
  const status::Report r = c.report();
  const std::string text = status::renderHuman(r, now);
  EXPECT_NE(text.find("mode:       direct since 2026-11-23T07:00:00Z, for 5h\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  - auto.healthy: the link is dedicated and up, DDNS is verified; healthy for 2h\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("healthy for 0s"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(status::dumpJson(status::toJson(r), 2));
  EXPECT_EQ(j["mode"]["reasons"][0]["text"],
            "the link is dedicated and up, DDNS is verified; healthy for 2h");
}

}  // namespace
