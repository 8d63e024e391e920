#pragma once
// The world's own network: a fresh network + mount namespace, one veth interface per actor,
// documentation addresses that can move between actors, and a private /etc/resolv.conf.
#include <string>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::world {

/// unshare(CLONE_NEWNET | CLONE_NEWNS), make / private (so nothing mounted here leaks out),
/// bring `lo` up. Must run before any thread exists (unshare(CLONE_NEWNS) refuses threads);
/// if one does anyway, re-executes the program (`argv`) under unshare(1).
Status<> enterFreshNamespace(char** argv);

/// True when this process is alone in its network namespace (no interface but lo and ours):
/// the world refuses to touch interfaces anywhere else.
bool insideOwnNamespace();

/// Run `ip ARGS...` (no shell, bounded); its stderr in the failure.
Status<> ip(const std::vector<std::string>& args);

/// A veth pair `name` + `name`p, both ends up: one actor's interface.
Status<> addActorInterface(const std::string& name);

/// Delete an actor's veth pair (its addresses go with it).
Status<> removeActorInterface(const std::string& name);

/// Add / remove an IPv4 /32 on an interface.
Status<> addAddress(const std::string& interface, const std::string& address);
Status<> removeAddress(const std::string& interface, const std::string& address);

/// Set an interface administratively up or down.
Status<> setLinkUp(const std::string& interface, bool up);

/// Bind-mount `file` over /etc/resolv.conf (inside our private mount namespace only).
Status<> useResolvConf(const std::string& file);
/// Undo useResolvConf.
void releaseResolvConf();

}  // namespace dynmx::world
