// Namespaces and interfaces for the senders' world: unshare(2), mount(2) and `ip`.
#include "netns.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "dynmx/process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::world {

Status<> ip(const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.argv = {"ip"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = std::chrono::seconds(10);
  auto r = runProcess(spec);
  if (!r.succeeded()) {
    std::string cmd;
    for (const auto& a : spec.argv) cmd += a + " ";
    return fail(cmd + "failed: " + r.error + r.err);
  }
  return Ok{};
}

Status<> enterFreshNamespace(char** argv) {
  if (std::getenv("DYNMX_WORLD_UNSHARED") != nullptr) return ip({"link", "set", "lo", "up"});
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    if (errno == EINVAL && argv != nullptr) {
      // A runtime that already started a thread (a sanitizer, say) makes CLONE_NEWNS fail:
      // start over inside unshare(1), which does the same before our first instruction.
      ::setenv("DYNMX_WORLD_UNSHARED", "1", 1);
      std::vector<std::string> words = {"unshare", "-n", "-m", "--propagation", "private", "/proc/self/exe"};
      for (char** a = argv + 1; *a != nullptr; ++a) words.emplace_back(*a);
      std::vector<char*> args;
      for (auto& w : words) args.push_back(w.data());
      args.push_back(nullptr);
      ::execv("/usr/bin/unshare", args.data());
      return fail(std::string("exec unshare(1): ") + std::strerror(errno));
    }
    return fail(std::string("unshare(CLONE_NEWNET|CLONE_NEWNS): ") + std::strerror(errno) +
                " (the senders' world needs root: it builds its own network namespace)");
  }
  // Without this, the bind mount over /etc/resolv.conf would propagate to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return fail(std::string("mount --make-rprivate /: ") + std::strerror(errno));
  return ip({"link", "set", "lo", "up"});
}

bool insideOwnNamespace() {
  // A fresh namespace starts with lo only; the world's interfaces all end in 0 or 0p.
  // /proc/self/net/dev lists our namespace's devices (/sys/class/net shows sysfs's).
  std::istringstream dev(testbed::slurp("/proc/self/net/dev"));
  std::string line;
  int devices = 0;
  while (std::getline(dev, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    ++devices;
    if (name == "lo") continue;
    if (name.size() < 2 || (name.back() != '0' && name.substr(name.size() - 2) != "0p")) return false;
  }
  return devices > 0;
}

Status<> addActorInterface(const std::string& name) {
  if (!insideOwnNamespace()) return fail(std::string("refusing to add interfaces outside the world's own namespace"));
  if (auto s = ip({"link", "add", name, "type", "veth", "peer", "name", name + "p"}); !s.ok()) return s;
  if (auto s = ip({"link", "set", name + "p", "up"}); !s.ok()) return s;
  return ip({"link", "set", name, "up"});
}

Status<> removeActorInterface(const std::string& name) { return ip({"link", "del", name}); }

Status<> addAddress(const std::string& interface, const std::string& address) {
  return ip({"addr", "add", address + "/32", "dev", interface});
}

Status<> removeAddress(const std::string& interface, const std::string& address) {
  return ip({"addr", "del", address + "/32", "dev", interface});
}

Status<> setLinkUp(const std::string& interface, bool up) {
  return ip({"link", "set", interface, up ? "up" : "down"});
}

Status<> useResolvConf(const std::string& file) {
  if (::mount(file.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0)
    return fail("bind-mount " + file + " over /etc/resolv.conf: " + std::strerror(errno));
  return Ok{};
}

}  // namespace dynmx::world

namespace dynmx::world {

void releaseResolvConf() { ::umount2("/etc/resolv.conf", MNT_DETACH); }

}  // namespace dynmx::world
