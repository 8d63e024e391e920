// The dyndns2 MX lever end to end, with real parts: BIND9 holds example.test, the loopback
// dyndns2 provider turns mx=/backmx= into the host's MX RRset (nsupdate into BIND), and the
// real `dynmx run` steers office.example.test's MX with the mode:
//   direct    → mx=mx.isp.example&backmx=YES → MX 10 office.example.test, 20 mx.isp.example
//   multidrop → mx=mx.isp.example&backmx=NO  → MX 10 mx.isp.example
// The story: fresh start → direct; a hijack of the A record → multidrop; recovery → direct.
// The MX is read at the authoritative server with dig after each switch. Every MX-only
// request waits for the account's minimum interval (`min_interval`, 10 s here: a custom
// provider's default is 1m), which the test checks from the provider's own log. (The multidrop request carries our address too,
// and the provider pushes its whole record: it repairs the hijack, so the recovery follows
// by itself.)
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "testbed/loopback_world.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

const std::string kDirectMx = "10 office.example.test.|20 mx.isp.example.";
const std::string kMultidropMx = "10 mx.isp.example.";
constexpr long long kMinIntervalMs = 10'000;  // the account's min_interval

// The host's MX at the authoritative server, one record per line sorted and joined by '|'.
std::string mxAtServer(const LoopbackWorld& w) {
  auto r = w.named->dig(kWorldHost, "MX");
  if (!r.ok()) return "dig failed: " + r.error();
  std::set<std::string> lines;
  std::istringstream in(*r);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.insert(line);
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "|") + l;
  return out;
}

// The daemon's MX fact for the host, when it says `wanted` is verified.
bool leverVerified(const LoopbackWorld& w, const std::string& wanted) {
  auto s = w.status();
  if (!s || !s->second["mx"].is_array() || s->second["mx"].empty()) return false;
  const Json& m = s->second["mx"][0];
  return m["lever"] == "dyndns2" && m["wanted"] == wanted && m["verified"] == true &&
         m["state"] == "verified";
}

// The provider's log: the update requests that carried mx=, as (unix ms, mx, backmx).
std::vector<std::tuple<long long, std::string, std::string>> mxRequests(const LoopbackWorld& w) {
  std::vector<std::tuple<long long, std::string, std::string>> out;
  std::ifstream in(w.dir.path() + "/provider.log");
  for (std::string line; std::getline(in, line);) {
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("mx")) continue;
    out.emplace_back(j["t"].get<long long>(), j["mx"].get<std::string>(), j.value("backmx", ""));
  }
  return out;
}

TEST(MxDyndns2EndToEnd, TheHostsMxFollowsTheModeThroughTheProvider) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "mx-dyndns2");
  w.extraPolicy = std::string("[[mx]]\ndomain = \"") + kWorldHost + "\"\nlever = \"dyndns2\"\n" +
                  "direct = [\"10 " + kWorldHost + "\", \"20 mx.isp.example\"]\n" +
                  "multidrop = [\"10 mx.isp.example\"]\nttl = \"30s\"\n";
  ASSERT_TRUE(w.start().ok());
  // named's port is known now: the [[mx]] table (last in the file) gets its server.
  w.goodPolicy += "verify_servers = [\"127.0.0.1:" + std::to_string(w.named->port()) + "\"]\n";
  {
    const std::string hosts = std::string("hosts = [\"") + kWorldHost + "\"]\n";
    const auto at = w.goodPolicy.find(hosts);
    ASSERT_NE(at, std::string::npos) << w.goodPolicy;
    w.goodPolicy.insert(at + hosts.size(), "min_interval = \"" + std::to_string(kMinIntervalMs / 1000) + "s\"\n");
  }
  writeTextFile(w.policyPath, w.goodPolicy, 0644);
  {
    auto check = w.dynmx({"check", "-c", w.policyPath});
    ASSERT_EQ(check.first, 0) << check.second;
  }
  EXPECT_EQ(mxAtServer(w), "") << "no MX before dynmx ran";
  {
    auto started = w.startDaemon();
    ASSERT_TRUE(started.ok()) << started.error();
  }

  // 1. Fresh start: multidrop until the hold-down, then direct with the direct MX.
  ASSERT_TRUE(w.waitForMode("direct", 240s)) << w.daemon->log();
  EXPECT_EQ(mxAtServer(w), kDirectMx);
  EXPECT_TRUE(leverVerified(w, "direct")) << w.status()->second["mx"].dump(2);

  // 2. A stranger takes the A record: multidrop, and the MX leaves the host.
  const std::size_t logMark = w.daemon->log().size();  // the fresh start verified a multidrop set too
  ASSERT_TRUE(w.setRecord(kWorldHijacker).ok());
  ASSERT_TRUE(w.waitForMode("multidrop", 60s)) << w.daemon->log();
  ASSERT_TRUE(eventually([&] { return mxAtServer(w) == kMultidropMx; }, 150s))
      << mxAtServer(w) << "\n" << w.daemon->log();
  // The lever saw it at the server with AA (the verification the rfc2136 lever uses).
  EXPECT_TRUE(eventually(
      [&] {
        return w.daemon->log().find(std::string("MX ") + kWorldHost + ": 10 mx.isp.example verified at 1 "
                                    "authoritative server(s)", logMark) != std::string::npos;
      },
      30s))
      << w.daemon->log();

  // 3. Recovery: back to direct, the host first again.
  ASSERT_TRUE(w.setRecord(kWorldAddress).ok());
  ASSERT_TRUE(w.waitForMode("direct", 240s)) << w.daemon->log();
  EXPECT_EQ(mxAtServer(w), kDirectMx);
  EXPECT_TRUE(leverVerified(w, "direct"));

  // What the provider saw: the sets in order, each request within the provider's rules (a
  // min_interval apart, less the engine clock's one-second resolution), and no request for a set
  // it already had.
  const auto sent = mxRequests(w);
  ASSERT_GE(sent.size(), 3u);
  std::vector<std::string> backmx;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(std::get<1>(sent[i]), "mx.isp.example");
    if (backmx.empty() || backmx.back() != std::get<2>(sent[i])) backmx.push_back(std::get<2>(sent[i]));
    if (i > 0) {
      EXPECT_GE(std::get<0>(sent[i]) - std::get<0>(sent[i - 1]), kMinIntervalMs - 1'000) << "request " << i;
    }
  }
  EXPECT_EQ(backmx.back(), "YES");
  EXPECT_GE(std::count(backmx.begin(), backmx.end(), "NO"), 1);
  EXPECT_EQ(sent.size(), backmx.size()) << "each set was sent once";
  w.daemon->stop(20s);
}

}  // namespace
}  // namespace dynmx::testbed
