// Named: TSIG key, named.conf, zone file, start/stop by PID, nsupdate and dig wrappers.
#include "testbed/named.hpp"

#include "testbed/ports.hpp"

namespace dynmx::testbed {
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Result<std::unique_ptr<Named>> Named::start(const TempDir& dir, NamedOptions options, std::chrono::milliseconds timeout) {
  std::unique_ptr<Named> n(new Named());
  n->options_ = std::move(options);
  const NamedOptions& o = n->options_;
  try {
    n->root_ = dir.subdir("named");
    n->port_ = o.port != 0 ? o.port : freePort();
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }
  n->keyFile_ = n->root_ + "/tsig.key";

  ProcessSpec keygen;
  keygen.argv = {"tsig-keygen", "-a", o.algorithm, o.keyName};
  keygen.timeout = std::chrono::seconds(20);
  auto key = runProcess(keygen);
  if (!key.succeeded()) return fail("tsig-keygen failed: " + key.error + key.err);
  // key "NAME" { algorithm hmac-sha256; secret "BASE64"; };
  auto s = key.out.find("secret \"");
  if (s == std::string::npos) return fail(std::string("tsig-keygen: no secret in its output"));
  s += 8;
  n->keySecret_ = key.out.substr(s, key.out.find('"', s) - s);

  const std::string zoneFile = n->root_ + "/" + o.zone + ".zone";
  const std::string ttl = std::to_string(o.defaultTtl);
  auto zoneText = [&](const std::string& name, const std::string& records) {
    return "$TTL " + ttl + "\n@ IN SOA ns1." + name + ". hostmaster." + name + ". 1 3600 600 86400 " + ttl + "\n" +
           "@ IN NS ns1." + name + ".\nns1 IN A 192.0.2.53\n" + records + "\n";
  };
  const std::string zone = zoneText(o.zone, o.extraRecords);
  // controls {}: no control channel, so named neither reads /etc/bind/rndc.key nor takes :953.
  std::string conf = "options {\n  directory \"" + n->root_ + "\";\n  pid-file \"" + n->root_ +
                     "/named.pid\";\n  session-keyfile \"" + n->root_ + "/session.key\";\n" +
                     "  managed-keys-directory \"" + n->root_ + "\";\n  listen-on port " +
                     std::to_string(n->port_) + " { " + o.address + "; };\n  listen-on-v6 { none; };\n" +
                     "  recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-transfer { none; };\n};\n" +
                     "controls { };\n" + "include \"" + n->keyFile_ + "\";\n" + "zone \"" + o.zone +
                     "\" {\n  type primary;\n  file \"" + zoneFile + "\";\n  update-policy { grant " + o.keyName +
                     " zonesub " + o.updateTypes + "; };\n};\n";
  for (const auto& [name, records] : o.staticZones) {
    const auto extra = o.staticZoneStatements.find(name);
    conf += "zone \"" + name + "\" {\n  type primary;\n  file \"" + n->root_ + "/" + name + ".zone\";\n" +
            (extra == o.staticZoneStatements.end() ? std::string() : "  " + extra->second + "\n") + "};\n";
  }
  conf += o.extraConf;
  try {
    writeTextFile(n->keyFile_, key.out, 0600);
    writeTextFile(zoneFile, zone, 0644);
    for (const auto& [name, records] : o.staticZones)
      writeTextFile(n->root_ + "/" + name + ".zone", zoneText(name, records), 0644);
    writeTextFile(n->root_ + "/named.conf", conf, 0644);
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }

  auto proc = ServerProcess::start({"named", "-g", "-4", "-n", "1", "-c", n->root_ + "/named.conf"},
                                   n->root_ + "/named.log");
  if (!proc.ok()) return fail(proc.error());
  n->process_ = std::move(*proc);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // waitForPort knows 127.0.0.1 only; elsewhere the SOA query below is the readiness test.
  if (o.address == "127.0.0.1") {
    auto up = n->process_->waitForPort(n->port_, timeout);
    if (!up.ok()) return fail(up.error());
  }
  // Listening is not loaded: ask for the SOA until it answers (dig itself bounds each try).
  for (;;) {
    auto soa = n->dig(o.zone, "SOA");
    if (soa.ok() && !soa->empty()) break;
    if (!n->process_->running() || std::chrono::steady_clock::now() >= deadline)
      return fail("named did not serve " + o.zone + "; log:\n" + n->process_->log());
  }
  return n;
}

Named::~Named() { stop(); }

StopOutcome Named::stop() {
  if (!process_) return {};
  return process_->stop();
}

ProcessResult Named::nsupdate(const std::string& commands, bool signedUpdate) const {
  ProcessSpec spec;
  spec.argv = {"nsupdate"};
  if (signedUpdate) {
    spec.argv.push_back("-k");
    spec.argv.push_back(keyFile_);
  }
  spec.argv.push_back("-t");
  spec.argv.push_back("5");
  spec.argv.push_back("-");
  spec.timeout = std::chrono::seconds(30);
  // runProcess has no stdin: write the script to a file and pass it as the argument instead.
  const std::string script = root_ + "/nsupdate.txt";
  writeTextFile(script, "server " + options_.address + " " + std::to_string(port_) + "\nzone " + options_.zone + "\n" + commands +
                            (commands.empty() || commands.back() == '\n' ? "" : "\n") + "send\n",
                0600);
  spec.argv.back() = script;
  return runProcess(spec);
}

Result<std::string> Named::dig(const std::string& name, const std::string& type) const {
  ProcessSpec spec;
  spec.argv = {"dig", "@" + options_.address, "-p", std::to_string(port_), name, type, "+short", "+tries=1", "+time=1"};
  spec.timeout = std::chrono::seconds(10);
  auto r = runProcess(spec);
  if (!r.succeeded()) return fail("dig failed (exit " + std::to_string(r.exitCode) + "): " + r.error + r.out + r.err);
  return trimmed(r.out);
}

}  // namespace dynmx::testbed
