// Unbound: config, start, readiness by a real query through it.
#include "unbound.hpp"

#include <unistd.h>

#include "dynmx/process.hpp"

namespace dynmx::world {

Result<std::unique_ptr<Unbound>> Unbound::start(const testbed::TempDir& dir, const std::string& address,
                                                const std::string& authority,
                                                const std::vector<std::string>& stubZones,
                                                std::chrono::milliseconds timeout) {
  std::unique_ptr<Unbound> u(new Unbound());
  u->address_ = address;
  std::string root;
  try {
    root = dir.subdir("unbound");
    std::string conf;
    conf += "server:\n";
    conf += "  interface: " + address + "\n  port: 53\n  do-ip6: no\n";
    conf += "  access-control: 0.0.0.0/0 allow\n";
    conf += "  username: \"\"\n  chroot: \"\"\n  directory: \"" + root + "\"\n";
    conf += "  pidfile: \"" + root + "/unbound.pid\"\n";
    conf += "  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n";
    // No DNSSEC in the world: it would try to validate the test zones.
    conf += "  module-config: \"iterator\"\n";
    conf += "  num-threads: 1\n";
    for (const auto& z : stubZones)
      conf += "stub-zone:\n  name: \"" + z + "\"\n  stub-addr: " + authority + "@53\n";
    conf += "remote-control:\n  control-enable: no\n";
    testbed::writeTextFile(root + "/unbound.conf", conf, 0644);
  } catch (const std::exception& e) {
    return fail(std::string(e.what()));
  }
  auto proc = testbed::ServerProcess::start({"unbound", "-d", "-c", root + "/unbound.conf"}, root + "/unbound.log");
  if (!proc.ok()) return fail(proc.error());
  u->process_ = std::move(*proc);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto soa = u->lookup(stubZones.empty() ? "." : stubZones.front(), "SOA");
    if (soa.ok() && !soa->empty()) break;
    if (!u->process_->running() || std::chrono::steady_clock::now() >= deadline)
      return fail("unbound did not answer; log:\n" + u->process_->log());
    ::usleep(100 * 1000);
  }
  return u;
}

Unbound::~Unbound() { stop(); }

testbed::StopOutcome Unbound::stop() {
  if (!process_) return {};
  auto o = process_->stop();
  process_.reset();
  return o;
}

Result<std::string> Unbound::lookup(const std::string& name, const std::string& type) const {
  auto r = runProcess({.argv = {"dig", "@" + address_, name, type, "+short", "+tries=1", "+time=1"},
                       .timeout = std::chrono::seconds(10)});
  if (!r.succeeded()) return fail("dig failed: " + r.error + r.out + r.err);
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace dynmx::world
