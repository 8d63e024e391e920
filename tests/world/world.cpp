// The senders' world: build, events, the message stream and the final count.
#include "world.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "dynmx/process.hpp"
#include "netns.hpp"
#include "smtp_client.hpp"
#include "testbed/loopback_world.hpp"
#include "testbed/ports.hpp"

namespace dynmx::world {

using namespace std::chrono_literals;
using testbed::writeTextFile;
using Json = nlohmann::json;

namespace {

// One interface per actor, so an address can move from one to another.
constexpr const char* kOfficeIf = "office0";
constexpr const char* kStrangerIf = "strngr0";
constexpr const char* kHijackerIf = "hijack0";
constexpr const char* kIspIf = "isp0";
constexpr const char* kAuthorityIf = "bind0";
constexpr const char* kResolverIf = "unbnd0";
constexpr const char* kSenderIf = "sender0";

std::string localPart(const std::string& address) {
  std::string l = address.substr(0, address.find('@'));
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return l;
}

/// The stream's four shapes, in turn: plain, To+Cc, a Bcc recipient, list mail whose
/// envelope names our users while the header names only the list.
Submission streamMessage(const std::string& id, int n, std::vector<std::string>* recipients) {
  std::string from = "alice@example.org", headers;
  switch (n % 4) {
    case 0:
      *recipients = {"alice"};
      headers = "To: alice@example.com\r\n";
      break;
    case 1:
      *recipients = {"bob", "carol"};
      headers = "To: bob@example.com\r\nCc: carol@example.com\r\n";
      break;
    case 2:
      *recipients = {"alice", "bob"};  // bob is Bcc: only the envelope names him
      headers = "To: alice@example.com\r\n";
      break;
    default:
      *recipients = {"alice", "carol"};
      from = "staff-bounces@lists.example.org";
      headers = "To: staff@lists.example.org\r\nList-Id: <staff.lists.example.org>\r\n";
      break;
  }
  Submission s;
  s.mailFrom = from;
  for (const auto& r : *recipients) s.recipients.push_back(r + "@" + kMailDomain);
  s.data = "From: " + from + "\r\n" + headers + "Subject: world message " + id + "\r\nMessage-ID: <" + id +
           "@sender.example.org>\r\nX-Test-Id: " + id + "\r\n\r\nmessage " + id + "\r\n";
  return s;
}

}  // namespace

std::map<std::string, int> mayBeSentTwice(const std::string& maillog) {
  std::map<std::string, std::string> idOfQueue;
  std::map<std::string, int> warnings;
  std::vector<std::string> warnedQueues;
  std::istringstream lines(maillog);
  for (std::string line; std::getline(lines, line);) {
    // "... world-sender/cleanup[123]: 7AACAA78046: message-id=<m0003@sender.example.org>"
    // "... world-sender/smtp[456]: 7AACAA78046: conversation with ... timed out while
    //  sending end of data -- message may be sent more than once"
    const auto colon = line.find("]: ");
    if (colon == std::string::npos) continue;
    const auto queueEnd = line.find(": ", colon + 3);
    if (queueEnd == std::string::npos) continue;
    const std::string queue = line.substr(colon + 3, queueEnd - colon - 3);
    const std::string rest = line.substr(queueEnd + 2);
    if (rest.rfind("message-id=<", 0) == 0) {
      const auto at = rest.find('@');
      if (at != std::string::npos) idOfQueue[queue] = rest.substr(12, at - 12);
    } else if (rest.find("while sending end of data -- message may be sent more than once") != std::string::npos) {
      warnedQueues.push_back(queue);
    }
  }
  for (const auto& q : warnedQueues)
    if (idOfQueue.count(q)) ++warnings[idOfQueue.at(q)];
  return warnings;
}

Json Account::toJson() const {
  Json j = {{"messages", messages}, {"copies", copies},     {"direct", direct},       {"via_isp", viaIsp},
            {"misdirected", misdirected}, {"misdirected_messages", misdirectedMessages},
            {"at_isp", atIsp},     {"fetching", fetching}, {"lost", lost},         {"duplicates", duplicates},
            {"smtp_duplicates", smtpDuplicates}, {"problems", problems}, {"notes", notes}};
  j["exposure_first"] = exposureFirst ? Json(*exposureFirst) : Json(nullptr);
  j["exposure_last"] = exposureLast ? Json(*exposureLast) : Json(nullptr);
  j["exposure_seconds"] = exposureSeconds();
  return j;
}

World::World(std::string dynmxBinary, std::string dyndns2dBinary, std::string tag)
    : dir_(tag), dynmxBinary_(std::move(dynmxBinary)), dyndns2dBinary_(std::move(dyndns2dBinary)) {}

World::~World() {
  stopStream();
  if (daemon_) daemon_->stop(20s);
  if (provider_) provider_->stop();
  senderMta_.reset();
  ispMta_.reset();
  unbound_.reset();
  if (restartedDovecot_) restartedDovecot_->stop();
  if (dovecot_) dovecot_->stop();
  if (restartedNamed_) restartedNamed_->stop();
  if (named_) named_->stop();
  // Several worlds may be built one after another in one namespace (the binary run
  // without a filter): leave nothing behind.
  localMta_.reset();
  hijacker_.reset();
  officeListeners_.clear();
  strangers_.clear();
  if (resolvConfMounted_) releaseResolvConf();
  for (const auto& interface : interfaces_) (void)removeActorInterface(interface);
}

Status<> World::start(const DaemonSetup& setup) {
  setup_ = setup;
  ::chmod(dir_.path().c_str(), 0755);  // fetchmail runs as nobody, dynmx as its own user
  // The network: one veth per actor, each with its documentation address.
  const std::vector<std::pair<const char*, const char*>> actors = {
      {kOfficeIf, kOfficeAddress},        {kStrangerIf, nullptr},       {kHijackerIf, kHijackAddress},
      {kIspIf, kIspMxAddress},            {kAuthorityIf, kAuthorityAddress}, {kResolverIf, kResolverAddress},
      {kSenderIf, kSenderAddress}};
  for (const auto& [interface, address] : actors) {
    if (auto s = addActorInterface(interface); !s.ok()) return s;
    interfaces_.push_back(interface);
    if (address != nullptr)
      if (auto s = addAddress(interface, address); !s.ok()) return s;
  }
  officeAddress_ = lastOfficeAddress_ = kOfficeAddress;
  // Every program here (Postfix above all) resolves through the world's unbound.
  writeTextFile(dir_.file("resolv.conf"), std::string("nameserver ") + kResolverAddress +
                                              "\noptions timeout:1 attempts:2\n");
  if (auto s = useResolvConf(dir_.file("resolv.conf")); !s.ok()) return s;
  resolvConfMounted_ = true;

  // Authoritative DNS: the DDNS zone (updatable) and the mail domain and the ISP (static).
  const std::string ttl = std::to_string(kRecordTtlSeconds);
  testbed::NamedOptions zones;
  zones.zone = kDdnsZone;
  zones.address = kAuthorityAddress;
  zones.port = 53;
  zones.defaultTtl = kRecordTtlSeconds;
  // With an rfc2136 account dynmx publishes the record itself: its first UPDATE requires that
  // no A RRset exists (it never overwrites a record it did not write).
  if (!setup.rfc2136) zones.extraRecords = "office " + ttl + " IN A " + kOfficeAddress + "\n";
  zones.staticZones = {
      {kMailDomain, "@ " + ttl + " IN MX 10 " + kOfficeHost + ".\n@ " + ttl + " IN MX 20 mx.isp.example.\n"},
      {"isp.example", "mx " + ttl + " IN A " + kIspMxAddress + "\n"}};
  if (setup.mxSteering) {
    // dynmx's own key for the mail domain's MX (not the provider's): BIND includes a copy,
    // dynmx reads its own (0600, owned by the daemon user).
    auto key = runProcess({.argv = {"tsig-keygen", "-a", "hmac-sha256", "dynmx-mx"}, .timeout = 20s});
    if (!key.succeeded()) return fail("tsig-keygen: " + key.error + key.err);
    writeTextFile(dir_.file("mx-named.key"), key.out, 0600);
    writeTextFile(dir_.file("mx.key"), key.out, 0600);
    testbed::giveToDaemonUser({dir_.file("mx.key")});
    zones.extraConf = "include \"" + dir_.file("mx-named.key") + "\";\n";
    zones.staticZoneStatements[kMailDomain] = "update-policy { grant dynmx-mx name " + std::string(kMailDomain) +
                                              " MX; };";
  }
  auto named = testbed::Named::start(dir_, zones);
  if (!named.ok()) return fail("named: " + named.error());
  named_ = std::move(*named);
  auto unbound = Unbound::start(dir_, kResolverAddress, kAuthorityAddress, {kMailDomain, kDdnsZone, "isp.example"});
  if (!unbound.ok()) return fail("unbound: " + unbound.error());
  unbound_ = std::move(*unbound);

  // The ISP: dovecot holds the domain box; its Postfix stores one copy per recipient in it.
  auto dovecot = testbed::Dovecot::start(dir_);
  if (!dovecot.ok()) return fail("dovecot: " + dovecot.error());
  dovecot_ = std::move(*dovecot);
  if (auto s = dovecot_->addUser("office", "isp-secret-W"); !s.ok()) return s;
  const std::string homes = std::filesystem::path(dovecot_->maildir("office")).parent_path().parent_path().string();
  writeTextFile(dir_.file("isp-mailboxes"), "/@example\\.com$/ office/Maildir/\n");
  PostfixOptions ispOptions{"isp", "mx.isp.example", kIspMxAddress,
                     "virtual_mailbox_domains = example.com\n"
                     "virtual_mailbox_base = " + homes + "\n"
                     "virtual_mailbox_maps = regexp:" + dir_.file("isp-mailboxes") + "\n"
                     "virtual_uid_maps = static:65534\nvirtual_gid_maps = static:65534\n"
                     // One delivery per recipient: each copy gets its own envelope header.
                     "virtual_destination_recipient_limit = 1\n"
                     "smtpd_recipient_restrictions = reject_unauth_destination\n"};
  // The senders: relay for the feeder only, deliver by MX.
  PostfixOptions senderOptions{"sender", "sender.example.org", kSenderAddress,
                               "smtpd_recipient_restrictions = permit_mynetworks, reject\n"};
  // Both instances at once: `postfix check` takes seconds each.
  auto pendingIsp = std::async(std::launch::async, [&] { return Postfix::start(dir_, ispOptions); });
  auto senderMta = Postfix::start(dir_, senderOptions);
  auto ispMta = pendingIsp.get();
  if (!ispMta.ok()) return fail("ISP postfix: " + ispMta.error());
  ispMta_ = std::move(*ispMta);
  if (!senderMta.ok()) return fail("sender postfix: " + senderMta.error());
  senderMta_ = std::move(*senderMta);

  // The dyndns2 provider pushes accepted updates into BIND.
  writeTextFile(dir_.file("accounts"),
                std::string("office:ddns-secret-W:") + kOfficeHost + (setup.donator ? ":donator" : "") + "\n", 0600);
  providerPort_ = testbed::freePort();
  auto provider = testbed::ServerProcess::start(
      {dyndns2dBinary_, "--port", std::to_string(providerPort_), "--accounts", dir_.file("accounts"), "--log",
       dir_.file("provider.log"), "--nsupdate-server", std::string(kAuthorityAddress) + ":53", "--nsupdate-key",
       named_->keyFile(), "--zone", kDdnsZone, "--nsupdate-sync", "--ttl", ttl},
      dir_.file("provider.out"));
  if (!provider.ok()) return fail("provider: " + provider.error());
  provider_ = std::move(*provider);
  if (auto s = provider_->waitForPort(providerPort_, 20s); !s.ok()) return s;

  // The office, the hijacker's server, the local MTA.
  try {
    localMta_ = std::make_unique<testbed::MailSink>();
    hijacker_ = std::make_unique<testbed::MailSink>(kHijackAddress, 25);
  } catch (const std::exception& e) {
    return fail(std::string("sinks: ") + e.what());
  }
  if (auto s = officeListenOn(kOfficeAddress); !s.ok()) return s;

  // dynmx.
  writeTextFile(dir_.file("isp.password"), "isp-secret-W\n", 0600);
  writeTextFile(dir_.file("ddns.password"), "ddns-secret-W\n", 0600);
  ::mkdir(dir_.file("fm").c_str(), 0755);
  testbed::giveToDaemonUser({dir_.file("isp.password"), dir_.file("ddns.password"), dir_.file("fm")});
  if (setup.rfc2136) writeDdnsKey();
  writeTextFile(dir_.file("dynmx.toml"), policyText(setup), 0644);
  if (setup.beforeDaemon)
    if (auto s = setup.beforeDaemon(*this); !s.ok()) return s;
  if (auto s = startDaemon(); !s.ok()) return s;
  // Steady state: DDNS verified, and in auto the hold-down over (mail on direct).
  const bool steady = testbed::eventually(
      [&] {
        auto st = status();
        if (!st || (*st)["ddns_health"]["state"] != "healthy") return false;
        if (setup_.mode != "auto" || setup_.linkType != "dedicated") return true;
        return (*st)["mode"]["current"] == "direct" && !(*st)["mode"]["switching"].get<bool>();
      },
      60s);
  if (!steady) return fail("dynmx did not reach its steady state:\n" + logs());
  return Ok{};
}

std::string World::policyText(const DaemonSetup& setup) const {
  const std::string d = dir_.path();
  std::string verifyServers;
  for (const auto& server : setup.verifyServers) verifyServers += (verifyServers.empty() ? "\"" : ", \"") + server + "\"";
  if (verifyServers.empty()) verifyServers = std::string("\"") + kAuthorityAddress + ":53\"";
  // Scaled time (docs/world.md): decisions in seconds, fetchmail at its 10 s minimum.
  return "# The senders' world office: example.com, DDNS name " + std::string(kOfficeHost) + ".\n"
         "[mail]\nmode = \"" + setup.mode + "\"\ndomains = [\"example.com\"]\n"
         "[link]\ntype = \"" + setup.linkType + "\"\ninterface = \"" + kOfficeIf + "\"\n"
         "[health]\nddns_failing_max = \"2s\"\nlink_down_max = \"2s\"\nhold_down = \"8s\"\n"
         "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = " + std::to_string(dovecot_->pop3Port()) +
         "\ntls = \"none\"\nuser = \"office\"\npassword_file = \"" + d + "/isp.password\"\ntimeout = \"20s\"\n"
         "[envelope]\nheader = \"X-Original-To\"\nskip = 0\n"
         "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
         "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(localMta_->port()) + "\n"
         "[fetchmail]\nrc_path = \"" + d + "/fm/fetchmailrc\"\nhome = \"" + d + "/fm/home\"\nuser = \"nobody\"\n"
         "poll_interval = \"10s\"\n" + (setup.mode == "direct" ? "sweep_interval = \"0\"\n" : "sweep_interval = \"10s\"\n") +
         "[ddns]\nenabled = true\ncheck_interval = \"2s\"\nrequest_timeout = \"10s\"\n"
         "[ddns.detect]\nipv4 = true\ninterface = \"" + kOfficeIf + "\"\ntimeout = \"5s\"\n"
         "[ddns.verify]\nservers = [" + verifyServers + "]\ninterval = \"1s\"\ntimeout = \"2s\"\n"
         "[daemon]\nstate_dir = \"" + d + "/state\"\ncontrol_socket = \"" + d + "/ctl.sock\"\nlog = \"stderr\"\n"
         "log_level = \"debug\"\n"
         + ddnsAccount(setup) + "hosts = [\"" + kOfficeHost + "\"]\n" + setup.policyFragment + "\n" + mxTable(setup);
}

std::string World::ddnsAccount(const DaemonSetup& setup) const {
  if (setup.rfc2136)
    return std::string("[[ddns.account]]\nname = \"office\"\nprovider = \"rfc2136\"\nkey_file = \"") +
           ddnsKeyPath() + "\"\nzone = \"" + kDdnsZone + "\"\nserver = \"" + kAuthorityAddress +
           ":53\"\nttl = " + std::to_string(kRecordTtlSeconds) + "\n";
  return "[[ddns.account]]\nname = \"office\"\nprovider = \"custom\"\nurl = \"http://127.0.0.1:" +
         std::to_string(providerPort_) + "/nic/update\"\nallow_insecure_http = true\nusername = \"office\"\n"
         "password_file = \"" + dir_.path() + "/ddns.password\"\n";
}

std::string World::mxTable(const DaemonSetup& setup) const {
  if (!setup.mxSteering) return "";
  const std::string authority = std::string(kAuthorityAddress) + ":53";
  return std::string("[[mx]]\ndomain = \"") + kMailDomain + "\"\ndirect = [\"10 " + kOfficeHost +
         "\", \"20 mx.isp.example\"]\nmultidrop = [\"10 mx.isp.example\"]\nttl = \"" +
         std::to_string(kMxTtlSeconds) + "s\"\nlever = \"rfc2136\"\nzone = \"" + kMailDomain + "\"\nserver = \"" +
         authority + "\"\nkey_file = \"" + dir_.file("mx.key") + "\"\nverify_servers = [\"" + authority + "\"]\n";
}

Status<> World::startDaemon() {
  if (auto s = launchDaemon(false); !s.ok()) return s;
  if (!testbed::eventually([&] { return status().has_value(); }, 30s))
    return fail("dynmx did not answer:\n" + daemon_->log());
  return Ok{};
}

std::optional<Json> World::status() const {
  auto s = testbed::daemonStatus(dynmxBinary_, dir_.path());
  if (!s) return std::nullopt;
  return s->second;
}

std::optional<std::pair<int, Json>> World::statusWithExit() const {
  return testbed::daemonStatus(dynmxBinary_, dir_.path());
}

Status<> World::reloadPolicy(const std::string& text, bool accepted) {
  if (!daemon_) return fail(std::string("dynmx is not running"));
  auto reloads = [&] {
    const std::string log = daemon_->log();
    std::size_t n = 0;
    for (auto at = log.find("policy reloaded"); at != std::string::npos; at = log.find("policy reloaded", at + 1)) ++n;
    return n;
  };
  const std::size_t before = reloads();
  writeTextFile(policyPath(), text, 0644);
  ::kill(daemon_->pid(), SIGHUP);
  if (accepted && !testbed::eventually([&] { return reloads() > before; }, 30s))
    return fail("dynmx did not reload its policy:\n" + daemon_->log());
  return Ok{};
}

Status<> World::restartDaemonWith(const std::string& text) {
  stopDaemon();
  writeTextFile(policyPath(), text, 0644);
  return startDaemon();
}

void World::stopDaemon() {
  if (daemon_) daemon_->stop(20s);
}

bool World::daemonAnswers() const { return daemon_ && daemon_->running() && status().has_value(); }

std::string World::daemonLog() const {
  std::string out;
  for (int i = 1; i <= daemonStarts_; ++i) out += testbed::slurp(dir_.file("dynmx." + std::to_string(i) + ".log"));
  return out;
}

long World::providerRequests() const { return testbed::providerRequestCount(providerPort_); }

Result<std::string> World::dig(const std::string& name, const std::string& type) const {
  return named_->dig(name, type);
}

Status<> World::officeMtaDown() {
  if (officeAddress_.empty()) return fail(std::string("the office has no address (its link is down)"));
  releaseOfficeListener(officeAddress_);
  return Ok{};
}

Status<> World::officeMtaUp() {
  if (officeAddress_.empty()) return fail(std::string("the office has no address (its link is down)"));
  return officeListenOn(officeAddress_);
}

Status<> World::authorityDown() {
  if (restartedNamed_) {
    restartedNamed_->stop();
    restartedNamed_.reset();
  } else {
    named_->stop();
  }
  return Ok{};
}

Status<> World::authorityUp() {
  const std::string root = dir_.file("named");
  auto p = testbed::ServerProcess::start({"named", "-g", "-4", "-n", "1", "-c", root + "/named.conf"},
                                         root + "/restarted." + std::to_string(++namedRestarts_) + ".log");
  if (!p.ok()) return fail("named: " + p.error());
  restartedNamed_ = std::move(*p);
  // Listening is not loaded: ask for the zone's SOA until it answers (dig bounds each try).
  const bool answers = testbed::eventually([&] {
    auto soa = named_->dig(kDdnsZone, "SOA");
    return soa.ok() && !soa->empty();
  }, 20s);
  if (!answers) return fail("named did not answer after its restart:\n" + restartedNamed_->log());
  return Ok{};
}

Status<> World::ispDown() {
  if (auto s = ispMta_->reconfigure({"-e", "defer_transports = virtual"}); !s.ok()) return s;
  if (restartedDovecot_) {
    restartedDovecot_->stop();
    restartedDovecot_.reset();
  } else {
    dovecot_->stop();
  }
  return Ok{};
}

Status<> World::ispUp() {
  // dovecot again, from the config it wrote: same ports, users and maildirs.
  const std::string root = dir_.file("dovecot");
  auto p = testbed::ServerProcess::start({"dovecot", "-F", "-c", root + "/dovecot.conf"},
                                         root + "/restarted." + std::to_string(++dovecotRestarts_) + ".log");
  if (!p.ok()) return fail("dovecot: " + p.error());
  restartedDovecot_ = std::move(*p);
  if (auto s = restartedDovecot_->waitForPort(dovecot_->pop3Port(), 20s); !s.ok()) return s;
  if (auto s = ispMta_->reconfigure({"-X", "defer_transports"}); !s.ok()) return s;
  ispMta_->flush();
  return Ok{};
}

Status<> World::officeListenOn(const std::string& address) {
  if (officeListeners_.count(address) != 0) return Ok{};
  try {
    officeListeners_[address] = std::make_unique<testbed::MailSink>(address, 25);
  } catch (const std::exception& e) {
    return fail(std::string("office listener: ") + e.what());
  }
  return Ok{};
}

void World::releaseOfficeListener(const std::string& address) {
  auto it = officeListeners_.find(address);
  if (it == officeListeners_.end()) return;
  // What it received still counts as delivered; its port must be free for the next holder.
  it->second->stop();
  for (auto& m : it->second->messages()) retiredOffice_.push_back(std::move(m));
  officeListeners_.erase(it);
}

Status<> World::moveOffice(const std::string& address) {
  const std::string old = officeAddress_;
  releaseOfficeListener(old);
  if (!old.empty())
    if (auto s = removeAddress(kOfficeIf, old); !s.ok()) return s;
  if (auto s = addAddress(kOfficeIf, address); !s.ok()) return s;
  officeAddress_ = lastOfficeAddress_ = address;
  return officeListenOn(address);
}

Status<> World::linkDown() {
  if (auto s = setLinkUp(kOfficeIf, false); !s.ok()) return s;
  if (!officeAddress_.empty())
    if (auto s = removeAddress(kOfficeIf, officeAddress_); !s.ok()) return s;
  officeAddress_.clear();
  return Ok{};
}

Status<> World::linkUp(const std::string& address) {
  const std::string next = address.empty() ? lastOfficeAddress_ : address;
  if (next != lastOfficeAddress_) releaseOfficeListener(lastOfficeAddress_);
  if (auto s = addAddress(kOfficeIf, next); !s.ok()) return s;
  if (auto s = setLinkUp(kOfficeIf, true); !s.ok()) return s;
  officeAddress_ = lastOfficeAddress_ = next;
  return officeListenOn(next);
}

Status<> World::strangerTakes(const std::string& address) {
  if (address == officeAddress_) return fail("the office still holds " + address);
  releaseOfficeListener(address);
  if (auto s = addAddress(kStrangerIf, address); !s.ok()) return s;
  try {
    strangers_[address] = std::make_unique<testbed::MailSink>(address, 25);
  } catch (const std::exception& e) {
    return fail(std::string("stranger: ") + e.what());
  }
  return Ok{};
}

Status<> World::providerAnswers(const std::string& code) {
  const std::string query = code.empty() ? "mode=normal" : "mode=code&code=" + code;
  auto r = runProcess({.argv = {"curl", "-sf", "http://127.0.0.1:" + std::to_string(providerPort_) + "/control?" +
                                                  query},
                       .timeout = 10s});
  if (!r.succeeded()) return fail("provider control: " + r.error + r.err);
  return Ok{};
}

void World::writeDdnsKey(const std::string& name, const std::string& secret) const {
  const std::string path = ddnsKeyPath();
  ::unlink(path.c_str());
  writeTextFile(path,
                "key \"" + (name.empty() ? named_->keyName() : name) + "\" {\n\talgorithm " + named_->keyAlgorithm() +
                    ";\n\tsecret \"" + (secret.empty() ? named_->keySecret() : secret) + "\";\n};\n",
                0600);
  testbed::giveToDaemonUser({path});
}

Status<> World::deleteRecord() {
  auto r = named_->nsupdate(std::string("update delete ") + kOfficeHost + " A\n");
  if (!r.succeeded()) return fail("nsupdate: " + r.err);
  return Ok{};
}

std::pair<int, std::string> World::statusText() const {
  auto r = runProcess({.argv = {dynmxBinary_, "status", "--socket", dir_.file("ctl.sock"), "--state",
                                dir_.file("state/state.json")},
                       .timeout = 30s});
  return {r.exitCode, r.out + r.err};
}

Status<> World::setRecord(const std::string& address) {
  auto r = named_->nsupdate(std::string("update delete ") + kOfficeHost + " A\nupdate add " + kOfficeHost + " " +
                            std::to_string(kRecordTtlSeconds) + " A " + address + "\n");
  if (!r.succeeded()) return fail("nsupdate: " + r.err);
  return Ok{};
}

Status<> World::restartDaemon(int signal) {
  if (!daemon_) return fail(std::string("dynmx is not running"));
  ::kill(daemon_->pid(), signal);
  daemon_->stop(20s);
  return startDaemon();
}

void World::startStream(std::chrono::milliseconds interval) {
  streamStart_ = std::chrono::steady_clock::now();
  feeding_ = true;
  feeder_ = std::thread([this, interval] { feed(interval); });
}

void World::stopStream() {
  feeding_ = false;
  if (feeder_.joinable()) feeder_.join();
}

double World::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - streamStart_).count();
}

void World::feed(std::chrono::milliseconds interval) {
  auto next = streamStart_;
  for (int n = 0; feeding_; ++n) {
    char id[16];
    std::snprintf(id, sizeof id, "m%04d", n);
    Sent sent{id, elapsed(), {}};
    const Submission m = streamMessage(id, n, &sent.recipients);
    auto s = submitSmtp(kSenderAddress, 25, m, 10s);
    {
      std::lock_guard lock(sentMutex_);
      if (s.ok()) {
        sent_.push_back(std::move(sent));
      } else {
        feederErrors_.push_back(std::string(id) + ": " + s.error());
      }
    }
    next += interval;
    while (feeding_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(20ms);
  }
}

std::vector<std::string> World::feederErrors() const {
  std::lock_guard lock(sentMutex_);
  return feederErrors_;
}

Status<> World::drain(std::chrono::milliseconds bound) {
  stopStream();
  const auto deadline = std::chrono::steady_clock::now() + bound;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  // 1. The senders' queue: deferred mail is retried at once rather than after its back-off.
  for (int round = 0; !senderMta_->queueEmpty(); ++round) {
    if (left().count() <= 0) return fail("the senders' queue did not drain:\n" + senderMta_->queueListing());
    if (round % 10 == 0) senderMta_->flush();
    std::this_thread::sleep_for(300ms);
  }
  // 2. The ISP's queue (into the box).
  if (!testbed::eventually([&] { return ispMta_->queueEmpty(); }, std::max(left(), 1000ms)))
    return fail("the ISP's queue did not drain:\n" + ispMta_->queueListing());
  // 3. The final fetch: where dynmx fetches, wait for the box to empty. On multidrop
  //    fetchmail polls; on direct the sweep (fetchmail.sweep_interval, 10 s here) fetches
  //    what the backup MX took. What is still there at the bound counts as left at the ISP.
  if (setup_.mode != "direct") testbed::eventually([&] { return dovecot_->count("office") == 0; }, std::max(left(), 1000ms));
  return Ok{};
}

Account World::account(double from, double to) const {
  // How often each copy (id/localpart) reached each place.
  std::map<std::string, int> direct, viaIsp, misdirected, atIsp;
  auto countMessages = [](const std::vector<testbed::SinkMessage>& messages, std::map<std::string, int>& into) {
    for (const auto& m : messages)
      for (const auto& r : m.recipients) ++into[m.testId + "/" + localPart(r)];
  };
  auto countSink = [&](const testbed::MailSink& sink, std::map<std::string, int>& into) {
    countMessages(sink.messages(), into);
  };
  for (const auto& [address, sink] : officeListeners_) countSink(*sink, direct);
  countMessages(retiredOffice_, direct);
  countSink(*localMta_, viaIsp);
  for (const auto& [address, sink] : strangers_) countSink(*sink, misdirected);
  countSink(*hijacker_, misdirected);
  for (const char* sub : {"/new", "/cur"}) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dovecot_->maildir("office") + sub, ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string text = testbed::slurp(it->path().string());
      ++atIsp[testbed::headerValue(text, "X-Test-Id") + "/" + localPart(testbed::headerValue(text, "X-Original-To"))];
    }
  }

  Account a;
  std::lock_guard lock(sentMutex_);
  // Read the senders' log only when some copy arrived more than once (account() is polled).
  std::optional<std::map<std::string, int>> warned;
  auto smtpWarnings = [&](const std::string& id) {
    if (!warned) warned = senderMta_ ? mayBeSentTwice(senderMta_->maillog()) : std::map<std::string, int>{};
    return warned->count(id) ? warned->at(id) : 0;
  };
  for (const auto& s : sent_) {
    if (s.at < from || s.at >= to) continue;
    bool messageMisdirected = false;
    for (const auto& r : s.recipients) {
      ++a.copies;
      const std::string key = s.id + "/" + r;
      const int d = direct.count(key) ? direct.at(key) : 0;
      const int v = viaIsp.count(key) ? viaIsp.at(key) : 0;
      const int m = misdirected.count(key) ? misdirected.at(key) : 0;
      int i = atIsp.count(key) ? atIsp.at(key) : 0;
      // Delivered by fetchmail while its copy is still in the box: a poll between the
      // delivery and the delete, not a second copy (a box that never empties fails drain()).
      if (v > 0 && i > 0) {
        const int fetching = std::min(v, i);
        a.fetching += fetching;
        i -= fetching;
      }
      const int total = d + v + m + i;
      if (total == 0) {
        ++a.lost;
        a.problems.push_back("lost: " + key);
        continue;
      }
      if (total > 1) {
        const std::string where = " direct=" + std::to_string(d) + " via_isp=" + std::to_string(v) +
                                  " misdirected=" + std::to_string(m) + " at_isp=" + std::to_string(i);
        // SMTP's own duplicate, announced by the sender: the office had the message when its
        // link went, and the retry went elsewhere (never counted as misdirected: m is below).
        const int announced = d > 0 ? std::min(total - 1, smtpWarnings(s.id)) : 0;
        if (announced > 0) {
          a.smtpDuplicates += announced;
          a.notes.push_back("smtp-duplicate: " + key + where +
                            " (the senders' Postfix: \"message may be sent more than once\")");
        }
        if (total - 1 > announced) {
          a.duplicates += total - 1 - announced;
          a.problems.push_back("duplicated: " + key + where);
        }
      }
      if (d > 0) ++a.direct;
      else if (v > 0) ++a.viaIsp;
      else if (m > 0) ++a.misdirected;
      else ++a.atIsp;
      if (m > 0) messageMisdirected = true;
    }
    ++a.messages;
    if (messageMisdirected) {
      ++a.misdirectedMessages;
      if (!a.exposureFirst) a.exposureFirst = s.at;
      a.exposureLast = s.at;
    }
  }
  return a;
}

std::string World::logs() const {
  std::string out;
  for (int i = 1; i <= daemonStarts_; ++i)
    out += "----- dynmx." + std::to_string(i) + ".log -----\n" + testbed::slurp(dir_.file("dynmx." + std::to_string(i) + ".log"));
  out += "----- provider.log -----\n" + testbed::slurp(dir_.file("provider.log"));
  auto tail = [](const std::string& s) { return s.size() > 15000 ? s.substr(s.size() - 15000) : s; };
  if (senderMta_) out += "----- sender maillog (tail) -----\n" + tail(senderMta_->maillog());
  if (ispMta_) out += "----- ISP maillog (tail) -----\n" + tail(ispMta_->maillog());
  return out;
}


// --- provider faults (tests/world/provider_faults_test.cpp) ---

Status<> World::providerControl(const std::string& query) {
  auto r = runProcess({.argv = {"curl", "-sf", "--max-time", "10", providerUrl() + "/control?" + query}, .timeout = 15s});
  if (!r.succeeded()) return fail("provider control " + query + ": " + r.error + r.err);
  if (r.out.find("\"result\":0") == std::string::npos) return fail("provider control " + query + ": " + r.out);
  return Ok{};
}

std::string World::providerUrl() const { return "http://127.0.0.1:" + std::to_string(providerPort_); }

Result<std::unique_ptr<testbed::ServerProcess>> World::startProvider(int port, const std::string& tag,
                                                                     const std::vector<std::string>& extraArgs) {
  std::vector<std::string> argv = {dyndns2dBinary_, "--port", std::to_string(port), "--accounts", dir_.file("accounts"),
                                   "--log", dir_.file("provider-" + tag + ".log"), "--nsupdate-server",
                                   std::string(kAuthorityAddress) + ":53", "--nsupdate-key", named_->keyFile(),
                                   "--zone", kDdnsZone, "--nsupdate-sync", "--ttl",
                                   std::to_string(kRecordTtlSeconds)};
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  auto p = testbed::ServerProcess::start(argv, dir_.file("provider-" + tag + ".out"));
  if (!p.ok()) return fail("provider " + tag + ": " + p.error());
  if (auto s = (*p)->waitForPort(port, 20s); !s.ok()) return fail("provider " + tag + ": " + s.error());
  return std::move(*p);
}

// --- files and sigkill faults ---

Status<> World::launchDaemon(bool waitForAnswer) {
  if (waitForAnswer) return startDaemon();
  auto p = testbed::ServerProcess::start({dynmxBinary_, "run", "-c", dir_.file("dynmx.toml")},
                                         dir_.file("dynmx." + std::to_string(++daemonStarts_) + ".log"));
  if (!p.ok()) return fail("dynmx run: " + p.error());
  daemon_ = std::move(*p);
  return Ok{};
}

void World::killDaemon() {
  if (!daemon_) return;
  ::kill(daemon_->pid(), SIGKILL);
  daemon_->stop();
}

std::string World::lastDaemonLog() const { return daemon_ ? daemon_->log() : std::string(); }

}  // namespace dynmx::world
