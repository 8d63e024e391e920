// Fault class "provider", TLS: the provider's certificate is signed by the CA the account
// trusts (`ca_file`) but names another host. The failure must be the NAME, so the same CA
// and the same setup with a matching certificate must work first (positive control).
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "provider_bed.hpp"
#include "testbed/ports.hpp"
#include "testbed/server_process.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testbed::kWorldHost;

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : std::string(); }

/// Run openssl with `args`; the failure (with its output) as an error.
Status<> openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProcess({.argv = argv, .timeout = 60s});
  if (!r.started || r.timedOut || r.exitCode != 0) return fail("openssl " + args.front() + ": " + r.out + r.err);
  return Ok{};
}

/// A test CA in `dir` (ca.pem, ca.key) and leaf certificates `NAME.pem`/`NAME.key` for
/// the given subjectAltName, signed by it.
struct TestCa {
  std::string dir;
  std::string ca() const { return dir + "/ca.pem"; }

  Status<> create() {
    return openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    dir + "/ca.key", "-out", ca(), "-days", "2", "-subj", "/CN=dynmx fault-suite test CA", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  }

  Status<> leaf(const std::string& name, const std::string& subjectAltName) {
    const std::string base = dir + "/" + name;
    testbed::writeTextFile(base + ".ext",
                           "subjectAltName=" + subjectAltName +
                               "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                           0644);
    if (auto s = openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                          base + ".key", "-out", base + ".csr", "-subj", "/CN=" + name + ".provider.example.test"});
        !s.ok())
      return s;
    return openssl({"x509", "-req", "-in", base + ".csr", "-CA", ca(), "-CAkey", dir + "/ca.key", "-CAcreateserial",
                    "-out", base + ".pem", "-days", "2", "-extfile", base + ".ext"});
  }
};

/// A second loopback provider speaking TLS with `name`'s certificate, pushing into named.
Result<std::unique_ptr<testbed::ServerProcess>> startTlsProvider(ProviderBed& b, const TestCa& ca,
                                                                 const std::string& name, int port) {
  const std::string d = b.w.dir.path();
  auto p = testbed::ServerProcess::start(
      {DYNDNS2D_BINARY, "--port", std::to_string(port), "--accounts", d + "/accounts", "--log",
       d + "/provider-" + name + ".log", "--nsupdate-server", "127.0.0.1:" + std::to_string(b.w.named->port()),
       "--nsupdate-key", b.w.named->keyFile(), "--zone", b.w.named->zone(), "--nsupdate-sync", "--ttl", "1",
       "--tls-cert", ca.dir + "/" + name + ".pem", "--tls-key", ca.dir + "/" + name + ".key"},
      d + "/provider-" + name + ".out");
  if (!p.ok()) return fail(p.error());
  if (auto s = (*p)->waitForPort(port, 20s); !s.ok()) return fail(s.error());
  return std::move(*p);
}

/// Update requests a TLS provider has seen (the test reads its /stats without checking names).
long tlsRequests(int port) {
  const std::string body = curlGet("https://127.0.0.1:" + std::to_string(port) + "/stats", {"-k"});
  try {
    return Json::parse(body)["requests"].get<long>();
  } catch (const std::exception&) {
    return -1;
  }
}

std::size_t countOf(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST(ProviderFaultsTls, NameMismatch) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dovecot mail users, fetchmail as nobody)";
  ProviderBed b("pf-tls");
  ASSERT_TRUE(b.start().ok());
  TestCa ca{b.w.dir.subdir("tls")};
  {
    auto s = ca.create();
    ASSERT_TRUE(s.ok()) << s.error();
    s = ca.leaf("matching", "IP:127.0.0.1");
    ASSERT_TRUE(s.ok()) << s.error();
    s = ca.leaf("othername", "DNS:provider.example.test");
    ASSERT_TRUE(s.ok()) << s.error();
  }
  handToDaemonUser(ca.ca());
  const int goodPort = testbed::freePort();
  auto good = startTlsProvider(b, ca, "matching", goodPort);
  ASSERT_TRUE(good.ok()) << good.error();
  const int badPort = testbed::freePort();
  auto bad = startTlsProvider(b, ca, "othername", badPort);
  ASSERT_TRUE(bad.ok()) << bad.error();

  const std::string plainUrl = "url = \"http://127.0.0.1:" + std::to_string(b.w.providerPort) + "/nic/update\"\n";
  const auto tlsPolicy = [&](int port) {
    return b.policyWith({{plainUrl, "url = \"https://127.0.0.1:" + std::to_string(port) + "/nic/update\"\nca_file = \"" +
                                        ca.ca() + "\"\n"}});
  };
  FaultClass c("provider");
  c.scenario("tls-name-mismatch", [&](Scenario& s) {
    // Positive control: the CA in ca_file and a certificate naming 127.0.0.1 work, both
    // for the first publication and for an address change.
    std::string why;
    ASSERT_TRUE(b.freshDirect(tlsPolicy(goodPort), why)) << why;
    EXPECT_GE(tlsRequests(goodPort), 1) << "the fresh start published over TLS";
    const long goodBefore = tlsRequests(goodPort);
    ASSERT_TRUE(b.setPublicIp("203.0.113.51"));
    EXPECT_TRUE(b.waitHost(
        [](const Json& h) {
          return h.value("address", "") == "203.0.113.51" && h.value("last_result", "") == "good" &&
                 h.value("verified", false);
        },
        60s))
        << b.hostRow().dump(2) << "\n" << b.w.daemon->log();
    EXPECT_EQ(tlsRequests(goodPort), goodBefore + 1);
    std::string seen;
    EXPECT_TRUE(b.holdsModeFor(3, "direct", seen, 60s)) << "a good TLS update keeps mail direct: " << seen;
    EXPECT_EQ(b.updateRequests(), 0) << "nothing went to the plain-http provider";

    // The fault: same CA, same account, a certificate for another name.
    const std::size_t reloads = countOf(b.w.daemon->log(), "policy reloaded from");
    testbed::writeTextFile(b.w.policyPath, tlsPolicy(badPort), 0644);
    ::kill(b.w.daemon->pid(), SIGHUP);
    ASSERT_TRUE(testbed::eventually(
        [&] { return countOf(b.w.daemon->log(), "policy reloaded from") > reloads; }, 30s));
    {
      const long checks = b.ipChecks();
      ASSERT_TRUE(testbed::eventually([&] { return b.ipChecks() >= checks + 2; }, 30s));
    }
    auto oldRecord = b.w.named->dig(kWorldHost);
    ASSERT_TRUE(oldRecord.ok());
    const Batch batch = {{"P-tls-1", "alice"}, {"P-tls-2", "carol"}};
    ASSERT_TRUE(b.setPublicIp("203.0.113.52"));
    EXPECT_TRUE(b.waitHost([](const Json& h) { return h.value("last_result", "") == "tls-error"; }, 60s))
        << b.hostRow().dump(2) << "\n" << b.w.daemon->log();
    EXPECT_TRUE(b.w.waitForMode("multidrop", 60s)) << b.w.daemon->log();
    ASSERT_TRUE(b.deposit(batch));
    auto st = b.status();
    ASSERT_TRUE(st);
    const Json row = (*st)["ddns"][0];
    const std::string error = text(row["last_error"]);
    EXPECT_NE(error.find("no alternative certificate subject name matches"), std::string::npos)
        << "the status must say the certificate's NAME is wrong: " << row.dump(2);
    EXPECT_EQ((*st)["ddns_health"]["code"], "ddns.provider_retrying");
    EXPECT_NE((*st)["mode"]["reasons"].dump().find("ddns.provider_retrying"), std::string::npos);
    EXPECT_EQ(tlsRequests(badPort), 0) << "no HTTP request passes a failed handshake";
    auto record = b.w.named->dig(kWorldHost);
    ASSERT_TRUE(record.ok());
    EXPECT_EQ(*record, *oldRecord);
    // Transient rule: the first retry 1 minute later, none within several rounds.
    const auto lastUpdate = unixSeconds(row["last_update"]);
    const auto retryAfter = unixSeconds(row["retry_after"]);
    ASSERT_TRUE(lastUpdate && retryAfter) << row.dump(2);
    EXPECT_EQ(*retryAfter - *lastUpdate, 60);
    EXPECT_TRUE(b.holdsModeFor(5, "multidrop", seen, 90s)) << seen;
    EXPECT_EQ(b.hostRow()["last_update"], row["last_update"]) << "another attempt was made";
    EXPECT_TRUE(b.waitDelivered(batch, 90s)) << b.w.daemon->log();
    EXPECT_TRUE(b.w.daemon->running());

    ASSERT_TRUE(b.freshDirect(b.w.goodPolicy, why)) << why;
    EXPECT_EQ(b.w.dovecot->count("office"), 0u);
    s.lost = b.lost(batch);
  });
  c.report();
  (*good)->stop();
  (*bad)->stop();
}

}  // namespace
}  // namespace dynmx::fault
