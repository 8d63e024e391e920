// dynmx, live, on loopback: a real BIND9 zone, a dyndns2 provider, the ISP's mailbox in
// dovecot, the real fetchmail, a local mail sink, and `dynmx run`. It tells the story with
// `dynmx status` at every step and ends with a delivery report.
#include <unistd.h>

#include <iostream>
#include <map>
#include <set>

#include "testbed/loopback_world.hpp"

using namespace dynmx::testbed;
using namespace std::chrono_literals;

namespace {

int step = 0;

void title(const std::string& text) {
  std::cout << "\n\033[1m== " << ++step << ". " << text << " ==\033[0m\n" << std::flush;
}

void show(const std::string& command, const std::pair<int, std::string>& result) {
  std::cout << "$ " << command << "\n" << result.second;
  if (!result.second.empty() && result.second.back() != '\n') std::cout << '\n';
  std::cout << "(exit " << result.first << ")\n" << std::flush;
}

void showStatus(const LoopbackWorld& w) { show("dynmx status", w.statusText()); }

[[noreturn]] void die(const std::string& why, const LoopbackWorld& w) {
  std::cerr << "demo failed: " << why << "\n";
  if (w.daemon) std::cerr << "---- dynmx log ----\n" << w.daemon->log() << "\n";
  std::exit(1);
}

void deliveryReport(const LoopbackWorld& w, const std::map<std::string, std::string>& expected, int& lost,
                    int& wrong) {
  std::map<std::string, std::multiset<std::string>> got;
  for (const auto& m : w.sink.messages())
    for (const auto& r : m.recipients) got[m.testId].insert(r.substr(0, r.find('@')));
  for (const auto& [id, user] : expected) {
    const auto& g = got[id];
    std::string seen;
    for (const auto& u : g) seen += (seen.empty() ? "" : ",") + u;
    bool ok = g == std::multiset<std::string>{user};
    if (g.empty()) ++lost;
    else if (!ok) ++wrong;
    std::cout << "  " << id << "  expected " << user << "  delivered to " << (seen.empty() ? "-" : seen) << "  "
              << (ok ? "OK" : "WRONG") << "\n";
  }
}

}  // namespace

int main() {
  if (::geteuid() != 0) {
    std::cerr << "the demo runs dovecot with mail users and fetchmail as 'nobody': run it as root\n";
    return 2;
  }
  std::cout << "dynmx demo: everything below runs on 127.0.0.1, with documentation addresses.\n";
  LoopbackWorld w(DYNMX_BINARY_PATH, DYNDNS2D_BINARY_PATH, "demo");
  if (auto s = w.start(); !s.ok()) die(s.error(), w);
  if (!w.setRecord("192.0.2.1").ok()) die("nsupdate failed", w);
  std::cout << "started: named (zone example.test) on port " << w.named->port() << ", dyndns2 provider on "
            << w.providerPort << ", dovecot POP3 on " << w.dovecot->pop3Port() << ", mail sink on "
            << w.sink.port() << "\n";

  title("The admin's policy, checked");
  show("dynmx check -c dynmx.toml", w.dynmx({"check", "-c", w.policyPath}));

  title("The decision, explained (what if DDNS had been failing for 10 minutes?)");
  show("dynmx explain -c dynmx.toml --current direct --ddns healthy",
       w.dynmx({"explain", "-c", w.policyPath, "--current", "direct", "--ddns", "healthy"}));
  show("dynmx explain -c dynmx.toml --current direct --ddns failing --ddns-for 10m",
       w.dynmx({"explain", "-c", w.policyPath, "--current", "direct", "--ddns", "failing", "--ddns-for", "10m"}));

  title("The fetchmail multidrop rc dynmx generates (password redacted)");
  show("dynmx render-fetchmail -c dynmx.toml", w.dynmx({"render-fetchmail", "-c", w.policyPath}));

  title("Mail is waiting at the ISP; dynmx starts (fresh start = multidrop, the safe side)");
  std::map<std::string, std::string> batch1 = {{"A1", "alice"}, {"A2", "bob"}, {"A3", "postmaster"}};
  w.dovecot->deliver("office", ispMessage("A1", "alice@example.com"));
  w.dovecot->deliver("office", ispMessage("A2", "bob@example.com"));
  w.dovecot->deliver("office", ispMessage("A3", "stranger@example.com"));
  std::cout << "ISP box holds " << w.dovecot->count("office") << " messages\n";
  // The daemon logs at info, as a service does (its log is shown at the end).
  {
    std::string policy = w.goodPolicy;
    const std::string debug = "log_level = \"debug\"";
    if (policy.find(debug) == std::string::npos) die("the world's policy has no log_level line", w);
    policy.replace(policy.find(debug), debug.size(), "log_level = \"info\"");
    writeTextFile(w.policyPath, policy, 0644);
  }
  if (auto s = w.startDaemon(); !s.ok()) die(s.error(), w);
  showStatus(w);
  if (!w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch1); }, 60s)) die("batch 1 not delivered", w);
  std::cout << "fetchmail delivered the waiting mail:\n";
  int lost = 0, wrong = 0;
  deliveryReport(w, batch1, lost, wrong);

  title("DDNS is verified at the authoritative server for the whole hold-down: drain, then direct");
  if (!w.waitForMode("direct", 90s)) die("did not return to direct", w);
  showStatus(w);
  std::cout << "ISP box holds " << w.dovecot->count("office") << " messages; " << kWorldHost << " A = "
            << w.named->dig(kWorldHost).value() << "\n";

  title("Someone else now has our name: the record is changed to " + std::string(kWorldHijacker));
  if (!w.setRecord(kWorldHijacker).ok()) die("nsupdate failed", w);
  if (!w.waitForMode("multidrop", 60s)) die("did not leave direct", w);
  showStatus(w);
  std::map<std::string, std::string> batch2 = {{"B1", "carol"}, {"B2", "alice"}};
  w.dovecot->deliver("office", ispMessage("B1", "carol@example.com"));
  w.dovecot->deliver("office", ispMessage("B2", "Alice@Example.COM"));
  if (!w.sink.waitFor([&](const auto& m) { return allDelivered(m, batch2); }, 60s)) die("batch 2 not delivered", w);
  std::cout << "mail sent meanwhile went to the ISP and was fetched:\n";
  deliveryReport(w, batch2, lost, wrong);

  title("Recovery, with mail still waiting at the ISP: hold-down, drain, back to direct");
  std::map<std::string, std::string> batch3 = {{"C1", "bob"}, {"C2", "carol"}};
  w.dovecot->deliver("office", ispMessage("C1", "bob@example.com"));
  w.dovecot->deliver("office", ispMessage("C2", "carol@example.com"));
  if (!w.setRecord(kWorldAddress).ok()) die("nsupdate failed", w);
  if (!w.waitForMode("direct", 90s)) die("did not return to direct", w);
  showStatus(w);
  deliveryReport(w, batch3, lost, wrong);
  std::cout << "ISP box holds " << w.dovecot->count("office") << " messages\n";

  title("The daemon's log at info (what journalctl -u dynmx shows)");
  const std::string log = w.daemon->log();
  std::cout << log;
  if (!log.empty() && log.back() != '\n') std::cout << '\n';
  // Provider answers are at info; no recipient address ever is.
  int leaked = 0;
  for (const char* local : {"alice@", "bob@", "carol@", "stranger@", "Alice@"})
    if (log.find(local) != std::string::npos) {
      std::cout << "recipient address in the log: " << local << "...\n";
      ++leaked;
    }
  const bool providerAtInfo = log.find("[info] " + std::string(kWorldHost) + ": good") != std::string::npos ||
                              log.find(std::string(kWorldHost) + ": good from") != std::string::npos;
  if (!providerAtInfo) std::cout << "no provider answer at info in the log\n";

  title("Delivery report");
  std::size_t expected = batch1.size() + batch2.size() + batch3.size();
  std::cout << "messages expected " << expected << ", delivered " << w.sink.count() << ", lost " << lost
            << ", misdirected " << wrong << ", left at the ISP " << w.dovecot->count("office") << "\n";
  bool ok = lost == 0 && wrong == 0 && w.sink.count() == expected && w.dovecot->count("office") == 0 &&
            leaked == 0 && providerAtInfo;
  std::cout << (ok ? "demo: OK\n" : "demo: FAILED\n");
  return ok ? 0 : 1;
}
