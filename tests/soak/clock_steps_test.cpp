// Issue 12 item 2: the wall clock stepped by hours (NTP, an admin), in a running engine and
// across a restart, never shortens a 911 back-off. The real ddns::Engine on ManualTime with
// a fake provider; the daemon's wiring (steadyNow). A control shows that the wall-clock
// wiring of before would send early, so these tests can fail.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>

#include "dynmx/ddns_engine.hpp"
#include "dynmx/time.hpp"

using namespace dynmx;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const TimePoint kStart = fromUnix(1'800'000'000);
constexpr const char* kAddress = "203.0.113.10";

/// The provider: 911 to the first request, good afterwards; every request is counted.
struct Provider911 : net::HttpClient {
  asio::io_context& io;
  int requests = 0;
  int answer911 = 1;  ///< how many requests get 911
  explicit Provider911(asio::io_context& c) : io(c) {}
  void request(net::HttpRequest, net::HttpHandler done) override {
    ++requests;
    net::HttpResponse r;
    r.status = 200;
    r.body = requests <= answer911 ? "911\n" : std::string("good ") + kAddress + "\n";
    asio::post(io, [r, done = std::move(done)] { done(r); });
  }
};

/// Authoritative servers that publish nothing yet (the update never went through).
struct NoRecordDns : net::DnsResolver {
  asio::io_context& io;
  explicit NoRecordDns(asio::io_context& c) : io(c) {}
  void query(net::DnsQuery, net::DnsHandler done) override {
    net::DnsResult r;
    r.error = net::DnsError::NoData;
    r.authoritative = true;
    asio::post(io, [r, done = std::move(done)] { done(r); });
  }
};

DdnsSection section() {
  DdnsSection d;
  d.detect.interface = "wan0";
  d.verify.servers = {{"192.0.2.53", 53}};
  DdnsAccount a;
  a.name = "main";
  a.provider = "dyn";
  a.username = "office";
  a.password = "secret";
  a.hosts = {"office.example.test"};
  d.accounts = {a};
  return d;
}

struct EngineRun {
  asio::io_context io;
  Provider911 http{io};
  NoRecordDns dns{io};
  std::unique_ptr<ddns::Engine> engine;

  void make(const std::string& statePath, std::function<TimePoint()> clock) {
    ddns::EngineDeps d;
    d.http = &http;
    d.dns = &dns;
    d.now = std::move(clock);
    d.readInterface = [](const std::string& name) {
      net::InterfaceInfo i;
      i.name = name;
      i.exists = true;
      i.up = true;
      i.ipv4 = {kAddress};
      return i;
    };
    engine = std::make_unique<ddns::Engine>(io, section(), statePath, d);
    engine->start();
    settle();
  }
  void settle() {
    io.restart();
    io.poll();
  }
  /// Time passes in check-interval-sized steps; the engine's own timers run the passes.
  void run(ManualTime& time, Duration d) {
    for (Duration done{0}; done < d; done += 30s) {
      time.advance(30s);
      settle();
    }
  }
};

struct TempState {
  std::filesystem::path dir;
  TempState() {
    std::string t = "/tmp/dmxclock-XXXXXX";
    dir = ::mkdtemp(t.data());
  }
  ~TempState() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / ddns::kStateFileName).string(); }
};

}  // namespace

TEST(WallClockSteps, RunningEngineKeepsThe911BackoffOnTheMonotonicClock) {
  spdlog::set_level(spdlog::level::warn);
  TempState st;
  ManualTime time(kStart);
  EngineRun r;
  r.make(st.path(), steadyNow);
  ASSERT_EQ(r.http.requests, 1) << "the first pass sent, and got 911";
  time.stepWall(2h);  // forward: a wall-clock back-off would be over
  r.run(time, 29min);
  time.stepWall(-5h);  // and back
  r.run(time, 30s);
  EXPECT_EQ(r.http.requests, 1) << "a stepped wall clock shortened the 911 back-off";
  r.run(time, 6min);  // the back-off ends at 30 min; the next check (5 min) sends
  EXPECT_EQ(r.http.requests, 2) << "the back-off must end on time, not later";
}

TEST(WallClockSteps, AWallClockSteppedAcrossARestartNeverShortensThe911Backoff) {
  spdlog::set_level(spdlog::level::warn);
  TempState st;
  for (const Duration step : {Duration{2h}, Duration{-2h}}) {
    SCOPED_TRACE("wall stepped by " + formatDuration(step));
    std::filesystem::remove(st.path());
    {
      ManualTime time(kStart);
      EngineRun first;
      first.make(st.path(), steadyNow);
      ASSERT_EQ(first.http.requests, 1);
      first.run(time, 2min);  // the daemon dies 2 minutes into the back-off
    }
    // The restart: a new process, its wall clock stepped while it was down.
    ManualTime time(kStart + 2min + step);
    EngineRun second;
    second.http.answer911 = 0;
    second.make(st.path(), steadyNow);
    EXPECT_EQ(second.http.requests, 0) << "sent at once after the restart";
    second.run(time, 29min + 30s);
    EXPECT_EQ(second.http.requests, 0) << "sent inside the 30 min back-off after the restart";
    second.run(time, 6min);
    EXPECT_EQ(second.http.requests, 1) << "the back-off ends (counted from the restart)";
  }
}

// The control: the same running engine wired to the wall clock sends right after the step.
TEST(WallClockSteps, WallClockWiringWouldShortenTheBackoff) {
  spdlog::set_level(spdlog::level::warn);
  TempState st;
  ManualTime time(kStart);
  EngineRun r;
  r.make(st.path(), wallNow);
  ASSERT_EQ(r.http.requests, 1);
  time.stepWall(2h);
  r.run(time, 6min);
  EXPECT_EQ(r.http.requests, 2) << "the wall-clock wiring is the bug the tests above guard against";
}
