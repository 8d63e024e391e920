#include "testbed/loopback_world.hpp"

#include "dynmx/status/control.hpp"
#include "dynmx/status/json.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "dynmx/process.hpp"
#include "testbed/ports.hpp"

namespace dynmx::testbed {

using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string ispMessage(const std::string& id, const std::string& rcpt) {
  return "Delivered-To: office@isp.example\r\n"
         "X-Original-To: " + rcpt + "\r\n"
         "Delivered-To: " + rcpt + "\r\n"
         "From: sender@example.net\r\n"
         "To: " + rcpt + "\r\n"
         "Subject: " + id + "\r\n"
         "Message-ID: <" + id + "@example.net>\r\n"
         "X-Test-Id: " + id + "\r\n"
         "\r\n"
         "body of " + id + "\r\n";
}

void giveToDaemonUser(const std::vector<std::string>& paths) {
  if (::geteuid() != 0) return;
  const passwd* pw = ::getpwnam(kDaemonUser);
  if (pw == nullptr) return;
  for (const auto& p : paths) (void)::chown(p.c_str(), pw->pw_uid, pw->pw_gid);
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

bool allDelivered(const std::vector<SinkMessage>& messages, const std::map<std::string, std::string>& expected) {
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.testId);
  for (const auto& [id, user] : expected)
    if (ids.count(id) == 0) return false;
  return true;
}

LoopbackWorld::LoopbackWorld(std::string dynmxBinary, std::string dyndns2dBinary, std::string tag)
    : dir(tag), dynmxBinary_(std::move(dynmxBinary)), dyndns2dBinary_(std::move(dyndns2dBinary)) {}

LoopbackWorld::~LoopbackWorld() {
  if (daemon) daemon->stop(std::chrono::seconds(20));
  if (provider) provider->stop();
  if (dovecot) dovecot->stop();
  if (named) named->stop();
}

Status<> LoopbackWorld::start() {
  ::chmod(dir.path().c_str(), 0755);  // fetchmail runs as nobody and must reach its home
  auto n = Named::start(dir);
  if (!n.ok()) return fail("named: " + n.error());
  named = std::move(*n);
  auto d = Dovecot::start(dir);
  if (!d.ok()) return fail("dovecot: " + d.error());
  dovecot = std::move(*d);
  if (auto s = dovecot->addUser("office", "isp-secret-E2E"); !s.ok()) return s;

  writeTextFile(dir.path() + "/accounts", std::string("office:ddns-secret-E2E:") + kWorldHost + "\n", 0600);
  providerPort = freePort();
  auto p = ServerProcess::start(
      {dyndns2dBinary_, "--port", std::to_string(providerPort), "--accounts", dir.path() + "/accounts", "--log",
       dir.path() + "/provider.log", "--public-ip", kWorldAddress, "--nsupdate-server",
       "127.0.0.1:" + std::to_string(named->port()), "--nsupdate-key", named->keyFile(), "--zone", named->zone(),
       "--nsupdate-sync", "--ttl", "1"},
      dir.path() + "/provider.out");
  if (!p.ok()) return fail("provider: " + p.error());
  provider = std::move(*p);
  if (auto s = provider->waitForPort(providerPort, 20s); !s.ok()) return s;

  writeTextFile(dir.path() + "/isp.password", "isp-secret-E2E\n", 0600);
  writeTextFile(dir.path() + "/ddns.password", "ddns-secret-E2E\n", 0600);
  ::mkdir((dir.path() + "/fm").c_str(), 0755);
  // Started as root, dynmx becomes [daemon] user (dynmx): like an admin, give it its files.
  giveToDaemonUser({dir.path() + "/isp.password", dir.path() + "/ddns.password", dir.path() + "/fm"});
  policyPath = dir.path() + "/dynmx.toml";
  goodPolicy = policyText();
  writeTextFile(policyPath, goodPolicy, 0644);
  return Ok{};
}

std::string LoopbackWorld::policyText() const {
  const std::string d = dir.path();
  const std::string src = "http://127.0.0.1:" + std::to_string(providerPort);
  return "# The demo/e2e office: example.com's mail, DDNS name office.example.test.\n"
         "[mail]\nmode = \"auto\"\ndomains = [\"example.com\"]\n"
         "[link]\ntype = \"dedicated\"\ninterface = \"lo\"\n"
         "[health]\nddns_failing_max = \"2s\"\nlink_down_max = \"2s\"\nhold_down = \"4s\"\n"
         "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = " + std::to_string(dovecot->pop3Port()) +
         "\ntls = \"none\"\nuser = \"office\"\npassword_file = \"" + d + "/isp.password\"\ntimeout = \"20s\"\n"
         "[envelope]\nheader = \"X-Original-To\"\nskip = 0\n"
         "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
         "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(sink.port()) + "\n"
         "[fetchmail]\nrc_path = \"" + d + "/fm/fetchmailrc\"\nhome = \"" + d + "/fm/home\"\nuser = \"nobody\"\n"
         "poll_interval = \"10s\"\n"
         "[ddns]\nenabled = true\ncheck_interval = \"2s\"\nrequest_timeout = \"10s\"\n"
         "[ddns.detect]\nipv4 = true\nweb_sources = [\"" + src + "/ip\"]\nagreement = \"first\"\ntimeout = \"5s\"\n"
         "[ddns.verify]\nservers = [\"127.0.0.1:" + std::to_string(named->port()) + "\"]\ninterval = \"1s\"\n"
         "timeout = \"2s\"\n"
         "[[ddns.account]]\nname = \"office\"\nprovider = \"custom\"\nurl = \"" + src + "/nic/update\"\n"
         "allow_insecure_http = true\nusername = \"office\"\npassword_file = \"" + d + "/ddns.password\"\n"
         "hosts = [\"" + kWorldHost + "\"]\n"
         "[daemon]\nstate_dir = \"" + d + "/state\"\ncontrol_socket = \"" + d + "/ctl.sock\"\nlog = \"stderr\"\n"
         "log_level = \"debug\"\n" + extraPolicy;
}

Status<> LoopbackWorld::startDaemon() {
  auto p = ServerProcess::start({dynmxBinary_, "run", "-c", policyPath},
                                dir.path() + "/dynmx." + std::to_string(++daemonStarts_) + ".log");
  if (!p.ok()) return fail("dynmx run: " + p.error());
  daemon = std::move(*p);
  if (!eventually([&] { return status().has_value(); }, 30s)) return fail("dynmx did not answer:\n" + daemon->log());
  return Ok{};
}

std::pair<int, std::string> LoopbackWorld::dynmx(std::vector<std::string> args) const {
  args.insert(args.begin(), dynmxBinary_);
  auto r = runProcess({.argv = args, .timeout = 60s});
  return {r.started ? r.exitCode : -1, r.out + r.err};
}

std::optional<std::pair<int, Json>> LoopbackWorld::status() const { return daemonStatus(dynmxBinary_, dir.path()); }

std::optional<std::pair<int, Json>> daemonStatus(const std::string& /*dynmxBinary*/, const std::string& dir) {
  // The control socket itself, asked exactly as `dynmx status --json` asks it (that command
  // has its own tests: StatusCli.*, SecretHygiene.*). Not the CLI here: an ASan-built
  // `dynmx` costs about 0.5 CPU-seconds to start, and the suites poll status ten times a
  // second; that was most of the CPU the fault suite and the world burned.
  auto reply = status::controlQuery(dir + "/ctl.sock", {"status", Json::object()}, 20s);
  if (!reply || reply->result != 0) return std::nullopt;
  auto report = status::reportFromJson(reply->arguments);
  if (!report || !report->daemon.running) return std::nullopt;
  return std::make_pair(static_cast<int>(report->health), status::toJson(*report));
}

std::pair<int, std::string> LoopbackWorld::statusText() const {
  return dynmx({"status", "--socket", dir.path() + "/ctl.sock", "--state", dir.path() + "/state/state.json"});
}

bool LoopbackWorld::waitForMode(const std::string& want, std::chrono::milliseconds bound) const {
  return eventually(
      [&] {
        auto s = status();
        return s && s->second["mode"]["current"] == want && !s->second["mode"]["switching"].get<bool>();
      },
      bound);
}

long LoopbackWorld::providerRequests() const { return providerRequestCount(providerPort); }

long providerRequestCount(int port) {
  auto r = runProcess({.argv = {"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/stats"}, .timeout = 10s});
  try {
    return Json::parse(r.out)["requests"].get<long>();
  } catch (const std::exception&) {
    return -1;
  }
}

Status<> LoopbackWorld::setRecord(const std::string& address) const {
  auto r = named->nsupdate(std::string("update delete ") + kWorldHost + " A\nupdate add " + kWorldHost + " 1 A " +
                           address + "\n");
  if (!r.succeeded()) return fail("nsupdate: " + r.err);
  return Ok{};
}

}  // namespace dynmx::testbed
